# llm/: the transformer engine (filled by the llm area).
