# llm input/output tests: config.json, safetensors (incl. malformed files), byte tokens.
check_PROGRAMS += tests/llm/test_io
TESTS += tests/llm/test_io
tests_llm_test_io_SOURCES = tests/llm/test_io.c tests/core/testutil.c
tests_llm_test_io_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_io_LDADD = $(top_builddir)/llm/libhnllm.la $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
