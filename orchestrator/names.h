/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_NAMES_H
#define QP_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The names qrexec lets through, in one place: qube names, service names,
 * chain names. dom0 rewrites every byte outside [A-Za-z0-9_.-] ('+' is
 * allowed inside an argument), so a name outside these rules never
 * arrives honestly: it is refused, never interpreted.
 */

/* qrexec: a service name (before '+') is at most 255 bytes, a qube name 31 */
#define NAME_SERVICE_MAX 255
#define NAME_QUBE_MAX 31
/* qrexec: the whole service name, with its argument, is at most 65000 bytes */
#define NAME_ARGUMENT_MAX 65000
/* a chain name, as the configuration allows it */
#define NAME_CHAIN_MAX 255

/* One of [A-Za-z0-9_.-]: what qrexec lets through in a name. */
bool name_char(char c);

/*
 * S is non-empty, at most MAX bytes, only [A-Za-z0-9_.-], and does not
 * start with '-' or '.': chains, services, targets.
 */
bool name_valid(const char *s, size_t max);

/* A qube name: a letter, then [A-Za-z0-9_.-], at most NAME_QUBE_MAX bytes. */
bool name_qube(const char *s);

/*
 * A service pattern of a chain's allowlist: SERVICE, SERVICE+ARG,
 * SERVICE+ (any argument) or PREFIX*.
 */
bool name_service_pattern(const char *s);

/*
 * An argument as dom0 passes it: only [A-Za-z0-9_.+-] (dom0 rewrites every
 * other byte to '_'), at most NAME_ARGUMENT_MAX bytes; empty is allowed.
 */
bool name_argument(const char *arg);

#endif
