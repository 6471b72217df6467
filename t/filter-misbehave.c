/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A filter that locks itself down with the kit, then tries what the
 * lock-down forbids (argv[1]: open, socket, execve, renice-parent: its
 * parent's priority, renice-group: its process group's), or only what it
 * allows (copy, then its own priority lowered), so the tests can see
 * which of these ends in SIGSYS.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qpf.h"

int main(int argc, char **argv)
{
	qpf_init(argv[0]);
	if (argc != 2)
		qpf_usage("filter-misbehave open|socket|execve|renice-parent|renice-group|copy");
	qpf_lockdown(NULL);
	if (!strcmp(argv[1], "open")) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd >= 0 ? 3 : 4;
	}
	if (!strcmp(argv[1], "socket")) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		return fd >= 0 ? 3 : 4;
	}
	if (!strcmp(argv[1], "execve")) {
		char *const args[] = { "true", NULL };
		execve("/bin/true", args, args + 1);
		return 4;
	}
	if (!strcmp(argv[1], "renice-parent"))
		return setpriority(PRIO_PROCESS, (id_t)getppid(), 19) == 0 ? 3 : 4;
	if (!strcmp(argv[1], "renice-group"))
		return setpriority(PRIO_PGRP, 0, 19) == 0 ? 3 : 4;
	struct qpf_copy c = QPF_COPY_INIT;
	if (qpf_copy(0, 1, &c) < 0)
		return 111;
	qpf_done(); /* its own priority: allowed */
	close(1);
	return 0;
}
