bin_PROGRAMS += tools/hilnas
tools_hilnas_SOURCES = tools/hilnas.c tools/cli.h tools/commands.def \
	tools/cmd_study.c tools/cmd_tokenize.c tools/cmd_llm.c \
	tools/prepare.c tools/prepare.h tools/progress.c tools/progress.h tools/report.c \
	tools/report.h tools/cmd_export.c tools/man.c
tools_hilnas_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
tools_hilnas_LDADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) $(OPENBLAS_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS) $(PTHREAD_LIBS) -lm

# hilnas-bench: the on-device latency program (docs/latency.md). The engine and the four core
# files it uses are compiled into it (not linked from a hilnas library): one binary to copy to
# a phone or board. tools/cross/build-bench.sh builds it for other CPUs (with llm/blas_plain.c
# where OpenBLAS is absent).
bin_PROGRAMS += tools/hilnas-bench
tools_hilnas_bench_SOURCES = tools/hilnas-bench.c llm/measure.c llm/model.c llm/decode.c llm/ops.c \
	llm/qmat.c llm/llm_config.c llm/cost.c llm/gguf.c llm/safetensors.c src/core/error.c \
	src/core/util.c src/core/log.c src/core/rng.c
tools_hilnas_bench_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
tools_hilnas_bench_LDADD = $(OPENBLAS_LIBS) $(JANSSON_LIBS) -lm
EXTRA_DIST += tools/cross/build-bench.sh tools/cross/cblas.h llm/blas_plain.c llm/blas_plain.h \
	scripts/adb-bench.sh
