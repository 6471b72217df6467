# SPDX-License-Identifier: GPL-2.0-or-later
# make fuzz: libFuzzer (clang) on the descriptor parser, the configuration
# loader and the parsers of filecopy-guard and http-allow, FUZZ_SECONDS
# each (60), from the seed corpora in t/fuzz/corpus/.
# make fuzz-short: 20 s each, for CI. Both skip with a message without clang.
FUZZ_SECONDS = 60
FUZZ_TARGETS = t/fuzz/fuzz-descriptor t/fuzz/fuzz-descriptor-read t/fuzz/fuzz-config \
	t/fuzz/fuzz-filecopy t/fuzz/fuzz-http
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	$(AM_CPPFLAGS) -I$(top_srcdir)/orchestrator $(YAML_CFLAGS)
EXTRA_DIST += t/fuzz/fuzz_descriptor.c t/fuzz/fuzz_descriptor_read.c t/fuzz/fuzz_config.c t/fuzz/corpus \
	t/fuzz/fuzz_filecopy.c t/fuzz/fuzz_http.c
CLEANFILES += $(FUZZ_TARGETS)

# the configuration loader, every file of it, and the names it checks
FUZZ_CONFIG_SRCS = $(srcdir)/orchestrator/config.c $(srcdir)/orchestrator/config_yaml.c \
	$(srcdir)/orchestrator/config_query.c $(srcdir)/orchestrator/config_bounds.c $(srcdir)/orchestrator/names.c
t/fuzz/fuzz-descriptor: $(srcdir)/t/fuzz/fuzz_descriptor.c $(srcdir)/orchestrator/descriptor.c \
		$(srcdir)/orchestrator/transparent.c $(FUZZ_CONFIG_SRCS)
	$(AM_V_GEN)$(MKDIR_P) t/fuzz && $(CLANG) $(FUZZ_FLAGS) -o $@ $^ $(YAML_LIBS)
# descriptor_read over a socketpair: consumes up to the NUL and not one byte more
t/fuzz/fuzz-descriptor-read: $(srcdir)/t/fuzz/fuzz_descriptor_read.c $(srcdir)/orchestrator/descriptor.c \
		$(srcdir)/orchestrator/names.c
	$(AM_V_GEN)$(MKDIR_P) t/fuzz && $(CLANG) $(FUZZ_FLAGS) -o $@ $^
t/fuzz/fuzz-config: $(srcdir)/t/fuzz/fuzz_config.c $(FUZZ_CONFIG_SRCS)
	$(AM_V_GEN)$(MKDIR_P) t/fuzz && $(CLANG) $(FUZZ_FLAGS) -o $@ $^ $(YAML_LIBS)
# the filters' parsers: no kit, no libc beyond string functions
t/fuzz/fuzz-filecopy: $(srcdir)/t/fuzz/fuzz_filecopy.c $(srcdir)/filters/filecopy.c
	$(AM_V_GEN)$(MKDIR_P) t/fuzz && $(CLANG) $(FUZZ_FLAGS) -I$(top_srcdir)/filters -o $@ $^
t/fuzz/fuzz-http: $(srcdir)/t/fuzz/fuzz_http.c $(srcdir)/filters/http.c
	$(AM_V_GEN)$(MKDIR_P) t/fuzz && $(CLANG) $(FUZZ_FLAGS) -I$(top_srcdir)/filters -o $@ $^

fuzz:
	@if test -z "$(CLANG)"; then echo "fuzz: SKIP: clang not found (apt-get install clang)"; exit 0; fi; \
	$(MAKE) $(AM_MAKEFLAGS) $(FUZZ_TARGETS) && \
	for t in descriptor descriptor-read config filecopy http; do \
	  rm -rf t/fuzz/work-$$t && $(MKDIR_P) t/fuzz/work-$$t && cp $(srcdir)/t/fuzz/corpus/$$t/* t/fuzz/work-$$t/ && \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s" && \
	  t/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=t/fuzz/crash-$$t- t/fuzz/work-$$t 2>t/fuzz/fuzz-$$t.log || \
	    { tail -n 60 t/fuzz/fuzz-$$t.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|Done' t/fuzz/fuzz-$$t.log | tail -n 2; \
	done
fuzz-short:
	$(MAKE) $(AM_MAKEFLAGS) fuzz FUZZ_SECONDS=20
clean-local: clean-fuzz
clean-fuzz:
	rm -rf t/fuzz/work-* t/fuzz/crash-* t/fuzz/*.log
.PHONY: fuzz fuzz-short clean-fuzz
