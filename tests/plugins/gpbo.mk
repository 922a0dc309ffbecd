# Tests of the gpbo optimizer (tests/plugins/optimizer-gpbo/): acquisition math, and the
# plugin driven in-process and through the command line.
GPBO_TEST_SOURCES = plugins/optimizer-gpbo/gpbo.c plugins/optimizer-gpbo/state.c \
	plugins/optimizer-gpbo/acquisition.c \
	plugins/optimizer-gpbo/models.c plugins/optimizer-gpbo/search.c
check_PROGRAMS += tests/plugins/optimizer-gpbo/test_gpbo_acq tests/plugins/optimizer-gpbo/test_gpbo
TESTS += tests/plugins/optimizer-gpbo/test_gpbo_acq tests/plugins/optimizer-gpbo/test_gpbo
tests_plugins_optimizer_gpbo_test_gpbo_acq_SOURCES = tests/plugins/optimizer-gpbo/test_gpbo_acq.c \
	plugins/optimizer-gpbo/acquisition.c
tests_plugins_optimizer_gpbo_test_gpbo_acq_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_optimizer_gpbo_test_gpbo_acq_LDADD = $(HN_TEST_LIBS) $(NLOPT_LIBS) $(LAPACKE_LIBS)
tests_plugins_optimizer_gpbo_test_gpbo_SOURCES = tests/plugins/optimizer-gpbo/test_gpbo.c \
	$(GPBO_TEST_SOURCES) plugins/evaluator-testfn/testfn.c
tests_plugins_optimizer_gpbo_test_gpbo_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_optimizer_gpbo_test_gpbo_LDADD = $(HN_TEST_LIBS) $(NLOPT_LIBS) $(LAPACKE_LIBS) \
	$(OPENBLAS_LIBS)
check_PROGRAMS += tests/plugins/optimizer-gpbo/test_gpbo_cli
TESTS += tests/plugins/optimizer-gpbo/test_gpbo_cli
tests_plugins_optimizer_gpbo_test_gpbo_cli_SOURCES = tests/plugins/optimizer-gpbo/test_gpbo_cli.c \
	tests/core/testutil.c
tests_plugins_optimizer_gpbo_test_gpbo_cli_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_plugins_optimizer_gpbo_test_gpbo_cli_LDADD = $(HN_TEST_LIBS)
