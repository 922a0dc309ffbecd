#!/bin/sh
# bench/latency/run.sh: how well the latency models predict architectures they have not seen
# (issue #9's targets; numbers and what they mean in docs/latency.md).
#
#   sh bench/latency/run.sh            # from the top of the build tree; about 10 minutes idle
#   QUICK=1 sh bench/latency/run.sh    # smaller: 24 + 8 architectures, 3 separate runs
#
# On this machine: prunings (depth, width, heads, KV heads, FFN, per-layer attention) of an
# 8-layer hidden-512 backbone (8 heads, 4 KV heads, head_dim 64, FFN 1536, byte vocabulary;
# random weights: latency does not depend on their values, so only config.json is written).
#   1. `measure`: 48 Sobol prunings timed by `host` (prefill of PROMPT tokens; decode at each
#      of CONTEXTS tokens cached);
#   2. `fit`: `latency` (learned: roofline x GP correction) and `roofline` fitted on them;
#   3. `holdout`: 16 NEW Sobol prunings measured by `host` and predicted by both in the same
#      trials (`run: [host, latency, roofline]`);
#   4. one architecture measured in RUNS separate `hilnas run` processes (run-to-run CV).
# Prints `uptime` and the CPU model before and after, the held-out table (MAPE, share within
# +-5 % and +-10 %, per metric and pooled, learned vs roofline) and the CV table.
# REF=1: `host` also times the backbone as a paired reference (`reference:`, docs/latency.md),
# both models learn the relative metrics (prefill_rel, decode_rel_<c>: trial / backbone in the
# same rounds) next to the absolute ones, and both tables show them.
# Environment: HILNAS (default ./tools/hilnas), OUT (default runs/bench-latency), QUICK=1,
# THREADS (engine threads, default 1), CLOCK (host's clock: cpu, the default, the process's CPU
# time, which a busy machine does not inflate and which equals wall time on an idle machine for
# one thread; or wall), KEEP=1 (reuse finished studies: resume).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
HILNAS=${HILNAS:-./tools/hilnas}
BENCH=${BENCH:-./bench/latency/bench_latency}
OUT=${OUT:-runs/bench-latency}
THREADS=${THREADS:-1}
CLOCK=${CLOCK:-cpu}
if [ "${QUICK:-0}" = 1 ]; then
    TRAIN=24 TEST=8 RUNS=3 REPEATS=5 MAXREP=15
else
    TRAIN=48 TEST=16 RUNS=6 REPEATS=7 MAXREP=21
fi
PROMPT=128 CONTEXTS="0, 512, 2048" DECODE=8
[ -x "$HILNAS" ] || { echo "run.sh: $HILNAS not found: run from the build tree (make first)" >&2; exit 1; }
make -s bench/latency/bench_latency >/dev/null  # rebuilt when the core changed
machine() {
    echo "$1: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), uptime:$(uptime)"
}
machine "start"
t0=$(date +%s)
[ "${KEEP:-0}" = 1 ] || rm -rf "$OUT"
mkdir -p "$OUT/backbone"
cp "$here/backbone.json" "$OUT/backbone/config.json"
# host settings shared by both studies
METRICS="prefill_ms, decode_ms"
REFOPT=""
if [ "${REF:-0}" = 1 ]; then
    METRICS="prefill_ms, decode_ms, prefill_rel, decode_rel"
    REFOPT=", reference: $OUT/backbone"
fi
HOST="{plugin: host, prompt: $PROMPT, contexts: [$CONTEXTS], decode_tokens: $DECODE, repeats: $REPEATS, max_repeats: $MAXREP, threads: $THREADS, pin: true, clock: $CLOCK$REFOPT}"
SPACE="space:
  plugin: transformer
  backbone: $OUT/backbone
  depth: {min: 2, max: 8}
  d_model: [256, 384, 512]
  heads: [4, 8]
  kv_heads: [1, 2, 4]
  d_ffn: [512, 1024, 1536]
  attention: per-layer"
cat > "$OUT/study.yaml" <<EOF
# written by bench/latency/run.sh
study: {name: bench-latency, seed: 9, output: $OUT/study}
$SPACE
oracles:
  host: $HOST
  latency: {plugin: learned, from: host, metrics: [$METRICS], prompt: $PROMPT, contexts: [$CONTEXTS]}
  roofline: {plugin: roofline, from: host, metrics: [$METRICS], prompt: $PROMPT, contexts: [$CONTEXTS]}
objectives:
  - {metric: host.prefill_ms, goal: minimize}
stages:
  - {name: measure, run: host, sampler: sobol, trials: $TRAIN}
  - {name: fit, oracle: latency}
  - {name: fit-roofline, oracle: roofline}
  - {name: holdout, run: [host, latency, roofline], sampler: sobol, trials: $TEST}
EOF
cat > "$OUT/cv.yaml" <<EOF
# written by bench/latency/run.sh: one architecture, measured once per run
study: {name: bench-latency-cv, seed: 9, output: $OUT/cv}
$SPACE
oracles:
  host: $HOST
objectives:
  - {metric: host.prefill_ms, goal: minimize}
stages:
  - name: measure
    run: host
    sampler: sobol
    trials: 1
    points: [{depth: 6, d_model: 384, heads: 8, kv_heads: 2, d_ffn: 1024, attn_0: true,
              attn_1: false, attn_2: true, attn_3: true, attn_4: false, attn_5: true,
              attn_6: false, attn_7: false}]
EOF
echo "== $TRAIN measured + $TEST held-out architectures (threads $THREADS, clock $CLOCK, prompt $PROMPT, contexts [$CONTEXTS]${REFOPT:+, paired reference: the backbone})"
"$HILNAS" run "$OUT/study.yaml" --quiet >"$OUT/study.log" 2>&1 || { tail -20 "$OUT/study.log"; exit 1; }
grep "learned from" "$OUT/study.log" | sed 's/^.*oracle/oracle/' || true
echo
"$BENCH" table "$OUT/study.yaml" "$OUT/study" --stage holdout --measured host --predicted latency,roofline
echo
echo "== the same architecture in $RUNS separate runs"
dirs=""
i=1
while [ "$i" -le "$RUNS" ]; do
    "$HILNAS" run "$OUT/cv.yaml" --quiet --output "$OUT/cv-$i" >"$OUT/cv-$i.log" 2>&1 || { tail -20 "$OUT/cv-$i.log"; exit 1; }
    dirs="$dirs $OUT/cv-$i"
    i=$((i + 1))
done
# shellcheck disable=SC2086
"$BENCH" cv "$OUT/cv.yaml" $dirs --measured host
echo
machine "end"
echo "took $(( $(date +%s) - t0 )) s"
