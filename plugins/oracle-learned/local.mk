pkglib_LTLIBRARIES += plugins/oracle-learned.la
plugins_oracle_learned_la_SOURCES = plugins/oracle-learned/learned.c \
	plugins/oracle-learned/latency_model.c plugins/oracle-learned/latency_model.h
plugins_oracle_learned_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_oracle_learned_la_LIBADD = $(HN_COST_LIBS) $(HN_CORE_LIBS) \
	$(OPENBLAS_LIBS)
