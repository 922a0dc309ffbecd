# llm/ input and output: model configuration (in libhilnas-cost), safetensors, byte tokens, GGUF.
llm_libhilnas_llm_la_SOURCES += llm/safetensors.c llm/tokens.c llm/gguf.c
hilnas_llminclude_HEADERS += include/hilnas/llm/llm_config.h include/hilnas/llm/safetensors.h \
	include/hilnas/llm/tokens.h include/hilnas/llm/gguf.h
