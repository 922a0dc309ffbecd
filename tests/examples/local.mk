# The plugin SDK end to end: install, build examples/ with pkg-config, run a study with them.
TESTS += tests/examples/test_sdk.sh
EXTRA_DIST += tests/examples/test_sdk.sh
# `make install` relinks libraries inside the build tree's .libs/ while it runs: the SDK test
# goes after every other test of the run.
tests/examples/test_sdk.log: $(filter-out tests/examples/test_sdk.log,$(TEST_LOGS))
