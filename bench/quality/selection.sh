#!/bin/sh
# Selection at equal shapes (docs/method.md, "Selection"): the same sampled prunings of a
# backbone, their weights kept by importance, magnitude, first and random selection; validation
# loss before training (inherited) and after STEPS steps of continued pretraining.
#
# usage: bench/quality/selection.sh BACKBONE DATA OUT [STEPS] [TRIALS] [EVAL_BATCHES]
#   BACKBONE  checkpoint directory (hilnas pretrain's OUT/final)
#   DATA      directory with train.bin and val.bin (hilnas tokenize)
#   OUT       output directory (one study per selection, and a shared cache)
# Environment: HILNAS (default tools/hilnas), THREADS (engine threads, default 2), SEQ (128) and
# BATCH (8): the windows of training, validation and calibration. Run from the build directory.
# Prints a table per trial and the medians.
set -eu
[ $# -ge 3 ] || { sed -n '5,11p' "$0" >&2; exit 2; }
BACKBONE=$1 DATA=$2 OUT=$3 STEPS=${4:-50} TRIALS=${5:-8} EVALB=${6:-4}
HILNAS=${HILNAS:-tools/hilnas}
THREADS=${THREADS:-2} SEQ=${SEQ:-128} BATCH=${BATCH:-8}
mkdir -p "$OUT"
for sel in importance magnitude first random; do
    mkdir -p "$OUT/$sel"
    cat > "$OUT/$sel/study.yaml" <<EOF
study: {name: selection-$sel, seed: 11, output: $OUT/$sel/run}
space:
  plugin: transformer
  backbone: $BACKBONE
  depth: {min: 4, max: 7}
  d_model: [128, 192]
  heads: [4, 8]
  kv_heads: [2, 4]
  d_ffn: [384, 768]
  include_backbone: false
evaluators:
  quality: {plugin: pruned, data: $DATA, steps: $STEPS, seq: $SEQ, batch: $BATCH,
            eval_batches: $EVALB, select: $sel, threads: $THREADS, cache: $OUT/cache}
objectives: [{metric: quality.val_loss, goal: minimize}]
stages: [{name: sample, sampler: sobol, trials: $TRIALS}]
EOF
    if [ ! -f "$OUT/$sel/run/trials.csv" ] || \
       [ "$(grep -c ',complete,' "$OUT/$sel/run/trials.csv" || true)" -lt "$TRIALS" ]; then
        nice -n 5 "$HILNAS" run "$OUT/$sel/study.yaml" >"$OUT/$sel/log.txt" 2>&1
    fi
done
# one row per trial: depth d_model heads kv_heads d_ffn, then inherited/after per selection
awk -F, -v sels="importance magnitude first random" -v out="$OUT" "$(cat "$(dirname "$0")/csvcol.awk")"'
BEGIN {
    ns = split(sels, S, " ")
    for (k = 1; k <= ns; k++) {
        f = out "/" S[k] "/run/trials.csv"; r = 0
        while ((getline line < f) > 0) {
            $0 = line
            if (r == 0) { ci = col("quality.val_loss_inherited"); cv = col("quality.val_loss");
                          cd = col("depth"); cm = col("d_model"); ch = col("heads");
                          ck = col("kv_heads"); cf = col("d_ffn"); r++; continue }
            if ($3 != "complete") continue
            shape[r] = $cd " " $cm " " $ch " " $ck " " $cf
            inh[k, r] = $ci; val[k, r] = $cv; r++
        }
        close(f); n = r - 1
    }
    printf "%-22s", "depth d h kv ffn"
    for (k = 1; k <= ns; k++) printf " %10s-0 %10s-S", S[k], S[k]
    printf "\n"
    for (r = 1; r <= n; r++) {
        printf "%-22s", shape[r]
        for (k = 1; k <= ns; k++) printf " %12.4f %12.4f", inh[k, r], val[k, r]
        printf "\n"
    }
    printf "%-22s", "median"
    for (k = 1; k <= ns; k++) {
        for (r = 1; r <= n; r++) { a[r] = inh[k, r]; b[r] = val[k, r] }
        printf " %12.4f %12.4f", median(a, n), median(b, n)
    }
    printf "\n"
}'
