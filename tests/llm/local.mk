# llm tests: the engine (gradients, decode, checkpoints); its commands are tested in tests/tools/.
check_PROGRAMS += tests/llm/test_model tests/llm/test_qmat
TESTS += tests/llm/test_model tests/llm/test_qmat
tests_llm_test_model_SOURCES = tests/llm/test_model.c tests/core/testutil.c tests/llm/fixtures.c \
	tests/llm/fixtures.h
tests_llm_test_model_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_model_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
tests_llm_test_qmat_SOURCES = tests/llm/test_qmat.c tests/core/testutil.c tests/llm/fixtures.c \
	tests/llm/fixtures.h
tests_llm_test_qmat_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_qmat_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
include tests/llm/io.mk
EXTRA_DIST += tests/llm/llama_reference.py
check_PROGRAMS += tests/llm/test_cost
TESTS += tests/llm/test_cost
tests_llm_test_cost_SOURCES = tests/llm/test_cost.c
tests_llm_test_cost_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_cost_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
check_PROGRAMS += tests/llm/test_importance
TESTS += tests/llm/test_importance
tests_llm_test_importance_SOURCES = tests/llm/test_importance.c tests/core/testutil.c \
	tests/llm/fixtures.c tests/llm/fixtures.h
tests_llm_test_importance_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_importance_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
# The engine's thread setting is per calling thread; one shared engine for CLI and plugins.
check_PROGRAMS += tests/llm/test_threads
TESTS += tests/llm/test_threads tests/llm/test_libraries.sh
tests_llm_test_threads_SOURCES = tests/llm/test_threads.c
tests_llm_test_threads_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_threads_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += tests/llm/test_libraries.sh
check_PROGRAMS += tests/llm/test_blas_plain
TESTS += tests/llm/test_blas_plain
tests_llm_test_blas_plain_SOURCES = tests/llm/test_blas_plain.c llm/blas_plain.c llm/blas_plain.h
tests_llm_test_blas_plain_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_blas_plain_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
tests_llm_test_blas_plain_LDADD = $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
# The measurement protocol of the host oracle and hilnas-bench (llm/measure.c).
check_PROGRAMS += tests/llm/test_measure
TESTS += tests/llm/test_measure
tests_llm_test_measure_SOURCES = tests/llm/test_measure.c
tests_llm_test_measure_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_measure_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
