# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: ratios against no proxy and against cat pipes (t/bench/bench.c)
EXTRA_PROGRAMS = t/bench/bench t/bench/sink
t_bench_bench_SOURCES = t/bench/bench.c t/bench/bench.h t/bench/percall.c
t_bench_sink_SOURCES = t/bench/sink.c
CLEANFILES += t/bench/bench t/bench/sink

bench: all t/bench/bench t/bench/sink
	QP_BUILDDIR='$(abs_top_builddir)' t/bench/bench $(BENCH_ARGS)
bench-quick: all t/bench/bench t/bench/sink
	QP_BUILDDIR='$(abs_top_builddir)' t/bench/bench --quick
.PHONY: bench bench-quick
