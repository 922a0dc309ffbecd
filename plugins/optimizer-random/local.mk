pkglib_LTLIBRARIES += plugins/optimizer-random.la
plugins_optimizer_random_la_SOURCES = plugins/optimizer-random/random.c
plugins_optimizer_random_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_optimizer_random_la_LIBADD = $(HN_CORE_LIBS)
