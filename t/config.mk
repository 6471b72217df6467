# SPDX-License-Identifier: GPL-2.0-or-later
# The configuration loader (orchestrator/config.c), its schema and examples.
check_PROGRAMS += t/check_config
TESTS += t/check_config t/check-schema.py
t_check_config_SOURCES = t/check_config.c
t_check_config_CFLAGS = $(TEST_CFLAGS)
t_check_config_LDADD = $(TEST_LIBS)

dist_schema_DATA += schema/qrexec-proxy.schema.json
dist_conf_DATA += conf/chains.yaml
EXTRA_DIST += t/check-schema.py conf/examples/one-way.yaml conf/examples/custom.yaml

# Out-of-memory paths, by failing each allocation of a load in turn.
check_PROGRAMS += t/config-oom
TESTS += t/config-oom
t_config_oom_SOURCES = t/config-oom.c
t_config_oom_CFLAGS = $(TEST_CFLAGS)
t_config_oom_LDADD = $(TEST_LIBS)
t_config_oom_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=yaml_parser_load
