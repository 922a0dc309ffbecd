pkglib_LTLIBRARIES += plugins/oracle-device.la
plugins_oracle_device_la_SOURCES = plugins/oracle-device/device.c plugins/oracle-device/parse.c \
	plugins/oracle-device/parse.h plugins/oracle-device/run.c plugins/oracle-device/run.h
plugins_oracle_device_la_LDFLAGS = $(HN_PLUGIN_FLAGS)
plugins_oracle_device_la_LIBADD = $(HN_CORE_LIBS) $(JANSSON_LIBS)
