# One fragment per plugin: plugins/<kind>-<name>/local.mk adds
#   pkglib_LTLIBRARIES += plugins/<kind>-<name>.la
# so that every module of the build tree lands in plugins/ (the uninstalled search path).
include plugins/space-box/local.mk
include plugins/evaluator-testfn/local.mk
include plugins/optimizer-random/local.mk
include plugins/optimizer-gpbo/local.mk
include plugins/optimizer-active/local.mk
include plugins/space-transformer/local.mk
include plugins/oracle-host/local.mk
include plugins/oracle-learned/local.mk
include plugins/oracle-roofline/local.mk
include plugins/oracle-device/local.mk
include plugins/evaluator-pruned/local.mk
include plugins/executor-threads/local.mk
include plugins/executor-mpi/local.mk
