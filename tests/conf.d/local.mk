# the example studies of conf.d
check_PROGRAMS += tests/conf.d/test_latency_studies
TESTS += tests/conf.d/test_latency_studies
tests_conf_d_test_latency_studies_SOURCES = tests/conf.d/test_latency_studies.c tests/core/testutil.c
tests_conf_d_test_latency_studies_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_conf_d_test_latency_studies_LDADD = $(HN_TEST_LIBS)
# every conf.d study runs for real, shrunk with --set (and a check that none is left out)
check_PROGRAMS += tests/conf.d/test_studies
TESTS += tests/conf.d/test_studies
tests_conf_d_test_studies_SOURCES = tests/conf.d/test_studies.c tests/core/testutil.c
tests_conf_d_test_studies_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_conf_d_test_studies_LDADD = $(HN_TEST_LIBS)
