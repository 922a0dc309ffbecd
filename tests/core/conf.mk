# Configuration tests: the YAML tree, typed getters, --set overrides, option tables.
# (tests/tools/test_config_cli.c runs the malformed-study fixtures through `hilnas validate`.)
check_PROGRAMS += tests/core/test_conf tests/core/test_options
TESTS += tests/core/test_conf tests/core/test_options
tests_core_test_conf_SOURCES = tests/core/test_conf.c
tests_core_test_conf_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_conf_LDADD = $(HN_TEST_LIBS)
tests_core_test_options_SOURCES = tests/core/test_options.c
tests_core_test_options_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_options_LDADD = $(HN_TEST_LIBS)
# src/core/params.c: parameter sets (parsing, unit-cube map, rounding, JSON, constraints)
check_PROGRAMS += tests/core/test_params
TESTS += tests/core/test_params
tests_core_test_params_SOURCES = tests/core/test_params.c
tests_core_test_params_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_params_LDADD = $(HN_TEST_LIBS)
