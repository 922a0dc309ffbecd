# optimizer "gpbo": Bayesian optimization on the GP surrogate (src/core/gp.c).
pkglib_LTLIBRARIES += plugins/optimizer-gpbo.la
plugins_optimizer_gpbo_la_SOURCES = plugins/optimizer-gpbo/gpbo.c plugins/optimizer-gpbo/gpbo.h plugins/optimizer-gpbo/state.c \
	plugins/optimizer-gpbo/acquisition.c plugins/optimizer-gpbo/acquisition.h \
	plugins/optimizer-gpbo/models.c plugins/optimizer-gpbo/search.c plugins/optimizer-gpbo/models.h
plugins_optimizer_gpbo_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_optimizer_gpbo_la_LIBADD = $(HN_CORE_LIBS) $(NLOPT_LIBS) $(LAPACKE_LIBS) $(OPENBLAS_LIBS) -lm
