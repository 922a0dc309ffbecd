# bench programs: EXTRA_PROGRAMS += bench/x; HN_BENCH += bench/x
# gpbo against Sobol on standard test problems (docs/benchmarks.md, section Optimizers)
EXTRA_PROGRAMS += bench/bench_optimizers
HN_BENCH += bench/bench_optimizers
bench_bench_optimizers_SOURCES = bench/bench_optimizers.c plugins/evaluator-testfn/testfn.c
bench_bench_optimizers_CPPFLAGS = $(AM_CPPFLAGS)
bench_bench_optimizers_LDADD = $(HN_CORE_LIBS) $(LAPACKE_LIBS) $(OPENBLAS_LIBS) -lm
CLEANFILES += bench/bench_optimizers
# transformer engine throughput (docs/benchmarks.md, section Transformer engine)
EXTRA_PROGRAMS += bench/bench_llm
HN_BENCH += bench/bench_llm
bench_bench_llm_SOURCES = bench/bench_llm.c
bench_bench_llm_LDADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) $(OPENBLAS_LIBS) \
	$(JANSSON_LIBS) -lm
CLEANFILES += bench/bench_llm
# one matrix-vector product per precision and kernel width, in cache (docs/benchmarks.md)
EXTRA_PROGRAMS += bench/bench_qmat
HN_BENCH += bench/bench_qmat
bench_bench_qmat_SOURCES = bench/bench_qmat.c
bench_bench_qmat_LDADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) -lm
CLEANFILES += bench/bench_qmat
# exact hypervolume (WFG) seconds for 50..200 points in 3..5 objectives
EXTRA_PROGRAMS += bench/bench_hypervolume
HN_BENCH += bench/bench_hypervolume
bench_bench_hypervolume_SOURCES = bench/bench_hypervolume.c
bench_bench_hypervolume_LDADD = $(HN_CORE_LIBS) -lm
CLEANFILES += bench/bench_hypervolume
# GP surrogate: fit (1 and 2 threads), predict, gradient, fantasy, LOO seconds at n = 50/200/500
EXTRA_PROGRAMS += bench/bench_gp
HN_BENCH += bench/bench_gp
bench_bench_gp_SOURCES = bench/bench_gp.c
bench_bench_gp_LDADD = $(HN_CORE_LIBS) $(OPENBLAS_LIBS) -lm
CLEANFILES += bench/bench_gp
# README's first command from a fresh clone, phase by phase (docs/benchmarks.md, "Quick start")
EXTRA_DIST += bench/quickstart.sh
# latency-model accuracy tables from studies (bench/latency/run.sh; docs/latency.md)
EXTRA_PROGRAMS += bench/latency/bench_latency
HN_BENCH += bench/latency/bench_latency
bench_latency_bench_latency_SOURCES = bench/latency/bench_latency.c
bench_latency_bench_latency_LDADD = $(HN_CORE_LIBS) $(JANSSON_LIBS) -lm
CLEANFILES += bench/latency/bench_latency
EXTRA_DIST += bench/latency/run.sh bench/latency/active.sh bench/latency/predict_time.sh \
	bench/latency/predict_time_ab.sh bench/latency/instances.sh bench/latency/pairs.sh \
	bench/latency/flash-verify.sh bench/latency/backbone.json bench/latency/pruning.json
# quality of pruned candidates (docs/method.md, "Evidence"): selection, fidelity, search against
# sampling, the headline (search.sh + headline.sh on the 8 M backbone; demo-headline.sh on
# conf.d/demo.yaml across seeds; near-backbone.sh reads any finished study)
EXTRA_DIST += bench/quality/csvcol.awk bench/quality/space.inc bench/quality/selection.sh \
	bench/quality/fidelity.sh bench/quality/search.sh bench/quality/headline.sh \
	bench/quality/near-backbone.sh bench/quality/demo-headline.sh bench/quality/recipe.sh
# gpbo's acquisition optimization on the binary-heavy testfn `layers`, against the exact maximum
# (docs/benchmarks.md, "Binary-heavy spaces"); gpbo's sources compiled in, as in its tests
EXTRA_PROGRAMS += bench/bench_acqopt
HN_BENCH += bench/bench_acqopt
bench_bench_acqopt_SOURCES = bench/bench_acqopt.c plugins/evaluator-testfn/testfn.c \
	plugins/optimizer-gpbo/gpbo.c plugins/optimizer-gpbo/state.c \
	plugins/optimizer-gpbo/acquisition.c plugins/optimizer-gpbo/models.c \
	plugins/optimizer-gpbo/search.c
bench_bench_acqopt_CPPFLAGS = $(AM_CPPFLAGS)
bench_bench_acqopt_LDADD = $(HN_CORE_LIBS) $(JANSSON_LIBS) $(NLOPT_LIBS) $(LAPACKE_LIBS) $(OPENBLAS_LIBS) -lm
CLEANFILES += bench/bench_acqopt
