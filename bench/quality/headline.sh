#!/bin/sh
# The headline (docs/method.md): from the trials of a search.sh study (every quality trial of
# its stages gp, sobol and reference), the fastest model by predicted prefill whose val_loss is
# within +TOL % of the unpruned backbone's (stage `reference`: the same continued pretraining),
# with attention skipping (any skip_attention) and without (skip_attention 0); then the backbone
# and both models measured on this CPU (oracle host, REPEATS rounds) for prefill and decode
# speedups over the backbone.
#
# usage: bench/quality/headline.sh SEARCH_SEED_DIR OUT [TOL]
# Environment: PROMPT (128), REPEATS (7), THREADS (2), HILNAS (tools/hilnas), HOST_THREADS (the
# host oracle's threads, 1), CLOCK (its clock, cpu: a busy machine does not inflate it).
set -eu
[ $# -ge 2 ] || { sed -n '9,11p' "$0" >&2; exit 2; }
SRC=$1 OUT=$2 TOL=${3:-2}
PROMPT=${PROMPT:-128}
HOST_THREADS=${HOST_THREADS:-1} CLOCK=${CLOCK:-cpu} REPEATS=${REPEATS:-7} THREADS=${THREADS:-2}
HILNAS=${HILNAS:-tools/hilnas}
HERE=$(dirname "$0")
mkdir -p "$OUT"
# the three architectures: reference, best with skipping, best without
awk -F, -v tol="$TOL" "$(cat "$HERE/csvcol.awk")"'
NR == 1 { cs = col("stage"); cv = col("quality.val_loss"); cp = col("latency.prefill_ms")
          cd = col("depth"); cm = col("d_model"); ch = col("heads"); ck = col("kv_heads")
          cf = col("d_ffn"); ca = col("skip_attention"); next }
$3 == "complete" && $cv != "" && $cp != "" {
    n++; V[n] = $cv; P[n] = $cp; S[n] = $cs; K[n] = $ca; I[n] = $1
    A[n] = sprintf("{depth: %d, d_model: %d, heads: %d, kv_heads: %d, d_ffn: %d, skip_attention: %d}", $cd, $cm, $ch, $ck, $cf, $ca)
    if ($cs == "reference") ref = n
}
END {
    if (!ref) { print "no reference trial" > "/dev/stderr"; exit 1 }
    lim = V[ref] * (1 + tol / 100)
    on = off = ref
    for (i = 1; i <= n; i++) if (V[i] <= lim) {
        if (P[i] < P[on]) on = i
        if (K[i] == 0 && P[i] < P[off]) off = i
    }
    printf "backbone trial %d: val_loss %.4f (limit +%g %%: %.4f), predicted prefill %.3f ms\n", I[ref], V[ref], tol, lim, P[ref]
    printf "with skipping:    trial %d %s val_loss %.4f (%+.2f %%), predicted prefill %.3f ms\n", I[on], A[on], V[on], 100 * (V[on] / V[ref] - 1), P[on]
    printf "without skipping: trial %d %s val_loss %.4f (%+.2f %%), predicted prefill %.3f ms\n", I[off], A[off], V[off], 100 * (V[off] / V[ref] - 1), P[off]
    print A[ref] > "'"$OUT"'/points"; print A[on] > "'"$OUT"'/points"; print A[off] > "'"$OUT"'/points"
}' "$SRC/run/trials.csv" | tee "$OUT/choice.txt"
# measure them on the host (duplicates measured once)
pts=$(awk '!seen[$0]++' "$OUT/points" | paste -sd, -)
npts=$(awk '!seen[$0]++' "$OUT/points" | wc -l)
sed -n '/^space:/,/^  calibration/p' "$SRC/study.yaml" > "$OUT/space.yaml"
{
    echo "study: {name: headline, seed: 1, output: $OUT/run}"
    cat "$OUT/space.yaml"
    echo "oracles:"
    echo "  host: {plugin: host, prompt: $PROMPT, context: $((PROMPT * 2)), decode_tokens: 32, repeats: $REPEATS, threads: $HOST_THREADS, pin: true, clock: $CLOCK}"
    echo "objectives: [{metric: host.prefill_ms, goal: minimize}]"
    echo "stages: [{name: measure, sampler: sobol, trials: $npts, points: [$pts]}]"
} > "$OUT/study.yaml"
nice -n 5 "$HILNAS" run "$OUT/study.yaml" > "$OUT/log.txt" 2>&1
awk -F, "$(cat "$HERE/csvcol.awk")"'
NR == 1 { cp = col("host.prefill_ms"); cd = col("host.decode_ms")
          c1 = col("depth"); c2 = col("d_model"); c3 = col("heads"); c4 = col("kv_heads")
          c5 = col("d_ffn"); c6 = col("skip_attention"); next }
$3 == "complete" {
    n++; p[n] = $cp; d[n] = $cd
    a[n] = $c1 " " $c2 " " $c3 " " $c4 " " $c5 " skip " $c6
}
END {
    for (i = 1; i <= n; i++)
        printf "%-32s prefill %8.3f ms (x%.2f)  decode %7.3f ms (x%.2f)\n", a[i], p[i], p[1] / p[i], d[i], d[1] / d[i]
}' "$OUT/run/trials.csv" | tee "$OUT/speedups.txt"
