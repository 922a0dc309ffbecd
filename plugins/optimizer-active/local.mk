# optimizer "active": the next point where the latency model (oracle-learned) is least sure.
pkglib_LTLIBRARIES += plugins/optimizer-active.la
plugins_optimizer_active_la_SOURCES = plugins/optimizer-active/active.c \
	plugins/oracle-learned/latency_model.c plugins/oracle-learned/latency_model.h
plugins_optimizer_active_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_optimizer_active_la_LIBADD = $(HN_COST_LIBS) $(HN_CORE_LIBS) $(OPENBLAS_LIBS)
