pkglib_LTLIBRARIES += plugins/evaluator-pruned.la
plugins_evaluator_pruned_la_SOURCES = plugins/evaluator-pruned/pruned.c
plugins_evaluator_pruned_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_evaluator_pruned_la_LIBADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) \
	$(OPENBLAS_LIBS)
