# SPDX-License-Identifier: GPL-2.0-or-later
AM_TESTS_ENVIRONMENT = \
	QP_BUILDDIR='$(abs_top_builddir)'; QP_SRCDIR='$(abs_top_srcdir)'; \
	PYTHON3='$(PYTHON3)'; QP_QUBES_SERVICE_CONDITION='$(QP_QUBES_SERVICE_CONDITION)'; \
	export QP_BUILDDIR QP_SRCDIR PYTHON3 QP_QUBES_SERVICE_CONDITION;

TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -I$(top_srcdir)/orchestrator -I$(top_srcdir)/t
TEST_LIBS = $(QP_LIBS) $(CHECK_LIBS)

include t/config.mk
include t/filters.mk
include t/orchestrator.mk

# README's Layout against the tree, and its length
QP_TESTS += t/check-layout.py
EXTRA_DIST += t/check-layout.py

# The daemon of the integration tests under valgrind: every process it
# forks (listener and supervisors) must end with no error and no leak.
# (valgrind 3.19 does not know seccomp(2), which libseccomp probes, nor
# mount_setattr(2) or Landlock: those warnings alone are not a failure.)
# The sandboxes run seccomp-only here: valgrind opens a log file in every
# process it forks, the pre-exec half of each filter included, and a
# sandbox's file system is read-only. The namespaces and Landlock code is
# exercised by the plain and the sanitizer phases (check_isolation runs
# under both mechanisms). Every suite runs, even after one has failed, so
# that the test command counts all of them; the target fails at the end.
check-valgrind: all $(check_PROGRAMS)
	@test -n "$(VALGRIND)" || { echo "valgrind not found: install it"; exit 1; }
	rm -rf t/valgrind && $(MKDIR_P) t/valgrind && chmod 1777 t/valgrind  # the sandboxes of a root-run daemon run as nobody
	QP_BUILDDIR='$(abs_top_builddir)' QP_SRCDIR='$(abs_top_srcdir)' \
	QP_TEST_ISOLATION=seccomp-only \
	QP_DAEMON_WRAPPER="$(VALGRIND) -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --track-fds=no --vgdb=no --log-file=$(abs_top_builddir)/t/valgrind/@RUN@/vg.%p" \
	  t/check_serve || touch t/valgrind/failed
	QP_BUILDDIR='$(abs_top_builddir)' QP_SRCDIR='$(abs_top_srcdir)' \
	QP_TEST_ISOLATION=seccomp-only \
	QP_DAEMON_WRAPPER="$(VALGRIND) -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --track-fds=no --vgdb=no --log-file=$(abs_top_builddir)/t/valgrind/@RUN@/vg.%p" \
	  t/check_faults || touch t/valgrind/failed
	QP_BUILDDIR='$(abs_top_builddir)' QP_SRCDIR='$(abs_top_srcdir)' \
	QP_TEST_ISOLATION=seccomp-only \
	QP_DAEMON_WRAPPER="$(VALGRIND) -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --track-fds=no --vgdb=no --log-file=$(abs_top_builddir)/t/valgrind/@RUN@/vg.%p" \
	  t/check_transparent || touch t/valgrind/failed
	QP_BUILDDIR='$(abs_top_builddir)' QP_SRCDIR='$(abs_top_srcdir)' \
	QP_TEST_ISOLATION=seccomp-only \
	QP_DAEMON_WRAPPER="$(VALGRIND) -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --track-fds=no --vgdb=no --log-file=$(abs_top_builddir)/t/valgrind/@RUN@/vg.%p" \
	  t/check_limits || touch t/valgrind/failed
	@fail=0; for f in t/valgrind/*/vg.*; do \
	  grep -v -E -e 'unhandled amd64-linux syscall: (317|442|444)$$' -e 'write your own handler' \
	    -e README_MISSING_SYSCALL -e 'Nevertheless we consider' -e 'valgrind.org/support' \
	    "$$f" > "$$f.rest" || true; \
	  if test -s "$$f.rest"; then echo "== $$f"; cat "$$f.rest"; fail=1; fi; \
	  rm -f "$$f.rest"; \
	done; \
	if test -e t/valgrind/failed; then echo "check-valgrind: a suite failed (above)"; fail=1; fi; \
	if test $$fail = 0; then echo "valgrind: $$(find t/valgrind -name 'vg.*' | wc -l) processes, no errors, no leaks"; fi; \
	exit $$fail

# The suites that run the daemon, directly (their Check output on stdout):
# with QP_TEST_ISOLATION=landlock, the whole of them under the fallback.
DAEMON_SUITES = t/check_serve t/check_modes t/check_faults t/check_chains t/check_activation t/check_transparent t/check_limits \
	t/check_warm t/check_end t/check_refusals t/check_peers t/check_reach
check-daemon: all $(check_PROGRAMS)
	@fail=0; for t in $(DAEMON_SUITES); do \
	  QP_BUILDDIR='$(abs_top_builddir)' QP_SRCDIR='$(abs_top_srcdir)' $$t || fail=1; \
	done; exit $$fail
.PHONY: check-daemon

# The quick start's demo: the proxy on a local socket, a few calls through chains.
demo: all $(check_PROGRAMS)
	QP_BUILDDIR='$(abs_top_builddir)' QP_SRCDIR='$(abs_top_srcdir)' $(SHELL) $(srcdir)/t/demo.sh

# The whole suite N times in a row, every failure named (t/check-repeat.sh):
#   make check-repeat N=20;  make check-repeat N=5 REPEAT_TARGETS=check-valgrind
N = 20
REPEAT_TARGETS = check
check-repeat: all $(check_PROGRAMS)
	$(SHELL) $(srcdir)/t/check-repeat.sh -n $(N) -C . $(REPEAT_TARGETS)

EXTRA_DIST += t/demo.sh t/quickstart.sh t/check-repeat.sh

# The test command's counts (t/phases.sh) on phases of every form; what it
# runs besides the suites: the configured tools checked against those
# installed, the README's two commands in a fresh clone (doc/testing.md)
QP_TESTS += t/check-quickstart.sh
EXTRA_DIST += t/phases.sh t/check-quickstart.sh t/check-configured.sh t/check-fresh-clone.sh
.PHONY: check-valgrind demo check-repeat

include t/faults.mk
include t/isolation.mk
include t/resources.mk
include t/bench.mk
include t/fuzz.mk
include t/chains.mk
include t/stress.mk
include t/policy.mk
include t/transparent.mk
include t/warm.mk

# The units under a real systemd 252 in a Debian 12 container (issue 14):
# t/systemd/check-nspawn.sh, which says what it checks. Root, debootstrap
# and systemd-nspawn needed; where the container cannot boot it prints
# "check-systemd: skipped: WHY" and the target succeeds; a failed check
# fails it. Not part of make check: it downloads a Debian root once
# (cached in /var/tmp) and boots a copy of it.
check-systemd: all t/fake-connector t/qrexec-call
	QP_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(srcdir)/t/systemd/check-nspawn.sh; \
	rc=$$?; if [ $$rc = 77 ]; then exit 0; fi; exit $$rc
EXTRA_DIST += t/systemd/check-nspawn.sh
.PHONY: check-systemd
