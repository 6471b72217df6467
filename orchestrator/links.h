/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LINKS_H
#define QP_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

/*
 * Where qrexec-agent looks for SERVICE, in this order (after SERVICE+ARG
 * in each): /usr/local/etc/qubes-rpc persists in an AppVM and comes first,
 * so a link there takes a service name over from the template's own.
 */
#define QP_RPC_DIR_LOCAL "/usr/local/etc/qubes-rpc"
#define QP_RPC_DIR_SYSTEM "/etc/qubes-rpc"
/* replaces that list for check (directories separated by ':'), for tests */
#define QP_RPC_DIRS_ENV "QREXEC_PROXY_RPC_DIRS"

struct links_opts {
	const char *dir;     /* where the links go */
	const char *socket;  /* what they point at */
	bool check_only;     /* report, change nothing */
};

/*
 * Makes DIR/SERVICE a symbolic link to SOCKET for every service of CFG's
 * 'transparent' list, and removes the links to SOCKET in DIR whose name
 * the list no longer has (a link to SOCKET is the only thing this counts
 * as its own; the proxy's own service name is never removed). Touches
 * nothing else. Says what it did (or would do) on OUT, one line per
 * link; what it left alone on ERR. Returns the exit code: 0 when every
 * service is linked (check_only: and nothing would change), 1 when a file
 * that is not ours keeps a service from its link (check_only: or something
 * would change), 111 when a system call failed.
 */
int links_sync(const struct qp_config *cfg, const struct links_opts *o, FILE *out, FILE *err);

/*
 * check's warnings, as "FILE:LINE:COLUMN: warning: ..." on ERR: for each
 * transparent service, the file qrexec-agent would use (the first
 * DIR/SERVICE of DIRS, NULL-terminated) must be a link to SOCKET.
 * Returns how many warnings were written.
 */
size_t links_warnings(const struct qp_config *cfg, const char *const *dirs, const char *socket, FILE *err);

#endif
