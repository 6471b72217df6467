# SPDX-License-Identifier: GPL-2.0-or-later
# The built-in filters and their kit. No $(SAN_CFLAGS)/AM_CFLAGS here: the
# sanitizer runtimes need system calls the filters' lock-down forbids.
QPF_CFLAGS = $(WARN_CFLAGS) $(SECCOMP_CFLAGS)
QPF_LDADD = filters/libqpf.a $(SECCOMP_LIBS)

noinst_LIBRARIES += filters/libqpf.a
filters_libqpf_a_SOURCES = filters/qpf.c filters/qpf.h
filters_libqpf_a_CFLAGS = $(QPF_CFLAGS)

filters_PROGRAMS += filters/pass filters/byte-limit filters/timeout \
	filters/count filters/sniff filters/streamline

filters_pass_SOURCES = filters/pass.c
filters_pass_CFLAGS = $(QPF_CFLAGS)
filters_pass_LDFLAGS = $(HARDEN_LDFLAGS)
filters_pass_LDADD = $(QPF_LDADD)

filters_byte_limit_SOURCES = filters/byte-limit.c
filters_byte_limit_CFLAGS = $(QPF_CFLAGS)
filters_byte_limit_LDFLAGS = $(HARDEN_LDFLAGS)
filters_byte_limit_LDADD = $(QPF_LDADD)

filters_timeout_SOURCES = filters/timeout.c
filters_timeout_CFLAGS = $(QPF_CFLAGS)
filters_timeout_LDFLAGS = $(HARDEN_LDFLAGS)
filters_timeout_LDADD = $(QPF_LDADD)

filters_count_SOURCES = filters/count.c
filters_count_CFLAGS = $(QPF_CFLAGS)
filters_count_LDFLAGS = $(HARDEN_LDFLAGS)
filters_count_LDADD = $(QPF_LDADD)

filters_sniff_SOURCES = filters/sniff.c
filters_sniff_CFLAGS = $(QPF_CFLAGS)
filters_sniff_LDFLAGS = $(HARDEN_LDFLAGS)
filters_sniff_LDADD = $(QPF_LDADD)

filters_streamline_SOURCES = filters/streamline.c
filters_streamline_CFLAGS = $(QPF_CFLAGS)
filters_streamline_LDFLAGS = $(HARDEN_LDFLAGS)
filters_streamline_LDADD = $(QPF_LDADD)

dist_man_MANS += doc/qrexec-proxy-filter.7 \
	doc/qrexec-proxy-filter-pass.1 doc/qrexec-proxy-filter-byte-limit.1 \
	doc/qrexec-proxy-filter-timeout.1 doc/qrexec-proxy-filter-count.1 \
	doc/qrexec-proxy-filter-sniff.1 doc/qrexec-proxy-filter-streamline.1
