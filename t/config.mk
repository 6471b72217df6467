# SPDX-License-Identifier: GPL-2.0-or-later
# The configuration loader (orchestrator/config.c), its schema and examples.
QP_CHECK_PROGS += t/check_config
QP_TESTS += t/check_config t/check-schema.py
t_check_config_SOURCES = t/check_config.c
t_check_config_CFLAGS = $(TEST_CFLAGS)
t_check_config_LDADD = $(TEST_LIBS)

EXTRA_DIST += t/check-schema.py

# make install twice keeps an edited chains.yaml (t/check-install.sh)
QP_TESTS += t/check-install.sh
EXTRA_DIST += t/check-install.sh

# Out-of-memory paths, by failing each allocation of a load in turn.
QP_CHECK_PROGS += t/config-oom
QP_TESTS += t/config-oom
t_config_oom_SOURCES = t/config-oom.c
t_config_oom_CFLAGS = $(TEST_CFLAGS)
t_config_oom_LDADD = $(TEST_LIBS)
t_config_oom_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=yaml_parser_load
