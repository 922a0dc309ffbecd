# Numerics of the core: PRNG, Sobol sequences, Pareto fronts and hypervolume.
src_core_libhilnas_la_SOURCES += src/core/rng.c src/core/sobol.c src/core/sobol_directions.c \
	src/core/sobol_directions.h src/core/pareto.c
