/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_UNIXSOCK_H
#define QP_UNIXSOCK_H

/*
 * Binds a listening UNIX stream socket at PATH (close-on-exec, mode
 * 0660: qrexec-agent connects as root or as the default user, group
 * qubes), replacing a stale socket nobody listens on but never another
 * file. Returns the fd, or -1 with the reason logged.
 */
int unixsock_bind(const char *path);

#endif
