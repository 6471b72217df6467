/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_DESCRIPTOR_H
#define QP_DESCRIPTOR_H

#include <stddef.h>

#include "names.h"

/*
 * qrexec limits the whole service name (with its argument) to 65000 bytes;
 * the rest of a dom0 descriptor is three short names and three separators.
 */
#define QP_SERVICE_NAME_MAX NAME_ARGUMENT_MAX
#define QP_DESCRIPTOR_MAX (QP_SERVICE_NAME_MAX + 3 * 64 + 4)

/*
 * The service name the proxy's own calls come in under: its argument is
 * CHAIN+TARGET+SERVICE[+ARG]. Any other name is a transparent call
 * (transparent.h), routed by the configuration.
 */
#define QP_PROXY_SERVICE "qrexec-proxy"

enum descriptor_status {
	DESC_OK = 0,
	DESC_EOF = -1,       /* the caller closed before the NUL */
	DESC_TOO_LONG = -2,  /* no NUL within QP_DESCRIPTOR_MAX bytes */
	DESC_TIMEOUT = -3,   /* the NUL did not arrive in time */
	DESC_IO = -4,        /* a system call failed; errno says which */
};

/*
 * Reads a NUL-terminated descriptor from socket FD into BUF (CAP bytes),
 * consuming exactly up to and including the NUL and not one byte more: the
 * bytes after it are the caller's data and stay in the socket for the
 * pipeline. TIMEOUT_MS bounds the whole read. On DESC_OK, *LEN is the length
 * without the NUL and BUF is a C string.
 */
enum descriptor_status descriptor_read(int fd, char *buf, size_t cap, int timeout_ms, size_t *len);
const char *descriptor_strstatus(enum descriptor_status st);

/* A parsed "SERVICE+ARG SOURCE" or "SERVICE+ARG SOURCE TARGET_TYPE TARGET". */
struct qp_descriptor {
	char *service_name;  /* the name this service was installed under */
	char *argument;      /* what follows the first '+' */
	char *source;
	char *target_type;   /* dom0 form only, else NULL */
	char *self_target;   /* dom0 form only, else NULL */
};

/*
 * Splits DESC (modified in place) of length LEN. Returns 0, or -1 with *WHY
 * set to a static reason. Refuses anything qrexec itself would not let
 * through, so nothing is ever interpreted from a forged name.
 */
int descriptor_parse(char *desc, size_t len, struct qp_descriptor *d, const char **why);

/* The proxy's own argument: CHAIN+TARGET+DSTSERVICE[+ARG]. */
struct qp_call {
	char *chain;
	char *target;
	char *service;   /* DSTSERVICE[+ARG], as passed to the connector */
};

/* Splits ARG (modified in place). Returns 0, or -1 with *WHY set. */
int argument_parse(char *arg, struct qp_call *c, const char **why);

#endif
