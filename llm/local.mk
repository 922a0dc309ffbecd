# llm/: the transformer engine, as two installed shared libraries (docs/llm.md, "Libraries"):
#   libhilnas-cost  the model configuration (config.json) and what an architecture costs
#                   (parameters, FLOPs, bytes): small, no BLAS; the learned and roofline
#                   oracles link only this;
#   libhilnas-llm   the engine (kernels, model, training, decode, checkpoints, tokens,
#                   importance, GGUF), on top of libhilnas-cost; the CLI, the benchmarks and
#                   the transformer plugins link it.
# Both link the core (libhilnas: errors, logging, files). One copy of each per process, so the
# engine's settings (hn_llm_set_threads) are the same for the CLI and every plugin.
# Headers: include/hilnas/llm/, installed as <hilnas/llm/*.h> (pkg-config: hilnas-llm).
lib_LTLIBRARIES += llm/libhilnas-cost.la llm/libhilnas-llm.la
llm_libhilnas_cost_la_SOURCES = llm/llm_config.c llm/cost.c
llm_libhilnas_cost_la_LIBADD = $(HN_CORE_LIBS) $(JANSSON_LIBS) -lm
llm_libhilnas_cost_la_LDFLAGS = -version-info 0:0:0
llm_libhilnas_llm_la_SOURCES = llm/adamw.c llm/checkpoint.c llm/decode.c llm/model.c llm/ops.c \
	llm/qmat.c llm/train.c llm/importance.c llm/measure.c
llm_libhilnas_llm_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
llm_libhilnas_llm_la_LIBADD = llm/libhilnas-cost.la $(HN_CORE_LIBS) $(OPENBLAS_LIBS) \
	$(JANSSON_LIBS) -lm
llm_libhilnas_llm_la_LDFLAGS = -version-info 0:0:0 $(OPENMP_CFLAGS)
hilnas_llmincludedir = $(pkgincludedir)/llm
hilnas_llminclude_HEADERS = include/hilnas/llm/checkpoint.h include/hilnas/llm/cost.h \
	include/hilnas/llm/decode.h include/hilnas/llm/importance.h include/hilnas/llm/measure.h \
	include/hilnas/llm/model.h include/hilnas/llm/ops.h include/hilnas/llm/qmat.h \
	include/hilnas/llm/train.h
include llm/io.mk
