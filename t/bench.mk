# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: ratios against no proxy and against cat pipes (t/bench/bench.c),
# then the guards against pass (t/bench/guards.c)
EXTRA_PROGRAMS = t/bench/bench t/bench/sink t/bench/guards
t_bench_bench_SOURCES = t/bench/bench.c t/bench/bench.h t/bench/percall.c
t_bench_sink_SOURCES = t/bench/sink.c
t_bench_guards_SOURCES = t/bench/guards.c
CLEANFILES += t/bench/bench t/bench/sink t/bench/guards

bench: all t/bench/bench t/bench/sink t/bench/guards
	QP_BUILDDIR='$(abs_top_builddir)' t/bench/bench $(BENCH_ARGS)
	QP_BUILDDIR='$(abs_top_builddir)' t/bench/guards $(GUARDS_ARGS)
bench-quick: all t/bench/bench t/bench/sink t/bench/guards
	QP_BUILDDIR='$(abs_top_builddir)' t/bench/bench --quick
	QP_BUILDDIR='$(abs_top_builddir)' t/bench/guards --quick
# the guards alone: make bench-guards (GUARDS_ARGS="--runs 9")
bench-guards: all t/bench/guards
	QP_BUILDDIR='$(abs_top_builddir)' t/bench/guards $(GUARDS_ARGS)
.PHONY: bench bench-quick bench-guards
