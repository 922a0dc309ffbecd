pkglib_LTLIBRARIES += plugins/executor-threads.la
plugins_executor_threads_la_SOURCES = plugins/executor-threads/threads.c
plugins_executor_threads_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_executor_threads_la_LIBADD = $(HN_CORE_LIBS) $(PTHREAD_LIBS)
