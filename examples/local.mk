# The plugin SDK: pkg-config files (installed), and examples/, out-of-tree plugins built with
# only `pkg-config --cflags --libs hilnas-plugin` (distributed, not built here:
# tests/examples/test_sdk.sh builds them against a staged installation).
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = hilnas-plugin.pc hilnas-llm.pc
EXTRA_DIST += hilnas-plugin.pc.in hilnas-llm.pc.in \
	examples/README.md \
	examples/optimizer-localsearch/Makefile examples/optimizer-localsearch/localsearch.c \
	examples/oracle-linear/Makefile examples/oracle-linear/linear.c \
	examples/study.yaml
