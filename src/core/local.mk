# libhilnas: the core. Areas add their sources with += in core/*.mk.
lib_LTLIBRARIES += core/libhilnas.la
core_libhilnas_la_SOURCES = \
	core/error.c \
	core/executor_serial.c \
	core/instance.c \
	core/journal.c \
	core/log.c \
	core/params.c \
	core/plugin.c \
	core/progress.c \
	core/replay.c \
	core/report.c \
	core/study.c \
	core/study_run.c \
	core/trial.c \
	core/util.c
core_libhilnas_la_LIBADD = $(LTDL_LIBS) $(YAML_LIBS) $(JANSSON_LIBS) $(NLOPT_LIBS) \
	$(LAPACKE_LIBS) $(OPENBLAS_LIBS) $(PTHREAD_LIBS) -lm
core_libhilnas_la_LDFLAGS = -version-info 0:0:0 $(OPENMP_CFLAGS)
noinst_HEADERS += $(wildcard $(srcdir)/core/*.h)
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

include core/conf.mk
include core/numerics.mk
include core/gp.mk
