/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_TEST_TIMEOUT_H
#define QP_TEST_TIMEOUT_H

#include <stdlib.h>
#include <unistd.h>

/*
 * How much slower than an idle machine this one is now: the load average
 * per core, from 1 to 8.
 */
static inline double test_load_scale(void)
{
	double load[1] = { 0 };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double scale = getloadavg(load, 1) == 1 && cpus > 0 ? load[0] / (double)cpus : 1;
	return scale < 1 ? 1 : scale > 8 ? 8 : scale;
}

/*
 * The timeout of a test case: SECONDS as measured on an idle machine,
 * scaled by how loaded the machine is now (the load average per core,
 * 1 to 8) and by a raised QP_TEST_WAIT_MS (its floor is 60 s). Every wait
 * inside a test is bounded on its own (wait_ms): this is only the backstop
 * for a test that hangs, and must not be what fails a slow but working
 * one on a busy machine (six busy loops on two cores make every process
 * four times slower, and ASan or valgrind slower again).
 */
static inline double test_timeout(double seconds)
{
	double scale = test_load_scale();
	const char *w = getenv("QP_TEST_WAIT_MS");
	if (w && atoi(w) > 60000)
		scale *= atoi(w) / 60000.0;
	return seconds * scale;
}

#endif
