# SPDX-License-Identifier: GPL-2.0-or-later
# The warm pipeline (orchestrator/warm.c): kit filters started ahead by
# the spare supervisor, through the real daemon; the prestart note.
QP_CHECK_PROGS += t/check_warm
QP_TESTS += t/check_warm

t_check_warm_SOURCES = t/check_warm.c
t_check_warm_CFLAGS = $(TEST_CFLAGS)
t_check_warm_LDADD = t/libtestutil.a $(TEST_LIBS)
