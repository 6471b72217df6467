# SPDX-License-Identifier: GPL-2.0-or-later
# The built-in filters (filters/*.c) and their kit (filters/kit/: the
# library filter authors link, and the generator of the built-ins' seccomp
# programs). No $(SAN_CFLAGS)/AM_CFLAGS here: the
# sanitizer runtimes need system calls the filters' lock-down forbids.
QPF_CFLAGS = $(WARN_CFLAGS) $(SECCOMP_CFLAGS)

# The kit is installed for third-party filters: the library, its header
# and a pkg-config file (cc f.c $(pkg-config --cflags --libs qrexec-proxy-filter)).
# Its qpf_lockdown() builds the seccomp program with libseccomp.
lib_LIBRARIES = filters/kit/libqrexec-proxy-filter.a
filters_kit_libqrexec_proxy_filter_a_SOURCES = filters/kit/qpf.c filters/kit/qpf.h filters/kit/qpf-contract.h \
	filters/kit/qpf-lockdown.c filters/kit/lockdown-build.c filters/kit/lockdown-build.h \
	filters/kit/lockdown.h
filters_kit_libqrexec_proxy_filter_a_CFLAGS = $(QPF_CFLAGS)
qpfincludedir = $(includedir)/qrexec-proxy
qpfinclude_HEADERS = filters/kit/qpf.h filters/kit/qpf-contract.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = filters/kit/qrexec-proxy-filter.pc
EXTRA_DIST += filters/kit/qrexec-proxy-filter.pc.in
CLEANFILES += filters/kit/qrexec-proxy-filter.pc
DISTCLEANFILES = filters/musl.specs
filters/kit/qrexec-proxy-filter.pc: $(srcdir)/filters/kit/qrexec-proxy-filter.pc.in Makefile
	$(AM_V_GEN)$(MKDIR_P) filters/kit && $(SED) -e 's|@prefix[@]|$(prefix)|g' \
		-e 's|@libdir[@]|$(libdir)|g' -e 's|@includedir[@]|$(includedir)|g' \
		-e 's|@VERSION[@]|$(VERSION)|g' < $(srcdir)/filters/kit/qrexec-proxy-filter.pc.in > $@

# The built-ins use the same kit, built against the libc configure chose
# (musl where installed: $(MUSL_CFLAGS) is its gcc specs file), with a
# qpf_lockdown() that loads programs built once, here, with libseccomp.
noinst_PROGRAMS = filters/kit/gen-lockdown
filters_kit_gen_lockdown_SOURCES = filters/kit/gen-lockdown.c filters/kit/lockdown-build.c \
	filters/kit/lockdown-build.h filters/kit/lockdown.h
filters_kit_gen_lockdown_CFLAGS = $(WARN_CFLAGS) $(SECCOMP_CFLAGS)
filters_kit_gen_lockdown_LDADD = $(SECCOMP_LIBS)
filters/kit/lockdown-progs.h: filters/kit/gen-lockdown$(EXEEXT)
	$(AM_V_GEN)filters/kit/gen-lockdown$(EXEEXT) > $@-t && mv $@-t $@
BUILT_SOURCES = filters/kit/lockdown-progs.h
CLEANFILES += filters/kit/lockdown-progs.h

noinst_LIBRARIES += filters/kit/libqpf-builtin.a
filters_kit_libqpf_builtin_a_SOURCES = filters/kit/qpf.c filters/kit/qpf.h \
	filters/kit/lockdown-builtin.c filters/kit/lockdown.h
nodist_filters_kit_libqpf_builtin_a_SOURCES = filters/kit/lockdown-progs.h
filters_kit_libqpf_builtin_a_CFLAGS = $(WARN_CFLAGS) $(MUSL_CFLAGS)
filters_kit_libqpf_builtin_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)/filters/kit
BUILTIN_CC_FLAGS = $(WARN_CFLAGS) $(MUSL_CFLAGS)
BUILTIN_LINK_FLAGS = $(HARDEN_LDFLAGS) $(FILTER_LDFLAGS)
BUILTIN_LIBS = filters/kit/libqpf-builtin.a

filters_PROGRAMS += filters/pass filters/byte-limit filters/timeout \
	filters/count filters/sniff filters/streamline \
	filters/filecopy-guard filters/http-allow

filters_pass_SOURCES = filters/pass.c
filters_pass_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_pass_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_pass_LDADD = $(BUILTIN_LIBS)

filters_byte_limit_SOURCES = filters/byte-limit.c
filters_byte_limit_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_byte_limit_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_byte_limit_LDADD = $(BUILTIN_LIBS)

filters_timeout_SOURCES = filters/timeout.c
filters_timeout_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_timeout_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_timeout_LDADD = $(BUILTIN_LIBS)

filters_count_SOURCES = filters/count.c
filters_count_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_count_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_count_LDADD = $(BUILTIN_LIBS)

filters_sniff_SOURCES = filters/sniff.c
filters_sniff_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_sniff_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_sniff_LDADD = $(BUILTIN_LIBS)

filters_streamline_SOURCES = filters/streamline.c
filters_streamline_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_streamline_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_streamline_LDADD = $(BUILTIN_LIBS)

# the guards of Qubes' own services: each parser is a module of its own,
# which t/fuzz drives too
filters_filecopy_guard_SOURCES = filters/filecopy-guard.c filters/filecopy.c filters/filecopy.h \
	filters/filecopy-names.h
filters_filecopy_guard_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_filecopy_guard_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_filecopy_guard_LDADD = $(BUILTIN_LIBS)

filters_http_allow_SOURCES = filters/http-allow.c filters/http.c filters/http.h
filters_http_allow_CFLAGS = $(BUILTIN_CC_FLAGS)
filters_http_allow_LDFLAGS = $(BUILTIN_LINK_FLAGS)
filters_http_allow_LDADD = $(BUILTIN_LIBS)

# what the guards of Qubes' services do, with examples
EXTRA_DIST += doc/qubes-services.md

# The code points filecopy-guard --safe-names allows: a table generated
# from ICU's Unicode data by a maintainer (libicu-dev), committed.
EXTRA_DIST += filters/gen-filecopy-names.c
update-filecopy-names:
	$(CC) -std=c11 $(WARN_CFLAGS) -o filters/gen-filecopy-names $(srcdir)/filters/gen-filecopy-names.c \
		`$(PKG_CONFIG) --cflags --libs icu-uc`
	filters/gen-filecopy-names > $(srcdir)/filters/filecopy-names.h-t
	mv $(srcdir)/filters/filecopy-names.h-t $(srcdir)/filters/filecopy-names.h
	rm -f filters/gen-filecopy-names
.PHONY: update-filecopy-names

dist_man_MANS += doc/qrexec-proxy-filter.7 \
	doc/qrexec-proxy-filter-pass.1 doc/qrexec-proxy-filter-byte-limit.1 \
	doc/qrexec-proxy-filter-timeout.1 doc/qrexec-proxy-filter-count.1 \
	doc/qrexec-proxy-filter-sniff.1 doc/qrexec-proxy-filter-streamline.1 \
	doc/qrexec-proxy-filter-filecopy-guard.1 doc/qrexec-proxy-filter-http-allow.1

# A third-party filter builds against the installed kit alone; the
# examples are installed for filter authors.
examplesdir = $(docdir)/examples
dist_examples_DATA = doc/examples/kit-pass.c doc/examples/line-allowlist.c doc/examples/uppercase.c
installcheck-local: installcheck-kit
installcheck-kit:
	$(CC) -std=c11 -o kit-pass $(srcdir)/doc/examples/kit-pass.c -I$(DESTDIR)$(includedir) \
		$(DESTDIR)$(libdir)/libqrexec-proxy-filter.a $(SECCOMP_LIBS)
	test "`echo kit | ./kit-pass`" = kit
	$(CC) -std=c11 -o uppercase $(DESTDIR)$(examplesdir)/uppercase.c -I$(DESTDIR)$(includedir) \
		$(DESTDIR)$(libdir)/libqrexec-proxy-filter.a $(SECCOMP_LIBS)
	test "`echo kit | ./uppercase`" = KIT
	rm -f kit-pass uppercase
.PHONY: installcheck-kit
