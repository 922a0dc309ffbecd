# The manual page hilnas(1): docs/hilnas.1.in with the option tables of the plugins just built
# put in at build time (`hilnas plugins --man`), so its PLUGINS section cannot go stale.
# tests/tools/test_man.sh checks that it renders without warnings and covers every command.
nodist_man1_MANS = docs/hilnas.1
EXTRA_DIST += docs/hilnas.1.in
CLEANFILES += docs/hilnas.1 docs/hilnas.1.tmp docs/hilnas.1.options
docs/hilnas.1: $(srcdir)/docs/hilnas.1.in tools/hilnas$(EXEEXT) $(pkglib_LTLIBRARIES)
	$(AM_V_GEN)$(MKDIR_P) docs && \
	HILNAS_PLUGIN_PATH= tools/hilnas$(EXEEXT) plugins --man > docs/hilnas.1.options && \
	sed -e 's|@HN_VERSION@|$(PACKAGE_VERSION)|g' \
	    -e 's|@PLUGINDIR@|$(pkglibdir)|g' -e 's|@PKGCONFIGDIR@|$(pkgconfigdir)|g' \
	    -e '/^\.IR \//s|/|/\\:|g' \
	    -e '/^@PLUGIN_OPTIONS@$$/{r docs/hilnas.1.options' -e 'd;}' \
	    $(srcdir)/docs/hilnas.1.in > docs/hilnas.1.tmp && \
	rm -f docs/hilnas.1.options && mv docs/hilnas.1.tmp docs/hilnas.1
