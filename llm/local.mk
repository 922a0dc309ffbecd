# llm/: the transformer engine, an internal (convenience) library linked into the CLI, the
# benchmarks, the tests and the transformer plugins.
noinst_LTLIBRARIES += llm/libhnllm.la
llm_libhnllm_la_SOURCES = llm/adamw.c llm/checkpoint.c llm/checkpoint.h llm/cost.c llm/cost.h \
	llm/decode.c llm/decode.h llm/model.c llm/model.h llm/ops.c llm/ops.h llm/qmat.c llm/qmat.h \
	llm/train.c llm/train.h \
	llm/importance.c llm/importance.h
llm_libhnllm_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
llm_libhnllm_la_LIBADD = $(HN_CORE_LIBS) $(OPENBLAS_LIBS) $(JANSSON_LIBS) -lm
include llm/io.mk
