pkglib_LTLIBRARIES += plugins/space-transformer.la
plugins_space_transformer_la_SOURCES = plugins/space-transformer/transformer.c
plugins_space_transformer_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_space_transformer_la_LIBADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) \
	$(OPENBLAS_LIBS)
