# llm input/output tests: config.json, safetensors (incl. malformed and mutated files), byte
# tokens, batches and `hilnas tokenize` (fixtures in tests/data/llm/).
check_PROGRAMS += tests/llm/test_config tests/llm/test_safetensors tests/llm/test_tokens
TESTS += tests/llm/test_config tests/llm/test_safetensors tests/llm/test_tokens
tests_llm_test_config_SOURCES = tests/llm/test_config.c tests/core/testutil.c
tests_llm_test_config_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_config_LDADD = $(HN_COST_LIBS) $(HN_TEST_LIBS)
tests_llm_test_safetensors_SOURCES = tests/llm/test_safetensors.c tests/core/testutil.c
tests_llm_test_safetensors_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_safetensors_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS)
tests_llm_test_tokens_SOURCES = tests/llm/test_tokens.c tests/core/testutil.c
tests_llm_test_tokens_CPPFLAGS = $(HN_TEST_CPPFLAGS)
tests_llm_test_tokens_LDADD = $(HN_LLM_LIBS) $(HN_TEST_LIBS)
