# Configuration: YAML tree, typed getters, overrides, option tables.
src_core_libhilnas_la_SOURCES += src/core/config.c src/core/options.c
pkginclude_HEADERS += include/hilnas/conf.h
