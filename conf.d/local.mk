dist_pkgdata_DATA += $(wildcard $(srcdir)/conf.d/*.yaml)
