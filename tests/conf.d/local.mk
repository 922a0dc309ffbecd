# the example studies of conf.d
check_PROGRAMS += tests/conf.d/test_latency_studies
TESTS += tests/conf.d/test_latency_studies
tests_conf_d_test_latency_studies_SOURCES = tests/conf.d/test_latency_studies.c tests/core/testutil.c
tests_conf_d_test_latency_studies_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_conf_d_test_latency_studies_LDADD = $(HN_TEST_LIBS)
