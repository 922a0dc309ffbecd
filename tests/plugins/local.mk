check_PROGRAMS += tests/plugins/test_testfn tests/plugins/test_params tests/plugins/test_random_cli
TESTS += tests/plugins/test_testfn tests/plugins/test_params tests/plugins/test_random_cli
tests_plugins_test_testfn_SOURCES = tests/plugins/test_testfn.c plugins/evaluator-testfn/testfn.c
tests_plugins_test_testfn_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_testfn_LDADD = $(HN_TEST_LIBS)
tests_plugins_test_params_SOURCES = tests/plugins/test_params.c
tests_plugins_test_params_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_params_LDADD = $(HN_TEST_LIBS)
tests_plugins_test_random_cli_SOURCES = tests/plugins/test_random_cli.c tests/core/testutil.c \
	plugins/evaluator-testfn/testfn.c
tests_plugins_test_random_cli_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_random_cli_LDADD = $(HN_TEST_LIBS)
include tests/plugins/gpbo.mk
check_PROGRAMS += tests/plugins/test_random
TESTS += tests/plugins/test_random
tests_plugins_test_random_SOURCES = tests/plugins/test_random.c plugins/optimizer-random/random.c
tests_plugins_test_random_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_random_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/plugins/test_plugin_modules
TESTS += tests/plugins/test_plugin_modules
tests_plugins_test_plugin_modules_SOURCES = tests/plugins/test_plugin_modules.c \
	plugins/evaluator-testfn/testfn.c
tests_plugins_test_plugin_modules_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_plugin_modules_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/plugins/test_transformer
TESTS += tests/plugins/test_transformer
tests_plugins_test_transformer_SOURCES = tests/plugins/test_transformer.c tests/core/testutil.c
tests_plugins_test_transformer_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_transformer_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/plugins/test_learned
TESTS += tests/plugins/test_learned
tests_plugins_test_learned_SOURCES = tests/plugins/test_learned.c tests/core/testutil.c \
	plugins/evaluator-testfn/testfn.c
tests_plugins_test_learned_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_learned_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/plugins/test_pruned
TESTS += tests/plugins/test_pruned
tests_plugins_test_pruned_SOURCES = tests/plugins/test_pruned.c tests/core/testutil.c
tests_plugins_test_pruned_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_pruned_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)
check_PROGRAMS += tests/plugins/test_device
TESTS += tests/plugins/test_device
tests_plugins_test_device_SOURCES = tests/plugins/test_device.c tests/core/testutil.c
tests_plugins_test_device_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_device_LDADD = $(HN_TEST_LIBS)
if HN_MPIRUN
tests_plugins_test_device_CPPFLAGS += -DHN_TEST_MPIRUN='"$(MPIRUN)"'
endif
check_PROGRAMS += tests/plugins/test_latency_model
TESTS += tests/plugins/test_latency_model
tests_plugins_test_latency_model_SOURCES = tests/plugins/test_latency_model.c \
	tests/core/testutil.c plugins/oracle-learned/latency_model.c
tests_plugins_test_latency_model_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_latency_model_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) \
	$(OPENBLAS_LIBS)
if HN_MPIRUN
tests_plugins_test_latency_model_CPPFLAGS += -DHN_TEST_MPIRUN='"$(MPIRUN)"'
endif
check_PROGRAMS += tests/plugins/test_host
TESTS += tests/plugins/test_host
tests_plugins_test_host_SOURCES = tests/plugins/test_host.c tests/core/testutil.c
tests_plugins_test_host_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_host_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/plugins/test_active
TESTS += tests/plugins/test_active
tests_plugins_test_active_SOURCES = tests/plugins/test_active.c tests/core/testutil.c
tests_plugins_test_active_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_active_LDADD = $(HN_TEST_LIBS)
# Plugins and the engine use only the public headers (no core/ include).
TESTS += tests/plugins/test_includes.sh
EXTRA_DIST += tests/plugins/test_includes.sh
