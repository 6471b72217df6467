/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "reload.h"
#include "util.h"

bool reload_wants_verdict(const struct signalfd_siginfo *si)
{
	return si->ssi_signo == SIGHUP && si->ssi_code == SI_QUEUE && si->ssi_int == RELOAD_SIGNAL_VALUE &&
	       si->ssi_pid > 0;
}

void reload_send_verdict(const struct signalfd_siginfo *si, int verdict)
{
	union sigval v = { .sival_int = verdict };
	/* the asker may have given up (timeout) and gone: nothing to do then */
	if (sigqueue((pid_t)si->ssi_pid, RELOAD_REPLY_SIGNAL, v) < 0 && errno != ESRCH)
		log_sys(LOG_WARNING, "unable to tell process %u the reload's outcome", (unsigned)si->ssi_pid);
}

int reload_request(pid_t pid, int timeout_ms, int *verdict)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, RELOAD_REPLY_SIGNAL);
	/*
	 * Blocked before asking, so an answer that comes at once waits for
	 * sigtimedwait; and left blocked after, so one that comes too late
	 * cannot kill the caller (the default action of a realtime signal).
	 */
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -1;
	int rc = -1;
	union sigval v = { .sival_int = RELOAD_SIGNAL_VALUE };
	if (sigqueue(pid, SIGHUP, v) < 0)
		goto out;
	int64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			goto out;
		}
		struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 };
		siginfo_t si;
		int s = sigtimedwait(&mask, &si, &ts);
		if (s < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				errno = ETIMEDOUT;
			goto out;
		}
		/* only the daemon asked may answer */
		if (si.si_code == SI_QUEUE && si.si_pid == pid) {
			*verdict = si.si_value.sival_int;
			rc = 0;
			goto out;
		}
	}
out:
	return rc;
}
