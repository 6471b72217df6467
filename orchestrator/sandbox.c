/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox.h"

static const int denied[] = {
	SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
	SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
	SCMP_SYS(move_mount), SCMP_SYS(open_tree), SCMP_SYS(fsopen), SCMP_SYS(fsconfig),
	SCMP_SYS(fsmount), SCMP_SYS(fspick), SCMP_SYS(mount_setattr),
	SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module),
	SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load), SCMP_SYS(reboot),
	SCMP_SYS(unshare), SCMP_SYS(setns),
	SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),
	SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
	SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
	SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct), SCMP_SYS(quotactl),
	SCMP_SYS(settimeofday), SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime),
	SCMP_SYS(adjtimex), SCMP_SYS(sethostname), SCMP_SYS(setdomainname),
	SCMP_SYS(syslog), SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at),
	SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(lookup_dcookie), SCMP_SYS(vhangup),
	SCMP_SYS(personality), SCMP_SYS(kcmp), SCMP_SYS(pidfd_getfd),
	/* other processes are none of a filter's business (and reach past its sandbox without one) */
	SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal), SCMP_SYS(process_madvise),
	SCMP_SYS(process_mrelease), SCMP_SYS(migrate_pages), SCMP_SYS(move_pages),
	SCMP_SYS(get_robust_list), SCMP_SYS(set_mempolicy_home_node),
	/* no sockets at all: no network, no path or abstract UNIX sockets (the agent's, the proxy's) */
	SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
	/*
	 * Nothing that reports other processes' activity: a watch on the
	 * filter directory or /usr/bin sees every program another
	 * connection starts (which chain, and when); sysinfo(2) is the
	 * machine's load and process count, /proc/loadavg without /proc.
	 */
	SCMP_SYS(inotify_init), SCMP_SYS(inotify_init1), SCMP_SYS(inotify_add_watch),
	SCMP_SYS(fanotify_init), SCMP_SYS(fanotify_mark), SCMP_SYS(sysinfo),
};

/* calls that name a process: allowed for the caller itself (0) only */
static const int self_only[] = {
	SCMP_SYS(prlimit64), SCMP_SYS(sched_setaffinity), SCMP_SYS(sched_setscheduler),
	SCMP_SYS(sched_setparam), SCMP_SYS(sched_setattr),
};

static const unsigned long ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
	CLONE_NEWNET, CLONE_NEWCGROUP,
};

int sandbox_build(struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int fd = -1, rc = -1;
	void *bpf = NULL;

	if (!ctx) {
		errno = ENOMEM;
		return -1;
	}
	/* the supervisor sets no-new-privs itself, right before loading */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0)
		goto out;
	/*
	 * The kernel runs the program once per system call number when it is
	 * loaded (to cache allow-always results) and every filter loads it:
	 * a binary tree keeps that, and every system call, short.
	 */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		/* a syscall this architecture lacks resolves to a negative number */
		if (denied[i] < 0)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0) < 0)
			goto out;
	}
	/*
	 * No sockets: a filter talks through its pipes. (socketpair(AF_UNIX)
	 * stays: a pair connects to nothing but itself.)
	 */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 0) < 0)
		goto out;
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
			     SCMP_A0(SCMP_CMP_NE, AF_UNIX)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(self_only) / sizeof(self_only[0]); i++) {
		if (self_only[i] < 0)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), self_only[i], 1, SCMP_A0(SCMP_CMP_NE, 0)) < 0)
			goto out;
	}
	/* setpriority and ioprio_set: PRIO_PROCESS / IOPRIO_WHO_PROCESS with who 0 only */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setpriority), 1,
			     SCMP_A0(SCMP_CMP_NE, PRIO_PROCESS)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setpriority), 1, SCMP_A1(SCMP_CMP_NE, 0)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioprio_set), 1,
			     SCMP_A0(SCMP_CMP_NE, 1 /* IOPRIO_WHO_PROCESS */)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioprio_set), 1, SCMP_A1(SCMP_CMP_NE, 0)) < 0)
		goto out;
	/* kill(-1) signals every process the caller may signal: never */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, 0xffffffffU)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i])) < 0)
			goto out;
	}
	/* clone3 passes its flags in memory seccomp cannot see: make libc fall back to clone */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
		goto out;

	fd = memfd_create("qrexec-proxy-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		goto out;
	if (seccomp_export_bpf(ctx, fd) < 0) {
		errno = EINVAL;
		goto out;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0) {
		errno = EINVAL;
		goto out;
	}
	bpf = malloc((size_t)size);
	if (!bpf)
		goto out;
	if (pread(fd, bpf, (size_t)size, 0) != size) {
		errno = EIO;
		goto out;
	}
	prog->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
	prog->filter = bpf;
	bpf = NULL;
	rc = 0;
out:
	if (rc < 0) {
		int err = errno;
		free(bpf);
		if (fd >= 0)
			close(fd);
		seccomp_release(ctx);
		errno = err ? err : EINVAL;
		return -1;
	}
	close(fd);
	seccomp_release(ctx);
	return 0;
}
