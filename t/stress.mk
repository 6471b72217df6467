# SPDX-License-Identifier: GPL-2.0-or-later
# Load: a short form in make check (50 connections), make stress the long one.
QP_CHECK_PROGS += t/check_stress
QP_TESTS += t/check_stress
t_check_stress_SOURCES = t/check_stress.c
t_check_stress_CFLAGS = $(TEST_CFLAGS)
t_check_stress_LDADD = t/libtestutil.a $(TEST_LIBS)

stress: all $(check_PROGRAMS)
	QP_BUILDDIR='$(abs_top_builddir)' QP_SRCDIR='$(abs_top_srcdir)' \
	QP_STRESS_CONNECTIONS=200 QP_STRESS_BYTES=4194304 t/check_stress
.PHONY: stress

# Socket activation: killed and restarted with calls queued (LISTEN_FDS by hand)
QP_CHECK_PROGS += t/check_activation
QP_TESTS += t/check_activation
t_check_activation_SOURCES = t/check_activation.c
t_check_activation_CFLAGS = $(TEST_CFLAGS)
t_check_activation_LDADD = t/libtestutil.a $(TEST_LIBS)
