# llm/ input and output: model configuration, safetensors, byte tokens.
llm_libhnllm_la_SOURCES += llm/llm_config.c llm/llm_config.h llm/safetensors.c \
	llm/safetensors.h llm/tokens.c llm/tokens.h llm/gguf.c llm/gguf.h
