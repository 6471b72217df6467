# SPDX-License-Identifier: GPL-2.0-or-later
# Isolation between connections (t/check_isolation.c): a filter taken over
# by its caller's data (t/hostile-filter.c) attacks everything outside its
# own connection while a neighbouring connection moves data. Needs root (the
# daemon runs as nobody); skipped otherwise.
QP_CHECK_PROGS += t/hostile-filter t/check_isolation
QP_TESTS += t/check_isolation

t_hostile_filter_SOURCES = t/hostile-filter.c t/hostile-resources.c t/hostile.h
# runs under the baseline seccomp policy, which denies the ptrace LeakSanitizer needs
t_hostile_filter_CFLAGS = $(WARN_CFLAGS)
t_hostile_filter_LDFLAGS = $(HARDEN_LDFLAGS)

# the same attacks from a program the spare starts ahead of its call (the
# kit's prestart note): same name, so the same comm, in a directory of its own
QP_CHECK_PROGS += t/ahead/hostile-filter
t_ahead_hostile_filter_SOURCES = t/hostile-filter.c t/hostile-resources.c t/hostile.h
t_ahead_hostile_filter_CPPFLAGS = $(AM_CPPFLAGS) -DHOSTILE_AHEAD -I$(top_srcdir)/filters/kit -I$(top_srcdir)/t
t_ahead_hostile_filter_CFLAGS = $(WARN_CFLAGS)
t_ahead_hostile_filter_LDFLAGS = $(HARDEN_LDFLAGS)

t_check_isolation_SOURCES = t/check_isolation.c
t_check_isolation_CFLAGS = $(TEST_CFLAGS)
t_check_isolation_LDADD = t/libtestutil.a $(TEST_LIBS)
