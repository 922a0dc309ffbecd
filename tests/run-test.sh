#!/bin/sh
# Runs one test program: BLAS single-threaded (tests assert results, not speed),
# a private temporary directory, and Criterion's summary on stderr.
OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OPENBLAS_NUM_THREADS OMP_NUM_THREADS
HN_TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/hilnas-test.XXXXXX") || exit 99
export HN_TEST_TMPDIR
"$@"
rc=$?
if [ $rc -eq 0 ]; then rm -rf "$HN_TEST_TMPDIR"; fi
exit $rc
