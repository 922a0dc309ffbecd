pkglib_LTLIBRARIES += plugins/evaluator-testfn.la
plugins_evaluator_testfn_la_SOURCES = plugins/evaluator-testfn/evaluator.c \
	plugins/evaluator-testfn/testfn.c plugins/evaluator-testfn/testfn.h
plugins_evaluator_testfn_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_evaluator_testfn_la_LIBADD = $(HN_CORE_LIBS) -lm
