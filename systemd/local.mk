# SPDX-License-Identifier: GPL-2.0-or-later
systemdsystemunit_DATA = systemd/qrexec-proxy.socket systemd/qrexec-proxy.service
sysusersdir = $(prefix)/lib/sysusers.d
sysusers_DATA = systemd/qrexec-proxy.conf
# enabled where presets decide (Fedora: %systemd_post); the units' own
# condition then keeps them to the qubes where the service is enabled
presetdir = $(systemdsystempresetdir)
dist_preset_DATA = systemd/75-qrexec-proxy.preset
EXTRA_DIST += systemd/qrexec-proxy.socket.in systemd/qrexec-proxy.service.in systemd/qrexec-proxy.sysusers
# the drop-in that delegates the service's cgroup subtree (qrexec-proxy(1), RESOURCES)
dist_doc_DATA += systemd/qrexec-proxy-cgroups.conf
CLEANFILES += $(systemdsystemunit_DATA) systemd/qrexec-proxy.conf

do_subst = $(SED) -e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@QP_USER[@]|$(QP_USER)|g' \
	-e 's|@QP_UNIT_CONDITION[@]|$(QP_UNIT_CONDITION)|g' \
	-e 's|@QP_SOCKET[@]|$(QP_SOCKET)|g' \
	-e 's|@QP_UNIT_TASKS_MAX[@]|$(QP_UNIT_TASKS_MAX)|g'

systemd/qrexec-proxy.socket: $(srcdir)/systemd/qrexec-proxy.socket.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(do_subst) < $(srcdir)/systemd/qrexec-proxy.socket.in > $@
systemd/qrexec-proxy.service: $(srcdir)/systemd/qrexec-proxy.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(do_subst) < $(srcdir)/systemd/qrexec-proxy.service.in > $@
systemd/qrexec-proxy.conf: $(srcdir)/systemd/qrexec-proxy.sysusers Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(do_subst) < $(srcdir)/systemd/qrexec-proxy.sysusers > $@
