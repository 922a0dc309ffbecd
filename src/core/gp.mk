# The Gaussian-process surrogate (issue: gpbo); shared with the learned latency oracle.
src_core_libhilnas_la_SOURCES += src/core/gp.c
pkginclude_HEADERS += include/hilnas/gp.h
