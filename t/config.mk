# SPDX-License-Identifier: GPL-2.0-or-later
# The configuration loader (orchestrator/config.c), its schema and examples.
check_PROGRAMS += t/check_config
TESTS += t/check_config t/check-schema.py
t_check_config_SOURCES = t/check_config.c
t_check_config_CFLAGS = $(TEST_CFLAGS)
t_check_config_LDADD = $(TEST_LIBS)

dist_schema_DATA += schema/qrexec-proxy.schema.json
EXTRA_DIST += t/check-schema.py conf/examples/one-way.yaml conf/examples/custom.yaml conf/examples/transparent.yaml \
	conf/chains.yaml

# The configuration is the administrator's: installed only where there is
# none (else as chains.yaml.new, and make says so); chains.d for drop-ins
# and the state directory that admission checks (count) write are made.
install-data-local: install-conf
install-conf:
	$(MKDIR_P) '$(DESTDIR)$(confdir)/chains.d' '$(DESTDIR)$(localstatedir)/lib/qrexec-proxy'
	@dst='$(DESTDIR)$(confdir)/chains.yaml'; \
	if test ! -e "$$dst"; then \
	  echo " $(INSTALL_DATA) $(srcdir)/conf/chains.yaml $$dst"; \
	  $(INSTALL_DATA) '$(srcdir)/conf/chains.yaml' "$$dst"; \
	elif cmp -s '$(srcdir)/conf/chains.yaml' "$$dst"; then \
	  echo " $$dst is the example already: left as it is"; \
	else \
	  $(INSTALL_DATA) '$(srcdir)/conf/chains.yaml' "$$dst.new"; \
	  echo " $$dst was edited: kept; the new example is $$dst.new"; \
	fi
uninstall-local:
	@dst='$(DESTDIR)$(confdir)/chains.yaml'; \
	if cmp -s '$(srcdir)/conf/chains.yaml' "$$dst"; then rm -f "$$dst"; \
	else test ! -e "$$dst" || echo " $$dst was edited: left in place"; fi; \
	rm -f "$$dst.new"
.PHONY: install-conf

# make install twice keeps an edited chains.yaml (t/check-install.sh)
TESTS += t/check-install.sh
EXTRA_DIST += t/check-install.sh

# Out-of-memory paths, by failing each allocation of a load in turn.
check_PROGRAMS += t/config-oom
TESTS += t/config-oom
t_config_oom_SOURCES = t/config-oom.c
t_config_oom_CFLAGS = $(TEST_CFLAGS)
t_config_oom_LDADD = $(TEST_LIBS)
t_config_oom_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=yaml_parser_load
