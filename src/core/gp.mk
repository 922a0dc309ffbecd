# The Gaussian-process surrogate (issue: gpbo); shared with the learned latency oracle.
core_libhilnas_la_SOURCES += core/gp.c
pkginclude_HEADERS += include/hilnas/gp.h
