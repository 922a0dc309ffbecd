bin_PROGRAMS += tools/hilnas
tools_hilnas_SOURCES = tools/hilnas.c tools/cli.h tools/commands.def \
	tools/cmd_study.c
tools_hilnas_LDADD = $(HN_CORE_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) -lm
