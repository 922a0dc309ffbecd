#!/bin/sh
# Host oracle vs llama.cpp on the same 16 candidates (docs/export.md, "llama.cpp as a latency
# oracle: measured"). Run from the top of the build tree, with llama-bench findable (PATH,
# LLAMA_BENCH or LLAMA_CPP_DIR):  nice -n 5 sh bench/llamacpp/run.sh
set -eu
here=$(dirname "$0")
out=runs/llamacpp-bench
HILNAS=${HILNAS:-./tools/hilnas}
export HILNAS
mkdir -p "$out"
[ -f "$out/backbone/config.json" ] ||
    "$HILNAS" export --arch "$here/backbone.json" --random --seed 1 -o "$out/backbone" >/dev/null
"$HILNAS" run "$here/study.yaml" --output "$out/study"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load:$(uptime | sed 's/.*load average://')"
"${HN_PYTHON:-python3}" "$here/compare.py" "$out/study/trials.csv"
