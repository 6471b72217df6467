# SPDX-License-Identifier: GPL-2.0-or-later
# Transparent mode (orchestrator/transparent.c, links.c): redirected calls
# through the daemon and exec, qrexec-proxy links, check's warnings.
check_PROGRAMS += t/check_transparent
TESTS += t/check_transparent

t_check_transparent_SOURCES = t/check_transparent.c
t_check_transparent_CFLAGS = $(TEST_CFLAGS)
t_check_transparent_LDADD = t/libtestutil.a $(TEST_LIBS)
