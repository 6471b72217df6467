# SPDX-License-Identifier: GPL-2.0-or-later
# Qubes integration: the qrexec service qrexec-proxy (a symlink to the
# socket the units listen on, which makes it a socket-based service), and
# the bind-dirs snippet that keeps the configuration and the state of a
# template-based qube on its private volume.
qubesbinddirs_DATA = qubes/50_qrexec-proxy.conf
EXTRA_DIST += qubes/bind-dirs.conf.in
CLEANFILES += qubes/50_qrexec-proxy.conf
qubes/50_qrexec-proxy.conf: $(srcdir)/qubes/bind-dirs.conf.in Makefile
	$(AM_V_GEN)$(MKDIR_P) qubes && $(SED) -e 's|@confdir[@]|$(confdir)|g' \
		-e 's|@statedir[@]|$(localstatedir)/lib/qrexec-proxy|g' < $(srcdir)/qubes/bind-dirs.conf.in > $@

# the socket of qrexec-proxy.socket (ListenStream=)
QP_SOCKET = /run/qrexec-proxy.sock
install-data-local: install-qubes-rpc
install-qubes-rpc:
	$(MKDIR_P) '$(DESTDIR)$(qubesrpcdir)'
	ln -sfn '$(QP_SOCKET)' '$(DESTDIR)$(qubesrpcdir)/qrexec-proxy'
uninstall-local: uninstall-qubes-rpc
uninstall-qubes-rpc:
	rm -f '$(DESTDIR)$(qubesrpcdir)/qrexec-proxy'
.PHONY: install-qubes-rpc uninstall-qubes-rpc
