# SPDX-License-Identifier: GPL-2.0-or-later
# qrexec-proxy policy: golden files of the examples (t/check_policy.c) and
# a reader of the dom0 policy format that must accept every line written
# (t/check-policy.py).
QP_CHECK_PROGS += t/check_policy
QP_TESTS += t/check_policy t/check-policy.py
t_check_policy_SOURCES = t/check_policy.c
t_check_policy_CFLAGS = $(TEST_CFLAGS)
t_check_policy_LDADD = t/libtestutil.a $(TEST_LIBS)
EXTRA_DIST += t/check-policy.py t/policy/allowlists.yaml \
	t/policy/chains.policy t/policy/chains.warnings \
	t/policy/one-way.policy t/policy/one-way.warnings \
	t/policy/custom.policy t/policy/custom.warnings \
	t/policy/allowlists.policy t/policy/allowlists.warnings \
	t/policy/transparent.policy t/policy/transparent.warnings \
	t/policy/filecopy-guard.policy t/policy/filecopy-guard.warnings \
	t/policy/updates-proxy.policy t/policy/updates-proxy.warnings

# The units (the Qubes service condition) and the bind-dirs snippet.
QP_TESTS += t/check-units.sh
EXTRA_DIST += t/check-units.sh

# The packages end to end (make deb, make rpm, their files compared, the
# .deb installed and purged): minutes and root, so not in make check;
# t/quickstart.sh test runs it as a phase of its own.
check-packages:
	$(SHELL) $(srcdir)/t/check-packages.sh '$(abs_top_builddir)'
EXTRA_DIST += t/check-packages.sh
.PHONY: check-packages
