#!/bin/sh
# A stand-in for a benchmark that reports its own spread (tests of the device oracle's max_cv):
# run n (counted in $HILNAS_WORKDIR/runs) prints prefill_ms = 10 + n with prefill_ms_cv 0.2 on
# the first run and 0.01 afterwards, and decode_ms = 1 without a spread.
n=$(cat "$HILNAS_WORKDIR/runs" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$HILNAS_WORKDIR/runs"
if [ "$n" -eq 1 ]; then cv=0.2; else cv=0.01; fi
printf '{"prefill_ms": %d, "prefill_ms_cv": %s, "decode_ms": 1}\n' "$((10 + n))" "$cv"
