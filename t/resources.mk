# SPDX-License-Identifier: GPL-2.0-or-later
# Resources between connections (t/check_resources.c): a filter taken over
# by its caller's data (t/hostile-filter's resource modes) hogs memory,
# forks, watches the others, floods or forges the log, while a
# neighbouring connection moves data. Needs root (the daemon runs as
# nobody, the memory-bounded groups are root's); skipped otherwise.
QP_CHECK_PROGS += t/check_resources
QP_TESTS += t/check_resources

t_check_resources_SOURCES = t/check_resources.c
t_check_resources_CFLAGS = $(TEST_CFLAGS)
t_check_resources_LDADD = t/libtestutil.a $(TEST_LIBS)
