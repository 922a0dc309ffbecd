# Plugin tests, one folder per plugin as in plugins/ (tests/plugins/<kind>-<name>/); tests of
# all plugins together stay here. The gpbo optimizer's tests are built from gpbo.mk.

# evaluator-testfn: the test problems and their exact minima
check_PROGRAMS += tests/plugins/evaluator-testfn/test_testfn
TESTS += tests/plugins/evaluator-testfn/test_testfn
tests_plugins_evaluator_testfn_test_testfn_SOURCES = \
	tests/plugins/evaluator-testfn/test_testfn.c plugins/evaluator-testfn/testfn.c
tests_plugins_evaluator_testfn_test_testfn_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_evaluator_testfn_test_testfn_LDADD = $(HN_TEST_LIBS)

# optimizer-random: in-process and through the command line
check_PROGRAMS += tests/plugins/optimizer-random/test_random \
	tests/plugins/optimizer-random/test_random_cli
TESTS += tests/plugins/optimizer-random/test_random tests/plugins/optimizer-random/test_random_cli
tests_plugins_optimizer_random_test_random_SOURCES = \
	tests/plugins/optimizer-random/test_random.c plugins/optimizer-random/random.c
tests_plugins_optimizer_random_test_random_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_optimizer_random_test_random_LDADD = $(HN_TEST_LIBS)
tests_plugins_optimizer_random_test_random_cli_SOURCES = \
	tests/plugins/optimizer-random/test_random_cli.c tests/core/testutil.c \
	plugins/evaluator-testfn/testfn.c
tests_plugins_optimizer_random_test_random_cli_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_optimizer_random_test_random_cli_LDADD = $(HN_TEST_LIBS)

# optimizer-gpbo
include tests/plugins/gpbo.mk

# optimizer-active
check_PROGRAMS += tests/plugins/optimizer-active/test_active
TESTS += tests/plugins/optimizer-active/test_active
tests_plugins_optimizer_active_test_active_SOURCES = \
	tests/plugins/optimizer-active/test_active.c tests/core/testutil.c
tests_plugins_optimizer_active_test_active_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_optimizer_active_test_active_LDADD = $(HN_TEST_LIBS)

# space-transformer
check_PROGRAMS += tests/plugins/space-transformer/test_transformer
TESTS += tests/plugins/space-transformer/test_transformer
tests_plugins_space_transformer_test_transformer_SOURCES = \
	tests/plugins/space-transformer/test_transformer.c tests/core/testutil.c
tests_plugins_space_transformer_test_transformer_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_space_transformer_test_transformer_LDADD = $(HN_TEST_LIBS)

# oracle-learned: the plugin through studies, and its latency model in-process
check_PROGRAMS += tests/plugins/oracle-learned/test_learned \
	tests/plugins/oracle-learned/test_latency_model
TESTS += tests/plugins/oracle-learned/test_learned tests/plugins/oracle-learned/test_latency_model
tests_plugins_oracle_learned_test_learned_SOURCES = \
	tests/plugins/oracle-learned/test_learned.c tests/core/testutil.c \
	plugins/evaluator-testfn/testfn.c
tests_plugins_oracle_learned_test_learned_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_oracle_learned_test_learned_LDADD = $(HN_TEST_LIBS)
tests_plugins_oracle_learned_test_latency_model_SOURCES = \
	tests/plugins/oracle-learned/test_latency_model.c tests/core/testutil.c \
	plugins/oracle-learned/latency_model.c
tests_plugins_oracle_learned_test_latency_model_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_oracle_learned_test_latency_model_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) \
	$(OPENBLAS_LIBS)
if HN_MPIRUN
tests_plugins_oracle_learned_test_latency_model_CPPFLAGS += -DHN_TEST_MPIRUN='"$(MPIRUN)"'
endif

# evaluator-pruned
check_PROGRAMS += tests/plugins/evaluator-pruned/test_pruned
TESTS += tests/plugins/evaluator-pruned/test_pruned
tests_plugins_evaluator_pruned_test_pruned_SOURCES = \
	tests/plugins/evaluator-pruned/test_pruned.c tests/core/testutil.c \
	tests/llm/fixtures.c tests/llm/fixtures.h
tests_plugins_evaluator_pruned_test_pruned_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_evaluator_pruned_test_pruned_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS) $(OPENBLAS_LIBS)

# oracle-device
check_PROGRAMS += tests/plugins/oracle-device/test_device
TESTS += tests/plugins/oracle-device/test_device
tests_plugins_oracle_device_test_device_SOURCES = \
	tests/plugins/oracle-device/test_device.c tests/core/testutil.c
tests_plugins_oracle_device_test_device_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_oracle_device_test_device_LDADD = $(HN_TEST_LIBS)
if HN_MPIRUN
tests_plugins_oracle_device_test_device_CPPFLAGS += -DHN_TEST_MPIRUN='"$(MPIRUN)"'
endif

# oracle-host
check_PROGRAMS += tests/plugins/oracle-host/test_host
TESTS += tests/plugins/oracle-host/test_host
tests_plugins_oracle_host_test_host_SOURCES = \
	tests/plugins/oracle-host/test_host.c tests/core/testutil.c
tests_plugins_oracle_host_test_host_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_oracle_host_test_host_LDADD = $(HN_TEST_LIBS)

# every plugin module: descriptors, option tables, loading
check_PROGRAMS += tests/plugins/test_plugin_modules
TESTS += tests/plugins/test_plugin_modules
tests_plugins_test_plugin_modules_SOURCES = tests/plugins/test_plugin_modules.c \
	plugins/evaluator-testfn/testfn.c
tests_plugins_test_plugin_modules_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_test_plugin_modules_LDADD = $(HN_TEST_LIBS)
# Plugins and the engine use only the public headers (no core/ include).
TESTS += tests/plugins/test_includes.sh
EXTRA_DIST += tests/plugins/test_includes.sh
