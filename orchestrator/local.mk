# SPDX-License-Identifier: GPL-2.0-or-later
bin_PROGRAMS += qrexec-proxy

# Everything but main() is in a library so the tests link the same code.
noinst_LIBRARIES += orchestrator/libqp.a
orchestrator_libqp_a_SOURCES = \
	orchestrator/argcheck.c orchestrator/argcheck.h \
	orchestrator/bounds.c orchestrator/bounds.h \
	orchestrator/cgroup.c orchestrator/cgroup.h \
	orchestrator/reach.c orchestrator/reach.h \
	orchestrator/config.c orchestrator/config.h orchestrator/config_loader.h \
	orchestrator/config_bounds.c \
	orchestrator/config_query.c \
	orchestrator/config_yaml.c \
	orchestrator/descriptor.c orchestrator/descriptor.h \
	orchestrator/fdpass.c orchestrator/fdpass.h \
	orchestrator/isolate.c orchestrator/isolate.h \
	orchestrator/isolate_init.c orchestrator/isolate_init.h \
	orchestrator/connlimits.c orchestrator/connlimits.h \
	orchestrator/kvline.c orchestrator/kvline.h \
	orchestrator/log.c orchestrator/log.h \
	orchestrator/logbound.c orchestrator/logbound.h \
	orchestrator/names.c orchestrator/names.h \
	orchestrator/logrelay.c orchestrator/logrelay.h orchestrator/logwire.h \
	orchestrator/reload.c orchestrator/reload.h \
	orchestrator/route.c orchestrator/route.h \
	orchestrator/pipecap.c orchestrator/pipecap.h \
	orchestrator/phases.c orchestrator/phases.h \
	orchestrator/pipeline.c orchestrator/pipeline.h \
	orchestrator/procs.c \
	orchestrator/relay.c \
	orchestrator/slot.c \
	orchestrator/policy.c orchestrator/policy.h \
	orchestrator/sandbox.c orchestrator/sandbox.h \
	orchestrator/serve.c orchestrator/serve.h \
	orchestrator/spare.c orchestrator/spare.h \
	orchestrator/status.c orchestrator/status.h \
	orchestrator/control.c orchestrator/control.h \
	orchestrator/end.c orchestrator/end.h \
	orchestrator/spawn.c orchestrator/spawn.h \
	orchestrator/summary.c orchestrator/summary.h \
	orchestrator/supervise.c orchestrator/supervise.h orchestrator/conn.h \
	orchestrator/listener.c orchestrator/listener.h \
	orchestrator/transparent.c orchestrator/transparent.h \
	orchestrator/unixsock.c orchestrator/unixsock.h \
	orchestrator/links.c orchestrator/links.h \
	orchestrator/util.c orchestrator/util.h \
	orchestrator/warm.c orchestrator/warm.h
orchestrator_libqp_a_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) $(YAML_CFLAGS) $(SECCOMP_CFLAGS)

QP_LIBS = orchestrator/libqp.a $(SYSTEMD_LIBS) $(YAML_LIBS) $(SECCOMP_LIBS)

qrexec_proxy_SOURCES = orchestrator/main.c orchestrator/options.c orchestrator/options.h \
	orchestrator/startup.c orchestrator/startup.h
qrexec_proxy_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
qrexec_proxy_LDADD = $(QP_LIBS)

dist_man_MANS += doc/qrexec-proxy.1 doc/qrexec-proxy.yaml.5
