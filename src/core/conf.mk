# Configuration: YAML tree, typed getters, overrides, option tables.
core_libhilnas_la_SOURCES += core/config.c core/options.c
pkginclude_HEADERS += include/hilnas/conf.h
