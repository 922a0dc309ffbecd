# Configuration tests: the YAML tree, typed getters, --set overrides, option tables.
# (tests/core/test_config_cli.c, the malformed-study fixtures through `hilnas validate`, is
# built from tests/core/local.mk.)
check_PROGRAMS += tests/core/test_conf tests/core/test_options
TESTS += tests/core/test_conf tests/core/test_options
tests_core_test_conf_SOURCES = tests/core/test_conf.c
tests_core_test_conf_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_conf_LDADD = $(HN_TEST_LIBS)
tests_core_test_options_SOURCES = tests/core/test_options.c
tests_core_test_options_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_options_LDADD = $(HN_TEST_LIBS)
