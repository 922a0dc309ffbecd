#!/bin/sh
# bench/latency/predict_time.sh: what a trial predicted by a latency model costs, per trial.
#
# One study: 16 architectures "measured" by the deterministic device stand-in
# (tests/data/device/sim.sh), the `learned` and `roofline` oracles fitted on them, then N
# trials predicted by `learned` alone and N by `roofline` alone (random points). The two predict
# stages have the same core overhead (journal, trial directory, outputs); the difference is the
# model's evaluate(). Prints, per stage, the trial seconds (finished - started, trials.csv) as
# median, 90th percentile and maximum in milliseconds, and the time between trials (a trial's
# start minus the previous trial's finish in the same stage: the journal's fdatasync, the
# outputs trials.csv, pareto.csv and summary.json, the optimizer) as median and 90th
# percentile, with `uptime` and the CPU model.
#
#   bench/latency/predict_time.sh [N]      (from a build directory; N default 200)
# Environment: HILNAS (default ./tools/hilnas), OUT (default: a temporary directory, removed).
set -eu
n=${1:-200}
hilnas=${HILNAS:-./tools/hilnas}
src=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$hilnas" ] || { echo "predict_time: no hilnas at $hilnas (set HILNAS)" >&2; exit 1; }
if [ -n "${OUT:-}" ]; then
    out=$OUT
    mkdir -p "$out"
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/predict-time.XXXXXX")
    trap 'rm -rf "$out"' EXIT INT TERM
fi
mkdir -p "$out/backbone"
printf '%s\n' '{"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 6,' \
    '"num_attention_heads": 4, "vocab_size": 256}' > "$out/backbone/config.json"
cat > "$out/study.yaml" <<EOF
study: {name: predict-time, seed: 5}
space: {plugin: transformer, backbone: $out/backbone, depth: {min: 1, max: 6},
        d_model: [16, 24, 32, 40, 48, 64, 80, 96, 112, 128],
        d_ffn: [32, 64, 96, 128, 192, 256]}
oracles:
  phone: {plugin: device, command: "sh $src/tests/data/device/sim.sh {arch} ok",
          metrics: [prefill_ms, decode_ms]}
  model: {plugin: learned, from: phone, metrics: [prefill_ms, decode_ms]}
  roof: {plugin: roofline, from: phone, metrics: [prefill_ms, decode_ms]}
objectives: [{metric: model.prefill_ms, goal: minimize}]
stages:
  - {name: measure, run: phone, sampler: sobol, trials: 16}
  - {name: fit, oracle: model}
  - {name: fit-roofline, oracle: roof}
  - {name: learned, run: model, sampler: uniform, trials: $n}
  - {name: roofline, run: roof, sampler: uniform, trials: $n}
EOF
echo "# $(uptime)"
echo "# $(grep -m1 'model name' /proc/cpuinfo)"
echo "# $hilnas run $out/study.yaml ($n trials per predict stage)"
start=$(date +%s.%N)
"$hilnas" run "$out/study.yaml" --output "$out/run" --quiet
end=$(date +%s.%N)
awk -F, -v start="$start" -v end="$end" '
function sort(a, m,    i, j, x) {
    for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
}
NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "stage") cs = i; if ($i == "seconds") cx = i
                                      if ($i == "started") cb = i; if ($i == "finished") cf = i }
          next }
{ k = $cs; c[k]++; v[k, c[k]] = $cx * 1000
  if (k == last) { g[k]++; gap[k, g[k]] = ($cb - prev) * 1000 }
  last = k; prev = $cf }
END {
    printf "%-9s %7s %10s %10s %10s %10s %10s\n", "stage", "trials", "median_ms", "p90_ms", "max_ms",
           "gap_med_ms", "gap_p90_ms"
    split("measure learned roofline", order, " ")
    for (o = 1; o <= 3; o++) {
        k = order[o]; m = c[k]; mg = g[k]
        delete s; delete t
        for (i = 1; i <= m; i++) { s[i] = v[k, i] }
        for (i = 1; i <= mg; i++) { t[i] = gap[k, i] }
        sort(s, m); sort(t, mg)
        printf "%-9s %7d %10.3f %10.3f %10.3f %10.3f %10.3f\n", k, m, s[int((m + 1) / 2)],
               s[int(m * 0.9 + 0.5)], s[m], t[int((mg + 1) / 2)], t[int(mg * 0.9 + 0.5)]
    }
    printf "# whole run %.1f s\n", end - start
}' "$out/run/trials.csv"
echo "# $(uptime)"
