/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SANDBOX_H
#define QP_SANDBOX_H

#include <linux/filter.h>

/*
 * The baseline seccomp program every filter and admission check runs
 * under: everything is allowed except what no byte-moving program needs
 * and what would let it reach beyond its pipes (ptrace, mount, modules,
 * kexec, any socket, namespaces, bpf, perf, keyrings, io_uring, clock and
 * reboot calls, other processes' limits and priorities, kill(-1)), which
 * fail with EPERM (EAFNOSUPPORT for socket) rather than kill, so
 * third-party programs can degrade gracefully. Other architectures'
 * system call tables are killed.
 *
 * Built once with libseccomp and kept as plain BPF; a connection's
 * sandbox init loads it once (one prctl()), and its programs inherit it.
 */
int sandbox_build(struct sock_fprog *prog);

#endif
