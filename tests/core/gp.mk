check_PROGRAMS += tests/core/test_gp
TESTS += tests/core/test_gp
tests_core_test_gp_SOURCES = tests/core/test_gp.c
tests_core_test_gp_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_gp_LDADD = $(HN_TEST_LIBS)
