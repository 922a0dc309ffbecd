# libhilnas: the core. Areas add their sources with += in src/core/*.mk.
lib_LTLIBRARIES += src/core/libhilnas.la
src_core_libhilnas_la_SOURCES = \
	src/core/error.c \
	src/core/executor_serial.c \
	src/core/instance.c \
	src/core/journal.c \
	src/core/log.c \
	src/core/params.c \
	src/core/plugin.c \
	src/core/progress.c \
	src/core/replay.c \
	src/core/report.c \
	src/core/study.c \
	src/core/study_run.c \
	src/core/trial.c \
	src/core/util.c
src_core_libhilnas_la_LIBADD = $(LTDL_LIBS) $(YAML_LIBS) $(JANSSON_LIBS) $(NLOPT_LIBS) \
	$(LAPACKE_LIBS) $(OPENBLAS_LIBS) $(PTHREAD_LIBS) -lm
src_core_libhilnas_la_LDFLAGS = -version-info 0:0:0 $(OPENMP_CFLAGS)
noinst_HEADERS += $(wildcard $(srcdir)/src/core/*.h)
pkginclude_HEADERS += \
	include/hilnas/error.h \
	include/hilnas/evaluator.h \
	include/hilnas/executor.h \
	include/hilnas/log.h \
	include/hilnas/optimizer.h \
	include/hilnas/pareto.h \
	include/hilnas/plugin.h \
	include/hilnas/progress.h \
	include/hilnas/rng.h \
	include/hilnas/sobol.h \
	include/hilnas/space.h \
	include/hilnas/study.h \
	include/hilnas/trial.h \
	include/hilnas/util.h

include src/core/conf.mk
include src/core/numerics.mk
include src/core/gp.mk
