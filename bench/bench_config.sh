#!/bin/sh
# bench_config.sh: seconds `hilnas validate` takes on study files with N parameters in one
# mapping (about 41 bytes each: 34000 are 1.4 MB), to show the load is linear in the size
# (duplicate-key, label and name checks sort instead of comparing all pairs).
# usage: bench/bench_config.sh [HILNAS]   (default: ./tools/hilnas of the build tree)
set -e
HILNAS=${1:-./tools/hilnas}
HILNAS_PLUGIN_PATH=${HILNAS_PLUGIN_PATH:-$(dirname "$HILNAS")/../tests/plugins-test}
export HILNAS_PLUGIN_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| parameters | bytes | seconds | seconds per 1000 parameters |"
echo "| --- | --- | --- | --- |"
for n in 8500 17000 34000 68000; do
    f="$tmp/s$n.yaml"
    {
        printf 'study: {name: big, seed: 1}\nspace:\n  plugin: box\n  params:\n'
        i=0
        awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "    p%06d: {type: float, min: 0, max: 1}\n", i }'
        printf 'evaluators:\n  s: {plugin: sleepy}\nobjectives:\n  - {metric: value}\n'
        printf 'stages:\n  - {name: s, sampler: uniform, trials: 1}\n'
    } > "$f"
    start=$(date +%s.%N)
    "$HILNAS" validate "$f" > /dev/null
    end=$(date +%s.%N)
    awk -v n="$n" -v b="$(wc -c < "$f")" -v s="$start" -v e="$end" \
        'BEGIN { printf "| %d | %d | %.3f | %.4f |\n", n, b, e - s, (e - s) * 1000 / n }'
done
