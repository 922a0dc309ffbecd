pkglib_LTLIBRARIES += plugins/space-box.la
plugins_space_box_la_SOURCES = plugins/space-box/box.c
plugins_space_box_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_space_box_la_LIBADD = $(HN_CORE_LIBS)
