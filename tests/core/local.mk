# Core tests of the lead's area: journal, registry, study runner (through the real CLI).

# Test-only plugin modules (shared objects, never installed).
HN_TEST_PLUGIN_FLAGS = -module -avoid-version -shared -rpath /nowhere
check_LTLIBRARIES += tests/plugins-test/evaluator-failctor.la \
	tests/plugins-test/optimizer-wrongabi.la \
	tests/plugins-test/space-wrongkind.la \
	tests/plugins-test/optimizer-smalltable.la \
	tests/plugins-test/optimizer-nosymbol.la \
	tests/plugins-test/optimizer-wrongsig.la \
	tests/plugins-test/optimizer-smalldesc.la \
	tests/plugins-test/optimizer-newer.la \
	tests/plugins-test/executor-oldtable.la \
	tests/plugins-test/evaluator-sleepy.la \
	tests/plugins-test/evaluator-faulty.la
tests_plugins_test_evaluator_failctor_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_evaluator_failctor_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_FAILCTOR
tests_plugins_test_evaluator_failctor_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_optimizer_wrongabi_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_optimizer_wrongabi_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_WRONGABI
tests_plugins_test_optimizer_wrongabi_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_space_wrongkind_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_space_wrongkind_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_WRONGKIND
tests_plugins_test_space_wrongkind_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_optimizer_smalltable_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_optimizer_smalltable_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_SMALLTABLE
tests_plugins_test_optimizer_smalltable_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_optimizer_nosymbol_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_optimizer_nosymbol_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_NOSYMBOL
tests_plugins_test_optimizer_nosymbol_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_optimizer_wrongsig_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_optimizer_wrongsig_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_WRONGSIG
tests_plugins_test_optimizer_wrongsig_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_optimizer_smalldesc_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_optimizer_smalldesc_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_SMALLDESC
tests_plugins_test_optimizer_smalldesc_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_optimizer_newer_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_optimizer_newer_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_NEWER
tests_plugins_test_optimizer_newer_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_executor_oldtable_la_SOURCES = tests/plugins-test/bad.c
tests_plugins_test_executor_oldtable_la_CPPFLAGS = $(AM_CPPFLAGS) -DHN_BAD_OLDTABLE
tests_plugins_test_executor_oldtable_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_evaluator_sleepy_la_SOURCES = tests/plugins-test/sleepy.c
tests_plugins_test_evaluator_sleepy_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_evaluator_sleepy_la_LIBADD = $(HN_CORE_LIBS)
tests_plugins_test_evaluator_faulty_la_SOURCES = tests/plugins-test/faulty.c
tests_plugins_test_evaluator_faulty_la_LDFLAGS = $(HN_TEST_PLUGIN_FLAGS)
tests_plugins_test_evaluator_faulty_la_LIBADD = $(HN_CORE_LIBS)

# src/core/ has no dependency cycle; signals and launchers stay out of the library
TESTS += tests/core/test_layers.sh
EXTRA_DIST += tests/core/test_layers.sh

check_PROGRAMS += tests/core/test_journal
TESTS += tests/core/test_journal
tests_core_test_journal_SOURCES = tests/core/test_journal.c tests/core/testutil.c tests/core/testutil.h
tests_core_test_journal_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_journal_LDADD = $(HN_TEST_LIBS)


check_PROGRAMS += tests/core/test_registry
TESTS += tests/core/test_registry
tests_core_test_registry_SOURCES = tests/core/test_registry.c tests/core/testutil.c
tests_core_test_registry_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_registry_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/core/test_instance
TESTS += tests/core/test_instance
tests_core_test_instance_SOURCES = tests/core/test_instance.c tests/core/testutil.c
tests_core_test_instance_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_instance_LDADD = $(HN_TEST_LIBS) $(PTHREAD_LIBS)
check_PROGRAMS += tests/core/test_executors
TESTS += tests/core/test_executors
tests_core_test_executors_SOURCES = tests/core/test_executors.c tests/core/testutil.c
tests_core_test_executors_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_executors_LDADD = $(HN_TEST_LIBS)
if HN_MPIRUN
# the mpi executor's tests start real jobs with mpirun on this machine
tests_core_test_executors_CPPFLAGS += -DHN_TEST_MPIRUN='"$(MPIRUN)"'
endif

# reliability: hostile inputs, bad measurements, environment failures, damaged journals
check_PROGRAMS += tests/core/test_reliability
TESTS += tests/core/test_reliability
tests_core_test_reliability_SOURCES = tests/core/test_reliability.c tests/core/testutil.c
tests_core_test_reliability_CPPFLAGS = $(HN_TEST_CPPFLAGS)
if HN_MPIRUN
tests_core_test_reliability_CPPFLAGS += -DHN_TEST_MPIRUN='"$(MPIRUN)"'
endif
tests_core_test_reliability_LDADD = $(HN_TEST_LIBS)
check_PROGRAMS += tests/core/test_replay_exact
TESTS += tests/core/test_replay_exact
tests_core_test_replay_exact_SOURCES = tests/core/test_replay_exact.c tests/core/testutil.c
tests_core_test_replay_exact_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_replay_exact_LDADD = $(HN_TEST_LIBS)

# src/core/trial.c: metrics and their name index
check_PROGRAMS += tests/core/test_trial
TESTS += tests/core/test_trial
tests_core_test_trial_SOURCES = tests/core/test_trial.c
tests_core_test_trial_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_core_test_trial_LDADD = $(HN_TEST_LIBS)
