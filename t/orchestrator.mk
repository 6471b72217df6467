# SPDX-License-Identifier: GPL-2.0-or-later
# helpers the integration tests start: a stand-in for qrexec-client-vm and a misbehaving filter
QP_CHECK_PROGS += t/fake-connector t/test-filter
t_fake_connector_SOURCES = t/fake-connector.c t/hash.h
t_test_filter_SOURCES = t/test-filter.c
# runs under the baseline seccomp policy, which denies the ptrace LeakSanitizer needs
t_test_filter_CFLAGS = $(WARN_CFLAGS)
t_test_filter_LDFLAGS = $(HARDEN_LDFLAGS)

QP_CHECK_LIBS += t/libtestutil.a
t_libtestutil_a_SOURCES = t/testutil.c t/testutil.h t/testjournal.c t/testjournal.h t/hash.h t/timeout.h
t_libtestutil_a_CFLAGS = $(TEST_CFLAGS)

QP_CHECK_PROGS += t/check_descriptor t/check_serve t/check_modes
QP_TESTS += t/check_descriptor t/check_serve t/check_modes

t_check_descriptor_SOURCES = t/check_descriptor.c
t_check_descriptor_CFLAGS = $(TEST_CFLAGS)
t_check_descriptor_LDADD = $(TEST_LIBS)

t_check_serve_SOURCES = t/check_serve.c
t_check_serve_CFLAGS = $(TEST_CFLAGS)
t_check_serve_LDADD = t/libtestutil.a $(TEST_LIBS)

t_check_modes_SOURCES = t/check_modes.c
t_check_modes_CFLAGS = $(TEST_CFLAGS)
t_check_modes_LDADD = t/libtestutil.a $(TEST_LIBS)

# the caller's side of a socket service, for the demo and the benchmarks
QP_CHECK_PROGS += t/qrexec-call
t_qrexec_call_SOURCES = t/qrexec-call.c

# the summary line a caller cannot bend, and callers that go away (t/check_summary.c)
QP_CHECK_PROGS += t/check_summary
QP_TESTS += t/check_summary
t_check_summary_SOURCES = t/check_summary.c
t_check_summary_CFLAGS = $(TEST_CFLAGS)
t_check_summary_LDADD = t/libtestutil.a $(TEST_LIBS)

# limits that queue, and pipes within a budget (t/check_limits.c)
check_PROGRAMS += t/check_limits
TESTS += t/check_limits
t_check_limits_SOURCES = t/check_limits.c
t_check_limits_CFLAGS = $(TEST_CFLAGS)
t_check_limits_LDADD = t/libtestutil.a $(TEST_LIBS)

# one summary for every refusal, in the journal and on stderr (t/check_refusals.c)
check_PROGRAMS += t/check_refusals
TESTS += t/check_refusals
t_check_refusals_SOURCES = t/check_refusals.c
t_check_refusals_CFLAGS = $(TEST_CFLAGS)
t_check_refusals_LDADD = t/libtestutil.a $(TEST_LIBS)

# ending connections of the running daemon, and silent peers (t/check_end.c)
check_PROGRAMS += t/check_end
TESTS += t/check_end
t_check_end_SOURCES = t/check_end.c
t_check_end_CFLAGS = $(TEST_CFLAGS)
t_check_end_LDADD = t/libtestutil.a $(TEST_LIBS)

# group qubes read again on reload (t/check_peers.c)
check_PROGRAMS += t/check_peers
TESTS += t/check_peers
t_check_peers_SOURCES = t/check_peers.c
t_check_peers_CFLAGS = $(TEST_CFLAGS)
t_check_peers_LDADD = t/libtestutil.a $(TEST_LIBS)

# programs and directories their users cannot use (t/check_reach.c)
check_PROGRAMS += t/check_reach
TESTS += t/check_reach
t_check_reach_SOURCES = t/check_reach.c
t_check_reach_CFLAGS = $(TEST_CFLAGS)
t_check_reach_LDADD = t/libtestutil.a $(TEST_LIBS)
