# SPDX-License-Identifier: GPL-2.0-or-later
# The built-in filters and their kit. No $(SAN_CFLAGS)/AM_CFLAGS here: the
# sanitizer runtimes need system calls the filters' lock-down forbids.
QPF_CFLAGS = $(WARN_CFLAGS) $(SECCOMP_CFLAGS)
QPF_LDADD = filters/libqrexec-proxy-filter.a $(SECCOMP_LIBS)

# The kit is installed for third-party filters: the library, its header
# and a pkg-config file (cc f.c $(pkg-config --cflags --libs qrexec-proxy-filter)).
lib_LIBRARIES = filters/libqrexec-proxy-filter.a
filters_libqrexec_proxy_filter_a_SOURCES = filters/qpf.c filters/qpf.h
filters_libqrexec_proxy_filter_a_CFLAGS = $(QPF_CFLAGS)
qpfincludedir = $(includedir)/qrexec-proxy
qpfinclude_HEADERS = filters/qpf.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = filters/qrexec-proxy-filter.pc
EXTRA_DIST += filters/qrexec-proxy-filter.pc.in
CLEANFILES += filters/qrexec-proxy-filter.pc
filters/qrexec-proxy-filter.pc: $(srcdir)/filters/qrexec-proxy-filter.pc.in Makefile
	$(AM_V_GEN)$(MKDIR_P) filters && $(SED) -e 's|@prefix[@]|$(prefix)|g' \
		-e 's|@libdir[@]|$(libdir)|g' -e 's|@includedir[@]|$(includedir)|g' \
		-e 's|@VERSION[@]|$(VERSION)|g' < $(srcdir)/filters/qrexec-proxy-filter.pc.in > $@

filters_PROGRAMS += filters/pass filters/byte-limit filters/timeout \
	filters/count filters/sniff filters/streamline

filters_pass_SOURCES = filters/pass.c
filters_pass_CFLAGS = $(QPF_CFLAGS)
filters_pass_LDFLAGS = $(HARDEN_LDFLAGS) $(FILTER_LDFLAGS)
filters_pass_LDADD = $(QPF_LDADD)

filters_byte_limit_SOURCES = filters/byte-limit.c
filters_byte_limit_CFLAGS = $(QPF_CFLAGS)
filters_byte_limit_LDFLAGS = $(HARDEN_LDFLAGS) $(FILTER_LDFLAGS)
filters_byte_limit_LDADD = $(QPF_LDADD)

filters_timeout_SOURCES = filters/timeout.c
filters_timeout_CFLAGS = $(QPF_CFLAGS)
filters_timeout_LDFLAGS = $(HARDEN_LDFLAGS) $(FILTER_LDFLAGS)
filters_timeout_LDADD = $(QPF_LDADD)

filters_count_SOURCES = filters/count.c
filters_count_CFLAGS = $(QPF_CFLAGS)
filters_count_LDFLAGS = $(HARDEN_LDFLAGS) $(FILTER_LDFLAGS)
filters_count_LDADD = $(QPF_LDADD)

filters_sniff_SOURCES = filters/sniff.c
filters_sniff_CFLAGS = $(QPF_CFLAGS)
filters_sniff_LDFLAGS = $(HARDEN_LDFLAGS) $(FILTER_LDFLAGS)
filters_sniff_LDADD = $(QPF_LDADD)

filters_streamline_SOURCES = filters/streamline.c
filters_streamline_CFLAGS = $(QPF_CFLAGS)
filters_streamline_LDFLAGS = $(HARDEN_LDFLAGS) $(FILTER_LDFLAGS)
filters_streamline_LDADD = $(QPF_LDADD)

dist_man_MANS += doc/qrexec-proxy-filter.7 \
	doc/qrexec-proxy-filter-pass.1 doc/qrexec-proxy-filter-byte-limit.1 \
	doc/qrexec-proxy-filter-timeout.1 doc/qrexec-proxy-filter-count.1 \
	doc/qrexec-proxy-filter-sniff.1 doc/qrexec-proxy-filter-streamline.1

# A third-party filter builds against the installed kit alone.
EXTRA_DIST += doc/examples/kit-pass.c
installcheck-local: installcheck-kit
installcheck-kit:
	$(CC) -std=c11 -o kit-pass $(srcdir)/doc/examples/kit-pass.c -I$(DESTDIR)$(includedir) \
		$(DESTDIR)$(libdir)/libqrexec-proxy-filter.a $(SECCOMP_LIBS)
	test "`echo kit | ./kit-pass`" = kit
	rm -f kit-pass
.PHONY: installcheck-kit
