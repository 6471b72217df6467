# SPDX-License-Identifier: GPL-2.0-or-later
# Every built-in filter through the proxy (serve and run), end to end.
QP_CHECK_PROGS += t/check_chains
QP_TESTS += t/check_chains

t_check_chains_SOURCES = t/check_chains.c
t_check_chains_CFLAGS = $(TEST_CFLAGS)
t_check_chains_LDADD = t/libtestutil.a $(TEST_LIBS)
