#!/bin/sh
# bench/latency/pairs.sh: how far apart two copies of one architecture time (docs/latency.md,
# "Decode: the model, not the measurement"): hilnas-bench times a pruning of bench/latency/run.sh's
# backbone (5 layers, hidden 384, FFN 1024, 8 heads, 4 KV heads) against a second copy of itself
# (--reference: its own allocation and weights) in N separate processes, with run.sh's settings,
# and prints each run's prefill_rel and decode_rel_<c> (1 = the copies time alike), then their
# range and the largest spread within a run.
#
#   sh bench/latency/pairs.sh          # from the top of the build tree; N=10 by default
# Environment: BENCH (default ./tools/hilnas-bench), N, OUT (default runs/bench-pairs).
set -eu
BENCH=${BENCH:-./tools/hilnas-bench}
N=${N:-10}
OUT=${OUT:-runs/bench-pairs}
[ -x "$BENCH" ] || { echo "pairs.sh: $BENCH not found: run from the build tree (make first)" >&2; exit 1; }
mkdir -p "$OUT"
cp "$(dirname "$0")/pruning.json" "$OUT/a.json"
echo "start: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), uptime:$(uptime)"
: > "$OUT/runs.jsonl"
i=1
while [ "$i" -le "$N" ]; do
    "$BENCH" "$OUT/a.json" --prompt 128 --contexts 0,512,2048 --decode-tokens 8 --threads 1 \
        --pin --clock cpu --repeats 7 --max-repeats 21 --seed "$i" --reference "$OUT/a.json" \
        >> "$OUT/runs.jsonl"
    i=$((i + 1))
done
echo "end: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), uptime:$(uptime)"
python3 - "$OUT/runs.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = ["prefill_rel", "decode_rel_0", "decode_rel_512", "decode_rel_2048"]
print("| run | " + " | ".join(names) + " |")
print("|---:|" + "---:|" * len(names))
for i, r in enumerate(rows, 1):
    print(f"| {i} | " + " | ".join(f"{r[n]['value']:.3f} (cv {100 * r[n + '_cv']:.1f} %)" for n in names) + " |")
for n in names:
    v = [r[n]["value"] for r in rows]
    print(f"{n}: {min(v):.3f} .. {max(v):.3f} over {len(v)} processes; largest spread within one {100 * max(r[n + '_cv'] for r in rows):.1f} %")
PY
