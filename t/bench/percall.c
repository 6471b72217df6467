/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the proxy adds to one call, in milliseconds and in process starts
 * measured in the same run (issue 27). A call's set-up is process starts
 * and its end process exits, so on a machine where starting a process is
 * slow (a Xen VM, as Qubes runs them; a loaded day) every figure in
 * milliseconds grows with it: only the ratio to one process start, taken
 * round by round, says whether the proxy adds more than it should.
 *
 * Each round: one process start (/bin/true, spawn and wait, median of
 * 300); then calls 5 ms apart, each through the connector called
 * directly and through a 3-step chain (pass3, the spare supervisor ready
 * with its filters started ahead), a block of each; calls 100 ms apart,
 * directly and through pass3 in turn (the added time is the median of
 * the pairs' differences: on a shared machine the load of the moment
 * hits both of a pair), and the same without the spare (a second
 * daemon, --no-spare); then back to back, where two cores are the limit
 * (reported, not a goal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

enum pace {
	PACE_5MS,
	PACE_100MS,
	PACE_100MS_NO_SPARE,
	PACE_BACK_TO_BACK,
	NPACES,
};

static const struct {
	const char *name;
	int gap_us;
	double goal;   /* at most this many process starts added; 0: reported only */
	const char *note;
} paces[NPACES] = {
	[PACE_5MS] = { "5 ms apart", 5000, 1.5, NULL },
	[PACE_100MS] = { "100 ms apart", 100000, 1.0, NULL },
	[PACE_100MS_NO_SPARE] = { "100 ms apart, --no-spare", 100000, 0, "reported" },
	[PACE_BACK_TO_BACK] = { "back to back", 0, 0, "reported: CPU-bound" },
};

/* the median of N calls through SOCK (NULL: the connector directly), GAP_US apart, in ms */
static double calls_ms(const char *sock, int n, int gap_us, double *v)
{
	for (int k = 0; k < n; k++) {
		v[k] = whole_call(sock, sock ? "pass3" : NULL);
		if (gap_us)
			usleep((useconds_t)gap_us);
	}
	return median(v, n) * 1000;
}

void bench_percall(void)
{
	char sock[320], log[320];
	snprintf(sock, sizeof(sock), "%s/s-nospare", dir);
	snprintf(log, sizeof(log), "%s/daemon-nospare.log", dir);
	pid_t nospare = start_daemon_at(sock, log, NULL, "--no-spare");
	int per = nconn / 3 > 20 ? nconn / 3 : 20;
	/* 100 ms apart, fewer: they take seconds */
	int slow = per > 40 ? 40 : per;
	int nr = runs < 32 ? runs : 32;
	double *v = calloc((size_t)per, sizeof(double)), *w = calloc((size_t)per, sizeof(double)),
	       *d = calloc((size_t)per, sizeof(double));
	double start_ms[32], direct[NPACES][32], proxy[NPACES][32], added[NPACES][32], starts[NPACES][32];
	if (!v || !w || !d)
		fail("calloc");
	for (int r = 0; r < nr; r++) {
		start_ms[r] = start_us("/bin/true", NULL, 300) / 1000;
		for (int p = 0; p < NPACES; p++) {
			const char *via = p == PACE_100MS_NO_SPARE ? sock : sockpath;
			if (paces[p].gap_us < 100000) {
				/* a block of calls at the pace, then the same directly */
				direct[p][r] = calls_ms(NULL, per, paces[p].gap_us, v);
				proxy[p][r] = calls_ms(via, per, paces[p].gap_us, v);
				added[p][r] = proxy[p][r] - direct[p][r];
			} else {
				/*
				 * Far apart, a call directly and one through the proxy in
				 * turn: each pair shares the machine's load of the
				 * moment, and the added time is the median of the pairs'
				 * differences.
				 */
				for (int k = 0; k < slow; k++) {
					v[k] = whole_call(NULL, NULL);
					usleep((useconds_t)paces[p].gap_us);
					w[k] = whole_call(via, "pass3");
					usleep((useconds_t)paces[p].gap_us);
					d[k] = w[k] - v[k];
				}
				direct[p][r] = median(v, slow) * 1000;
				proxy[p][r] = median(w, slow) * 1000;
				added[p][r] = median(d, slow) * 1000;
			}
			starts[p][r] = added[p][r] / start_ms[r];
		}
	}
	free(v);
	free(w);
	free(d);
	kill(nospare, SIGTERM);
	waitpid(nospare, NULL, 0);

	printf("\nper call, in process starts (each round: one process start, then the calls; medians of %d rounds, range)\n",
	       nr);
	printf("  one process start: /bin/true, spawn and wait, median of 300   %.2f ms (%.2f-%.2f)\n",
	       median(start_ms, nr), minimum(start_ms, nr), maximum(start_ms, nr));
	printf("  3-step chain (pass3)       directly   pass3   added ms (range)    in process starts (range)\n");
	for (int p = 0; p < NPACES; p++) {
		double m = median(starts[p], nr);
		char goal[64];
		if (paces[p].goal > 0)
			snprintf(goal, sizeof(goal), "goal at most %.1f: %s", paces[p].goal,
				 m <= paces[p].goal ? "met" : "NOT met");
		else
			snprintf(goal, sizeof(goal), "(%s)", paces[p].note);
		printf("  %-25s %8.2f %7.2f   %5.2f (%.2f-%.2f)   %5.2f (%.2f-%.2f)   %s\n", paces[p].name,
		       median(direct[p], nr), median(proxy[p], nr), median(added[p], nr), minimum(added[p], nr),
		       maximum(added[p], nr), m, minimum(starts[p], nr), maximum(starts[p], nr), goal);
	}
}
