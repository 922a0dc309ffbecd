#!/bin/sh
# bench/latency/active.sh: held-out MAPE against the number of measurements, `sampler: active`
# against Sobol (docs/latency.md). Run bench/latency/run.sh first (same OUT and QUICK): its
# study is the Sobol arm and its held-out architectures are the test set of both arms. This
# script measures the active arm (the same space, host settings and seed; `sampler: active`
# in the measure stage), then refits `latency` and `roofline` on the first b measurements of
# each arm and predicts the same held-out architectures.
#   sh bench/latency/active.sh            # from the top of the build tree
# On a loaded machine CPU noise affects both arms alike (the same host settings, measured one
# after the other), but the test set's truth was measured once, in run.sh's run.
set -eu
HILNAS=${HILNAS:-./tools/hilnas}
BENCH=${BENCH:-./bench/latency/bench_latency}
OUT=${OUT:-runs/bench-latency}
if [ "${QUICK:-0}" = 1 ]; then
    BUDGETS=8,12,16,20,24
else
    BUDGETS=8,16,24,32,40,48
fi
[ -f "$OUT/study.yaml" ] && [ -d "$OUT/study" ] || { echo "active.sh: run bench/latency/run.sh first (OUT=$OUT)" >&2; exit 1; }
make -s bench/latency/bench_latency >/dev/null  # rebuilt when the core changed
echo "start: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), uptime:$(uptime)"
t0=$(date +%s)
# the active arm: run.sh's study with `sampler: active` in the measure stage, no holdout
sed -e "s|output: $OUT/study}|output: $OUT/active}|" -e 's|name: bench-latency,|name: bench-latency-active,|' \
    -e 's|{name: measure, run: host, sampler: sobol,|{name: measure, run: host, sampler: active,|' \
    -e '/name: holdout/d' "$OUT/study.yaml" >"$OUT/active.yaml"
grep -q "sampler: active" "$OUT/active.yaml" || { echo "active.sh: could not derive active.yaml" >&2; exit 1; }
"$HILNAS" run "$OUT/active.yaml" --quiet >"$OUT/active.log" 2>&1 || { tail -20 "$OUT/active.log"; exit 1; }
rm -rf "$OUT/curve-sobol" "$OUT/curve-active"
cp -r "$OUT/study" "$OUT/curve-sobol"
cp -r "$OUT/active" "$OUT/curve-active"
echo "== Sobol"
"$BENCH" curve "$OUT/study.yaml" "$OUT/curve-sobol" --train-stage measure --test-stage holdout --budgets "$BUDGETS" --metrics prefill_ms,decode_ms
echo
echo "== active"
"$BENCH" curve "$OUT/active.yaml" "$OUT/curve-active" --train-stage measure --test-stage holdout --test-dir "$OUT/study" --budgets "$BUDGETS" --metrics prefill_ms,decode_ms
echo
echo "end: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), uptime:$(uptime)"
echo "took $(( $(date +%s) - t0 )) s"
