# SPDX-License-Identifier: GPL-2.0-or-later
# The built-in filters as standalone programs, the kit's lock-down, and
# the example third-party filter.
QP_CHECK_PROGS += t/check_filters t/filter-misbehave t/filter-misbehave-builtin \
	doc/examples/line-allowlist doc/examples/uppercase
QP_TESTS += t/check_filters

t_check_filters_SOURCES = t/check_filters.c t/timeout.h
t_check_filters_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
t_check_filters_LDADD = $(CHECK_LIBS)

# locks itself down like a filter: no sanitizer runtime, which needs more system calls
t_filter_misbehave_SOURCES = t/filter-misbehave.c
t_filter_misbehave_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/filters/kit
t_filter_misbehave_CFLAGS = $(WARN_CFLAGS) $(SECCOMP_CFLAGS)
t_filter_misbehave_LDFLAGS = $(HARDEN_LDFLAGS)
t_filter_misbehave_LDADD = filters/kit/libqrexec-proxy-filter.a $(SECCOMP_LIBS)

# the same, built as the built-in filters are (their libc, their precompiled
# seccomp programs): both ways of locking down must forbid the same
t_filter_misbehave_builtin_SOURCES = t/filter-misbehave.c
t_filter_misbehave_builtin_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/filters/kit
t_filter_misbehave_builtin_CFLAGS = $(BUILTIN_CC_FLAGS)
t_filter_misbehave_builtin_LDFLAGS = $(BUILTIN_LINK_FLAGS)
t_filter_misbehave_builtin_LDADD = $(BUILTIN_LIBS)

# built as a third party would: its own feature macros, no project headers
doc_examples_line_allowlist_SOURCES = doc/examples/line-allowlist.c
doc_examples_line_allowlist_CPPFLAGS =
doc_examples_line_allowlist_CFLAGS = $(WARN_CFLAGS)
doc_examples_line_allowlist_LDFLAGS = $(HARDEN_LDFLAGS)

# the kit's example that changes the data, built as a third party would
# against the kit (here the in-tree one, as <qrexec-proxy/qpf.h>)
doc_examples_uppercase_SOURCES = doc/examples/uppercase.c
doc_examples_uppercase_CPPFLAGS = -I$(builddir)/t/include
doc_examples_uppercase_CFLAGS = $(WARN_CFLAGS) $(SECCOMP_CFLAGS)
# locks itself down: no sanitizer runtime, which needs more system calls
doc_examples_uppercase_LDFLAGS = $(HARDEN_LDFLAGS)
doc_examples_uppercase_LDADD = filters/kit/libqrexec-proxy-filter.a $(SECCOMP_LIBS)
BUILT_SOURCES += t/include/qrexec-proxy/qpf.h t/include/qrexec-proxy/qpf-contract.h
CLEANFILES += t/include/qrexec-proxy/qpf.h t/include/qrexec-proxy/qpf-contract.h
t/include/qrexec-proxy/qpf.h: $(top_srcdir)/filters/kit/qpf.h
	$(MKDIR_P) t/include/qrexec-proxy
	cp $(top_srcdir)/filters/kit/qpf.h $@
t/include/qrexec-proxy/qpf-contract.h: $(top_srcdir)/filters/kit/qpf-contract.h
	$(MKDIR_P) t/include/qrexec-proxy
	cp $(top_srcdir)/filters/kit/qpf-contract.h $@

# the chain examples of the man pages, checked by qrexec-proxy check (the steps' own argument checks)
QP_TESTS += t/check-man-examples.py
EXTRA_DIST += t/check-man-examples.py

# a kit filter marked QPF_PRESTART that logs its environment (t/check_warm.c)
QP_CHECK_PROGS += t/env-filter
t_env_filter_SOURCES = t/env-filter.c
t_env_filter_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/filters/kit
t_env_filter_CFLAGS = $(WARN_CFLAGS) $(SECCOMP_CFLAGS)
t_env_filter_LDFLAGS = $(HARDEN_LDFLAGS)
t_env_filter_LDADD = filters/kit/libqrexec-proxy-filter.a $(SECCOMP_LIBS)

# filecopy-guard between a sender and a receiver of the qubes.Filecopy
# format written for the tests (t/filecopy-stream), real processes on pipes
QP_CHECK_PROGS += t/check_filecopy t/filecopy-stream
QP_TESTS += t/check_filecopy
t_check_filecopy_SOURCES = t/check_filecopy.c
t_check_filecopy_CFLAGS = $(TEST_CFLAGS)
t_check_filecopy_LDADD = t/libtestutil.a $(TEST_LIBS)
t_filecopy_stream_SOURCES = t/filecopy-stream.c

# http-allow fed directly, then with tinyproxy, curl, apt-get and openssl
# s_server through qrexec-proxy run (t/tcp-relay at both ends)
QP_CHECK_PROGS += t/check_http_allow t/tcp-relay
QP_TESTS += t/check_http_allow
t_check_http_allow_SOURCES = t/check_http_allow.c
t_check_http_allow_CFLAGS = $(TEST_CFLAGS)
t_check_http_allow_LDADD = t/libtestutil.a $(TEST_LIBS)
t_tcp_relay_SOURCES = t/tcp-relay.c
