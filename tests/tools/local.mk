# tools tests: the hilnas command line (run, validate, llm commands, export, report, progress,
# prepare, man page) and hilnas-bench.
# `hilnas run` end to end: studies, resume, outputs, exit codes.
check_PROGRAMS += tests/tools/test_cli_run
TESTS += tests/tools/test_cli_run
tests_tools_test_cli_run_SOURCES = tests/tools/test_cli_run.c tests/core/testutil.c
tests_tools_test_cli_run_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_cli_run_LDADD = $(HN_TEST_LIBS)
# the malformed-study fixtures (tests/data/config/) through `hilnas validate`
check_PROGRAMS += tests/tools/test_config_cli
TESTS += tests/tools/test_config_cli
tests_tools_test_config_cli_SOURCES = tests/tools/test_config_cli.c tests/core/testutil.c
tests_tools_test_config_cli_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_config_cli_LDADD = $(HN_TEST_LIBS)
# hilnas pretrain / eval / generate (tools/cmd_llm.c)
check_PROGRAMS += tests/tools/test_llm_cli
TESTS += tests/tools/test_llm_cli
tests_tools_test_llm_cli_SOURCES = tests/tools/test_llm_cli.c
tests_tools_test_llm_cli_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_llm_cli_LDADD = $(HN_TEST_LIBS)
# `hilnas export` (and the models evaluators keep for it).
check_PROGRAMS += tests/tools/test_export
TESTS += tests/tools/test_export
tests_tools_test_export_SOURCES = tests/tools/test_export.c tests/core/testutil.c \
	tests/llm/fixtures.c tests/llm/fixtures.h
tests_tools_test_export_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_export_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
EXTRA_DIST += tests/llm/gguf_reader.py
EXTRA_DIST += scripts/llamacpp-latency.sh
check_PROGRAMS += tests/llm/test_gguf
TESTS += tests/llm/test_gguf
tests_llm_test_gguf_SOURCES = tests/llm/test_gguf.c
tests_llm_test_gguf_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_gguf_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS)
EXTRA_DIST += bench/llamacpp/backbone.json bench/llamacpp/study.yaml bench/llamacpp/run.sh bench/llamacpp/compare.py
check_PROGRAMS += tests/tools/test_prepare
TESTS += tests/tools/test_prepare
tests_tools_test_prepare_SOURCES = tests/tools/test_prepare.c tests/core/testutil.c
tests_tools_test_prepare_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_prepare_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/tools/test_progress
TESTS += tests/tools/test_progress
tests_tools_test_progress_SOURCES = tests/tools/test_progress.c tests/core/testutil.c
tests_tools_test_progress_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_progress_LDADD = $(HN_TEST_LIBS) -lutil
check_PROGRAMS += tests/tools/test_report
TESTS += tests/tools/test_report
tests_tools_test_report_SOURCES = tests/tools/test_report.c tests/core/testutil.c
tests_tools_test_report_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_report_LDADD = $(HN_TEST_LIBS)
# hilnas(1): renders cleanly, is the plugins' own option tables, covers every command.
TESTS += tests/tools/test_man.sh
EXTRA_DIST += tests/tools/test_man.sh
check_PROGRAMS += tests/tools/test_hilnas_bench
TESTS += tests/tools/test_hilnas_bench
tests_tools_test_hilnas_bench_SOURCES = tests/tools/test_hilnas_bench.c tests/core/testutil.c
tests_tools_test_hilnas_bench_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_tools_test_hilnas_bench_LDADD = $(HN_TEST_LIBS)
