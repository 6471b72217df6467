/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The contract between qrexec-proxy and its filters, written once: the
 * orchestrator and the kit both include this header, and it is installed
 * with the kit (<qrexec-proxy/qpf-contract.h>). qrexec-proxy-filter(7)
 * says the same in words.
 */
#ifndef QPF_CONTRACT_H
#define QPF_CONTRACT_H

/* Exit codes: 0 ends the direction; anything else aborts the connection. */
#define QPC_EXIT_OK 0        /* this direction ended normally */
#define QPC_EXIT_REFUSED 1   /* the filter's verdict: refuse, abort the connection */
#define QPC_EXIT_USAGE 100   /* bad arguments or environment */
#define QPC_EXIT_SYSTEM 111  /* a system call failed */

/* The environment of every filter and admission check. */
#define QPC_ENV_SOURCE "QREXEC_REMOTE_DOMAIN"
#define QPC_ENV_CHAIN "QREXEC_PROXY_CHAIN"
#define QPC_ENV_TARGET "QREXEC_PROXY_TARGET"
#define QPC_ENV_SERVICE "QREXEC_PROXY_SERVICE"
#define QPC_ENV_DIRECTION "QREXEC_PROXY_DIRECTION"
#define QPC_ENV_CONNECTION "QREXEC_PROXY_CONNECTION"
/* QREXEC_PROXY_DIRECTION's values: the data's way, an admission check, or an argument check */
#define QPC_DIR_SRC2DST "src2dst"
#define QPC_DIR_DST2SRC "dst2src"
#define QPC_DIR_ADMIT "admit"
#define QPC_DIR_CHECK "check"

/*
 * A stderr line: the orchestrator logs at most QPC_LINE_MAX bytes as one
 * line and splits a longer one; the kit writes lines shorter than that.
 */
#define QPC_LINE_MAX 1024

/*
 * Started ahead: a program carrying the prestart note (an ELF note named
 * QPC_NOTE_NAME, of type QPC_NOTE_TYPE, whose descriptor is
 * QPC_NOTE_DESC) may be started before its connection exists, with only
 * QPC_ENV_PRESTART=1 in its environment. It then reads its environment
 * on fd 2 (a socket): a 32-bit length in host order, then NAME=VALUE
 * strings each ended by a NUL, QPC_ENV_HANDOFF_MAX bytes at most. At EOF
 * instead, no connection came: it exits 0.
 */
#define QPC_ENV_PRESTART "QREXEC_PROXY_PRESTART"
#define QPC_NOTE_NAME "qrexec-proxy"
#define QPC_NOTE_NAMESZ 13 /* sizeof(QPC_NOTE_NAME), written out for the assembler */
#define QPC_NOTE_TYPE 1
#define QPC_NOTE_DESC "prestart"
#define QPC_NOTE_DESCSZ 8 /* strlen(QPC_NOTE_DESC): the descriptor has no NUL */
#define QPC_ENV_HANDOFF_MAX (96 * 1024)

#define QPC_STR_(x) #x
#define QPC_STR(x) QPC_STR_(x)

#endif
