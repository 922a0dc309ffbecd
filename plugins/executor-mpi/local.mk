# Built when configure finds Open MPI (mpicc); --disable-executor-mpi skips it.
if HN_MPI
pkglib_LTLIBRARIES += plugins/executor-mpi.la
plugins_executor_mpi_la_SOURCES = plugins/executor-mpi/mpi.c
plugins_executor_mpi_la_CPPFLAGS = $(AM_CPPFLAGS) $(MPI_CFLAGS)
plugins_executor_mpi_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_executor_mpi_la_LIBADD = $(HN_CORE_LIBS) $(MPI_LIBS) -ldl
endif
