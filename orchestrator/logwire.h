/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LOGWIRE_H
#define QP_LOGWIRE_H

/*
 * The log relay's format, between a supervisor (log.c sends) and the
 * listener (logrelay.c writes): one message is one datagram of
 * NUL-terminated strings, the fields of enum relay_field in their order,
 * then KEY=VALUE pairs. A datagram arrives whole or not at all, so
 * messages of concurrent supervisors never mix.
 */
/* the service's argument is the caller's, up to 65,000 bytes; the rest is ours and bounded */
#define RELAY_MAX (128 * 1024)
#define RELAY_MAX_KV 30

/* the strings before the KEY=VALUE pairs, in their order */
enum relay_field {
	RELAY_PRIORITY,
	RELAY_HAS_CONN, /* "1": the connection's fields follow; "0": none */
	RELAY_ID,
	RELAY_SOURCE,
	RELAY_TARGET,
	RELAY_SERVICE,
	RELAY_CHAIN,
	RELAY_MESSAGE,
	RELAY_NFIELDS,
};

#endif
