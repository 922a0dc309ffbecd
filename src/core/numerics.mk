# Numerics of the core: PRNG, Sobol sequences, Pareto fronts and hypervolume.
core_libhilnas_la_SOURCES += core/rng.c core/sobol.c core/sobol_directions.c \
	core/sobol_directions.h core/pareto.c
