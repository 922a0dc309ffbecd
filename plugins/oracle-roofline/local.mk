pkglib_LTLIBRARIES += plugins/oracle-roofline.la
plugins_oracle_roofline_la_SOURCES = plugins/oracle-roofline/roofline.c \
	plugins/oracle-learned/latency_model.c plugins/oracle-learned/latency_model.h
plugins_oracle_roofline_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_oracle_roofline_la_LIBADD = $(HN_COST_LIBS) $(HN_CORE_LIBS) \
	$(OPENBLAS_LIBS)
