/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A connection's phases in time, for serve --trace-phases (see phases.h). */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "phases.h"
#include "util.h"

/* the processes of a connection whose ends are told apart; past that, the last ones are not */
#define PHASE_MAX_EXITS 16

static const char *const phase_names[PHASE_COUNT] = {
	[PHASE_SPARE_FORKED] = "spare-forked",
	[PHASE_SPARE_READY] = "spare-ready",
	[PHASE_ACCEPTED] = "accepted",
	[PHASE_HANDED] = "handed",
	[PHASE_ROUTED] = "routed",
	[PHASE_SLOT] = "slot",
	[PHASE_PIPELINE] = "pipeline",
	[PHASE_CONNECTOR] = "connector",
	[PHASE_WOKEN] = "woken",
	[PHASE_STARTED] = "started",
	[PHASE_UP_FIRST] = "up-first",
	[PHASE_DOWN_FIRST] = "down-first",
	[PHASE_UP_EOF] = "up-eof",
	[PHASE_DOWN_EOF] = "caller-eof",
	[PHASE_EXITED] = "exited",
	[PHASE_SANDBOX_GONE] = "sandbox-gone",
	[PHASE_SUMMARY] = "summary",
};

static bool enabled;
static int64_t at[PHASE_COUNT];
static struct {
	char tag[48];
	int64_t ns;
} exits[PHASE_MAX_EXITS];
static size_t nexits;

void phases_enable(bool on)
{
	enabled = on;
}

bool phases_enabled(void)
{
	return enabled;
}

void phase_mark_at(enum phase p, int64_t ns)
{
	if (p < PHASE_COUNT && !at[p])
		at[p] = ns;
}

void phase_mark(enum phase p)
{
	if (p < PHASE_COUNT && !at[p])
		at[p] = mono_ns();
}

void phase_mark_exit(const char *tag)
{
	if (!enabled || nexits == PHASE_MAX_EXITS)
		return;
	snprintf(exits[nexits].tag, sizeof(exits[nexits].tag), "%s", tag);
	exits[nexits++].ns = mono_ns();
}

void phases_log(void)
{
	if (!enabled || !at[PHASE_ACCEPTED])
		return;
	char line[1536];
	size_t n = 0;
	int64_t t0 = at[PHASE_ACCEPTED];
	/* each part is far shorter than what is left of LINE; snprintf bounds it anyway */
#define ADD(...)                                                                   \
	do {                                                                       \
		int k = snprintf(line + n, sizeof(line) - n, __VA_ARGS__);         \
		if (k > 0)                                                         \
			n = (size_t)k < sizeof(line) - n ? n + (size_t)k : sizeof(line) - 1; \
	} while (0)
	/* the accept on CLOCK_MONOTONIC, to line the phases up with a caller's times or perf's (-k CLOCK_MONOTONIC) */
	ADD("phases (ms after the accept at %lld.%06lld s):", (long long)(t0 / 1000000000),
	    (long long)(t0 % 1000000000 / 1000));
	for (int p = 0; p < PHASE_COUNT; p++)
		if (at[p] && p != PHASE_ACCEPTED)
			ADD(" %s=%.3f", phase_names[p], (double)(at[p] - t0) / 1e6);
	for (size_t i = 0; i < nexits; i++)
		ADD("; %s ended %.3f", exits[i].tag, (double)(exits[i].ns - t0) / 1e6);
#undef ADD
	log_msg(LOG_DEBUG, "%s", line);
}
