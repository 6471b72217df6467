/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The attacks of t/hostile-filter by resources rather than access, for
 * t/check_resources: a filter taken over by its data tries to take the
 * proxy down, starve the other connections, or watch them.
 *
 *   hostile-filter mem-hog-many N MIB  fork N children (comm "hostile-hog")
 *                                      that each touch MIB MiB and wait
 *   hostile-filter mem-hog-one MIB     touch MIB MiB itself, 1 MiB at a time,
 *                                      and hold what it got
 *   hostile-filter fork-bomb           fork children (comm "hostile-bomb")
 *                                      until the kernel refuses: "allowed N
 *                                      processes" says how many it got
 *   hostile-filter inotify             inotify and fanotify watches on the
 *                                      filters' directory and /usr/bin (a
 *                                      BREACH if one is set)
 *   hostile-filter proc-views          the machine's views: /proc/net/unix,
 *                                      /proc/net/tcp, /proc/stat, /proc/loadavg,
 *                                      /proc/meminfo, /proc/vmstat, /sys/fs/cgroup,
 *                                      sysinfo(2) (a BREACH if one answers)
 *   hostile-filter log-flood LINES     LINES lines on stderr as fast as it can
 *   hostile-filter log-forge           lines that would forge a priority
 *                                      (<0>), one of 10,000 bytes made of
 *                                      "<0>" pieces, C1 controls raw and in
 *                                      UTF-8
 *
 * Each then copies stdin to stdout (the caller's data passes) holding what
 * it got, until EOF; what it forked dies with its connection.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "hostile.h"

/*
 * A forked child holds nothing of the pipeline: the connection ends when
 * its caller is done, whatever the children still hold of the machine.
 */
static void let_go_of_the_pipeline(void)
{
	for (int fd = 0; fd < 3; fd++)
		close(fd);
}

/* touches MIB MiB of fresh memory; how many it got */
static long touch_mib(long mib)
{
	long got = 0;
	for (; got < mib; got++) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			break;
		memset(p, 0x5a, 1 << 20);
	}
	return got;
}

static void mem_hog_many(long n, long mib)
{
	long forked = 0;
	for (; forked < n; forked++) {
		pid_t pid = fork();
		if (pid < 0) {
			blocked(true, "fork after %ld children: %s", forked, strerror(errno));
			break;
		}
		if (pid == 0) {
			prctl(PR_SET_NAME, "hostile-hog", 0, 0, 0);
			let_go_of_the_pipeline();
			touch_mib(mib);
			for (;;)
				pause();
		}
	}
	say("allowed", "%ld children forked, each touching %ld MiB", forked, mib);
}

static void mem_hog_one(long mib)
{
	long got = touch_mib(mib);
	if (got < mib)
		blocked(true, "memory past %ld MiB of the %ld asked for: %s", got, mib, strerror(errno));
	say("allowed", "holds %ld MiB", got);
}

static void fork_bomb(void)
{
	long forked = 0;
	/* its siblings in the pipeline start first: the count it gets is its connection's whole bound */
	sleep_ms(300);
	for (; forked < 1000000; forked++) {
		pid_t pid = fork();
		if (pid < 0) {
			blocked(true, "fork after %ld processes: %s", forked, strerror(errno));
			break;
		}
		if (pid == 0) {
			prctl(PR_SET_NAME, "hostile-bomb", 0, 0, 0);
			let_go_of_the_pipeline();
			for (;;)
				pause();
		}
	}
	say("allowed", "%ld processes forked", forked);
}

static void watch(void)
{
	static const char *const dirs[] = { "/usr/bin", "/usr/libexec/qrexec-proxy/filters", "/usr/local/libexec", "/" };
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0) {
		blocked(true, "inotify_init1: %s", strerror(errno));
	} else {
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			if (inotify_add_watch(fd, dirs[i], IN_OPEN | IN_ACCESS) >= 0)
				say("BREACH", "an inotify watch on %s: every program another connection starts there", dirs[i]);
			else
				blocked(true, "inotify_add_watch %s: %s", dirs[i], strerror(errno));
		}
		close(fd);
	}
#ifdef SYS_inotify_init
	long old = syscall(SYS_inotify_init);
	if (old >= 0) {
		say("BREACH", "inotify_init");
		close((int)old);
	} else {
		blocked(true, "inotify_init: %s", strerror(errno));
	}
#endif
	fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID | FAN_CLOEXEC, O_RDONLY);
	if (fd < 0) {
		blocked(true, "fanotify_init: %s", strerror(errno));
		return;
	}
	say("BREACH", "fanotify_init");
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN | FAN_ACCESS | FAN_EVENT_ON_CHILD, AT_FDCWD, dirs[i]) == 0)
			say("BREACH", "a fanotify mark on %s", dirs[i]);
		else
			blocked(true, "fanotify_mark %s: %s", dirs[i], strerror(errno));
	}
	close(fd);
}

static void proc_views(void)
{
	static const char *const files[] = { "/proc/net/unix", "/proc/net/tcp", "/proc/stat", "/proc/loadavg",
					     "/proc/meminfo", "/proc/vmstat", "/proc/pressure/cpu" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char buf[256];
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0)
			say("BREACH", "read %s, a view of the whole machine", files[i]);
		else
			blocked(true, "%s: %s", files[i], fd < 0 ? strerror(errno) : "empty");
	}
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *e;
	int entries = 0;
	while (d && (e = readdir(d)))
		entries += e->d_name[0] != '.';
	if (d)
		closedir(d);
	if (entries)
		say("BREACH", "/sys/fs/cgroup lists %d entries: every connection's cgroup, and what it uses", entries);
	else
		blocked(true, "/sys/fs/cgroup: %s", d ? "empty" : strerror(errno));
	struct sysinfo si;
	if (sysinfo(&si) == 0)
		say("BREACH", "sysinfo: the machine's load and its %u processes", (unsigned)si.procs);
	else
		blocked(true, "sysinfo: %s", strerror(errno));
}

static void log_flood(long lines)
{
	char line[200];
	for (long i = 0; i < lines; i++) {
		int n = snprintf(line, sizeof(line), "hostile: log-flood: line %ld of %ld, padding to make it longer\n",
				 i + 1, lines);
		if (write_all(2, line, (size_t)n) < 0)
			break;
	}
}

static void log_forge(void)
{
	static const char emergency[] = "<0>hostile: log-forge: emergency from a filter\n";
	write_all(2, emergency, sizeof(emergency) - 1);
	/* a line of 10,000 bytes, "<0>" every 32 bytes: wherever it is cut, a piece may start with it */
	static char longline[10001];
	for (size_t i = 0; i < 10000; i++)
		longline[i] = "<0>hostile-forged-piece-xxxxxxxx"[i % 32];
	longline[10000] = '\n';
	write_all(2, longline, sizeof(longline));
	static const char c1[] = "hostile: log-forge: c1-utf8:\xc2\x9b" "31m c1-raw:\x9b" "31m done-c1\n";
	write_all(2, c1, sizeof(c1) - 1);
}

int hostile_resources(const char *name, int nargs, char **args)
{
	if (!strcmp(name, "mem-hog-many") && nargs == 2)
		mem_hog_many(atol(args[0]), atol(args[1]));
	else if (!strcmp(name, "mem-hog-one") && nargs == 1)
		mem_hog_one(atol(args[0]));
	else if (!strcmp(name, "fork-bomb") && nargs == 0)
		fork_bomb();
	else if (!strcmp(name, "inotify") && nargs == 0)
		watch();
	else if (!strcmp(name, "proc-views") && nargs == 0)
		proc_views();
	else if (!strcmp(name, "log-flood") && nargs == 1)
		log_flood(atol(args[0]));
	else if (!strcmp(name, "log-forge") && nargs == 0)
		log_forge();
	else
		return -1;
	return 0;
}
