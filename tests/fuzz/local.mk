# Fuzz harnesses (libFuzzer entry points) replayed over their seed corpora by the normal build:
# tests/fuzz/run.sh builds them with clang -fsanitize=fuzzer and fuzzes; docs/reliability.md.
HN_FUZZ_TARGETS = study_yaml set_path llm_config safetensors device_output journal
check_PROGRAMS += tests/fuzz/replay_study_yaml tests/fuzz/replay_set_path \
	tests/fuzz/replay_llm_config tests/fuzz/replay_safetensors tests/fuzz/replay_device_output \
	tests/fuzz/replay_journal
TESTS += tests/fuzz/replay_study_yaml tests/fuzz/replay_set_path tests/fuzz/replay_llm_config \
	tests/fuzz/replay_safetensors tests/fuzz/replay_device_output tests/fuzz/replay_journal
EXTRA_DIST += tests/fuzz/run.sh $(wildcard $(srcdir)/tests/fuzz/*/*)
tests_fuzz_replay_study_yaml_SOURCES = tests/fuzz/fuzz_study_yaml.c tests/fuzz/replay.c
tests_fuzz_replay_study_yaml_CPPFLAGS = $(AM_CPPFLAGS) -DHN_FUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/study_yaml"'
tests_fuzz_replay_study_yaml_LDADD = $(HN_CORE_LIBS)
tests_fuzz_replay_set_path_SOURCES = tests/fuzz/fuzz_set_path.c tests/fuzz/replay.c
tests_fuzz_replay_set_path_CPPFLAGS = $(AM_CPPFLAGS) -DHN_FUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/set_path"'
tests_fuzz_replay_set_path_LDADD = $(HN_CORE_LIBS)
tests_fuzz_replay_llm_config_SOURCES = tests/fuzz/fuzz_llm_config.c tests/fuzz/replay.c
tests_fuzz_replay_llm_config_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) -DHN_FUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/llm_config"'
tests_fuzz_replay_llm_config_LDADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) $(JANSSON_LIBS) -lm
tests_fuzz_replay_safetensors_SOURCES = tests/fuzz/fuzz_safetensors.c tests/fuzz/replay.c
tests_fuzz_replay_safetensors_CPPFLAGS = $(AM_CPPFLAGS) -DHN_FUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/safetensors"'
tests_fuzz_replay_safetensors_LDADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) -lm
tests_fuzz_replay_device_output_SOURCES = tests/fuzz/fuzz_device_output.c tests/fuzz/replay.c \
	plugins/oracle-device/parse.c
tests_fuzz_replay_device_output_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) -DHN_FUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/device_output"'
tests_fuzz_replay_device_output_LDADD = $(HN_CORE_LIBS) $(JANSSON_LIBS)
tests_fuzz_replay_journal_SOURCES = tests/fuzz/fuzz_journal.c tests/fuzz/replay.c
tests_fuzz_replay_journal_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) -DHN_FUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/journal"'
tests_fuzz_replay_journal_LDADD = $(HN_CORE_LIBS) $(JANSSON_LIBS)
