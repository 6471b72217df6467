# SPDX-License-Identifier: GPL-2.0-or-later
# The example configuration and its schema, installed.
dist_schema_DATA += schema/qrexec-proxy.schema.json

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
uninstall-local: uninstall-conf
uninstall-conf:
	@dst='$(DESTDIR)$(confdir)/chains.yaml'; \
	if cmp -s '$(srcdir)/conf/chains.yaml' "$$dst"; then rm -f "$$dst"; \
	else test ! -e "$$dst" || echo " $$dst was edited: left in place"; fi; \
	rm -f "$$dst.new"
.PHONY: install-conf uninstall-conf

