# SPDX-License-Identifier: GPL-2.0-or-later
# Fault injection against the real daemon (t/check_faults.c), and a filter
# that misbehaves with its file descriptors (t/fault-filter.c).
QP_CHECK_PROGS += t/fault-filter t/check_faults
QP_TESTS += t/check_faults

t_fault_filter_SOURCES = t/fault-filter.c
# runs under the baseline seccomp policy, which denies the ptrace LeakSanitizer needs
t_fault_filter_CFLAGS = $(WARN_CFLAGS)
t_fault_filter_LDFLAGS = $(HARDEN_LDFLAGS)

t_check_faults_SOURCES = t/check_faults.c
t_check_faults_CFLAGS = $(TEST_CFLAGS)
t_check_faults_LDADD = t/libtestutil.a $(TEST_LIBS)
