#!/bin/sh
# Fidelity of the short continued pretraining (docs/method.md, "Fidelity"): TRIALS Sobol
# architectures of the search space (bench/quality/space.inc), each evaluated with STEPS steps
# and with LONG steps (default 10 x STEPS; same batch stream, same seed); Kendall tau-b between
# the two rankings by val_loss (and between the inherited loss and the long run's).
#
# usage: bench/quality/fidelity.sh BACKBONE DATA OUT [STEPS] [TRIALS] [LONG]
# Environment: SEQ (64), BATCH (4), EVALB (validation batches, 8), THREADS (2),
# CAL_BATCHES (4), DISTILL (e.g. "{weight: 0.5, temperature: 2}", default none), CACHE
# (result cache, default OUT/cache: share it so that another STEPS reuses the long runs),
# HILNAS (tools/hilnas). Run from the build directory.
set -eu
[ $# -ge 3 ] || { sed -n '6,9p' "$0" >&2; exit 2; }
BACKBONE=$1 DATA=$2 OUT=$3 STEPS=${4:-20} TRIALS=${5:-12} LONG=${6:-$((${4:-20} * 10))}
SEQ=${SEQ:-64} BATCH=${BATCH:-4} EVALB=${EVALB:-8} THREADS=${THREADS:-2}
HILNAS=${HILNAS:-tools/hilnas}
HERE=$(dirname "$0")
. "$HERE/space.inc"
mkdir -p "$OUT"
KD=${DISTILL:+, distill: $DISTILL}
{
    echo "study: {name: fidelity, seed: 5, output: $OUT/run}"
    space_yaml
    echo "evaluators:"
    echo "  short: {plugin: pruned, steps: $STEPS, $(eval_opts)$KD}"
    echo "  long: {plugin: pruned, steps: $LONG, $(eval_opts)}"
    echo "objectives: [{metric: short.val_loss, goal: minimize}]"
    echo "stages: [{name: sample, sampler: sobol, trials: $TRIALS, run: [short, long]}]"
} > "$OUT/study.yaml"
nice -n 5 "$HILNAS" run "$OUT/study.yaml" > "$OUT/log.txt" 2>&1
awk -F, -v steps="$STEPS" -v long="$LONG" "$(cat "$HERE/csvcol.awk")"'
NR == 1 { cs = col("short.val_loss"); cl = col("long.val_loss"); ci = col("short.val_loss_inherited")
          cd = col("depth"); cm = col("d_model"); ch = col("heads"); ck = col("kv_heads")
          cf = col("d_ffn"); ca = col("skip_attention"); next }
$3 == "complete" {
    n++; s[n] = $cs; l[n] = $cl; i[n] = $ci
    printf "%-26s inherited %.4f  %4d steps %.4f  %5d steps %.4f\n",
           $cd " " $cm " " $ch " " $ck " " $cf " skip" (ca ? $ca : 0), $ci, steps, $cs,
           long, $cl
}
END {
    printf "architectures %d\n", n
    printf "kendall tau-b (%d steps vs %d steps): %.3f\n", steps, long, kendall(s, l, n)
    printf "kendall tau-b (inherited vs %d steps): %.3f\n", long, kendall(i, l, n)
}' "$OUT/run/trials.csv"
