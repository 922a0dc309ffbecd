bin_PROGRAMS += tools/hilnas
tools_hilnas_SOURCES = tools/hilnas.c tools/cli.h tools/commands.def \
	tools/cmd_study.c tools/cmd_tokenize.c tools/cmd_llm.c \
	tools/prepare.c tools/prepare.h tools/progress.c tools/progress.h tools/report.c \
	tools/report.h tools/cmd_export.c tools/man.c
tools_hilnas_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
tools_hilnas_LDADD = $(HN_LLM_LIBS) $(HN_CORE_LIBS) $(OPENBLAS_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS) $(PTHREAD_LIBS) -lm
