#!/bin/sh
# Search against sampling (docs/method.md, "Search beats sampling"): for each seed, one study on
# the search space (bench/quality/space.inc): measure MEASURE Sobol architectures on this CPU
# (oracle host), fit the roofline latency model on them, then a `gp` stage (optimizer gpbo, the
# flash loop) and a `sobol` stage (sampler sobol) with TRIALS quality evaluations each, both
# against the same fitted latency model, then the unpruned backbone (stage `reference`, the
# headline's baseline; bench/quality/headline.sh measures the frontier). Hypervolume of
# (val_loss, predicted prefill_ms) per stage, against one reference point for all runs: the
# worst val_loss and prefill_ms of every quality trial of every seed.
#
# usage: bench/quality/search.sh BACKBONE DATA OUT [STEPS] [TRIALS] [SEEDS] [MEASURE]
# Environment: SEQ (64), BATCH (4), EVALB (8), THREADS (2), CAL_BATCHES (4), PROMPT (128),
# HILNAS (tools/hilnas), HOST_THREADS (the host oracle's threads, 1), CLOCK (its clock, cpu:
# a busy machine does not inflate it). Run from the build directory.
set -eu
[ $# -ge 3 ] || { sed -n '11,13p' "$0" >&2; exit 2; }
BACKBONE=$1 DATA=$2 OUT=$3 STEPS=${4:-20} TRIALS=${5:-10} SEEDS=${6:-"1 2 3"}
MEASURE=${7:-12}
SEQ=${SEQ:-64} BATCH=${BATCH:-4} EVALB=${EVALB:-8} THREADS=${THREADS:-2}
PROMPT=${PROMPT:-128}
HOST_THREADS=${HOST_THREADS:-1} CLOCK=${CLOCK:-cpu}
HILNAS=${HILNAS:-tools/hilnas}
HERE=$(dirname "$0")
. "$HERE/space.inc"
mkdir -p "$OUT"
for seed in $SEEDS; do
    dir=$OUT/seed$seed
    mkdir -p "$dir"
    {
        echo "study: {name: search-$seed, seed: $seed, output: $dir/run}"
        space_yaml
        echo "oracles:"
        echo "  host: {plugin: host, prompt: $PROMPT, context: $((PROMPT * 2)), decode_tokens: 16, repeats: 3, threads: $HOST_THREADS, pin: true, clock: $CLOCK}"
        echo "  latency: {plugin: roofline, from: host, metrics: [prefill_ms, decode_ms], prompt: $PROMPT, context: $((PROMPT * 2))}"
        echo "evaluators:"
        echo "  quality: {plugin: pruned, steps: $STEPS, $(eval_opts)}"
        echo "objectives:"
        echo "  - {metric: quality.val_loss, goal: minimize}"
        echo "  - {metric: latency.prefill_ms, goal: minimize}"
        echo "stages:"
        echo "  - {name: measure, run: host, sampler: sobol, trials: $MEASURE}"
        echo "  - {name: fit, oracle: latency}"
        echo "  - {name: gp, optimizer: gpbo, trials: $TRIALS}"
        echo "  - {name: sobol, sampler: sobol, trials: $TRIALS}"
        echo "  - name: reference"
        echo "    sampler: sobol"
        echo "    trials: 1"
        echo "    points: [{depth: 8, d_model: 256, heads: 8, kv_heads: 4, d_ffn: 1088, skip_attention: 0}]"
    } > "$dir/study.yaml"
    # a completed study resumes with nothing to do
    nice -n 5 "$HILNAS" run "$dir/study.yaml" >> "$dir/log.txt" 2>&1
done
# hypervolume per seed and stage, one reference point (the worst of all quality trials)
files=""
for seed in $SEEDS; do files="$files $OUT/seed$seed/run/trials.csv"; done
awk -F, "$(cat "$HERE/csvcol.awk")"'
FNR == 1 { f++; cs = col("stage"); cv = col("quality.val_loss"); cp = col("latency.prefill_ms"); next }
$3 == "complete" && ($cs == "gp" || $cs == "sobol") && $cv != "" && $cp != "" {
    k = f SUBSEP $cs; n[k]++; A[k, n[k]] = $cv; B[k, n[k]] = $cp
    if ($cv > ra) ra = $cv; if ($cp > rb) rb = $cp
}
END {
    printf "reference point: val_loss %.4f, prefill_ms %.3f\n", ra, rb
    printf "%-6s %10s %10s\n", "seed", "gp", "sobol"
    for (s = 1; s <= f; s++) {
        printf "%-6d", s
        split("gp sobol", M, " ")
        for (m = 1; m <= 2; m++) {
            k = s SUBSEP M[m]; delete a; delete b
            for (i = 1; i <= n[k]; i++) { a[i] = A[k, i]; b[i] = B[k, i] }
            h[m, s] = hv2(a, b, n[k], ra, rb); printf " %10.4f", h[m, s]
        }
        printf "\n"
        gp[s] = h[1, s]; so[s] = h[2, s]
    }
    printf "median %10.4f %10.4f\n", median(gp, f), median(so, f)
}' $files
