pkglib_LTLIBRARIES += plugins/oracle-host.la
plugins_oracle_host_la_SOURCES = plugins/oracle-host/host.c
plugins_oracle_host_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
plugins_oracle_host_la_LDFLAGS = $(HN_PLUGIN_FLAGS) $(OPENMP_CFLAGS)
plugins_oracle_host_la_LIBADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) \
	$(OPENBLAS_LIBS)
