# Criterion test programs. Each area adds to check_PROGRAMS and TESTS in its fragment.
HN_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(CRITERION_CFLAGS) -DHN_TEST_SRCDIR='"$(abs_top_srcdir)/tests"'
HN_TEST_LIBS = $(HN_CORE_LIBS) $(CRITERION_LIBS) $(JANSSON_LIBS) -lm
EXTRA_DIST += $(wildcard $(srcdir)/tests/data/*/*) $(wildcard $(srcdir)/tests/data/*/*/*)

include tests/core/local.mk
include tests/core/conf.mk
include tests/core/numerics.mk
include tests/core/gp.mk
include tests/llm/local.mk
include tests/plugins/local.mk
include tests/tools/local.mk
include tests/fuzz/local.mk
include tests/conf.d/local.mk
include tests/examples/local.mk
