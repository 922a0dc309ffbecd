#!/bin/sh
# bench/latency/instances.sh: does timing each model on several instances (separately built
# copies, `instances` in host, --instances in hilnas-bench) make the same measurement agree
# better across separate processes? (issue #9: run-to-run CV of decode_rel 4-10 %, target 3 %;
# docs/latency.md, "What it does not remove".)
#
#   sh bench/latency/instances.sh          # from the top of the build tree
#   N=4 KS="1 3" sh bench/latency/instances.sh
#
# One mid-size pruning of bench/latency/run.sh's backbone (5 of its 8 layers, hidden 384 of
# 512, FFN 1024, 8 heads, 4 KV heads, head_dim 64) is timed by hilnas-bench in N separate
# processes per K, the values of KS alternating (K=1, K=3, K=1, ...: a disturbance of the
# machine hits every K alike), each with run.sh's settings: prompt 128, contexts 0,512,2048,
# decode-tokens 8, threads 1, pin, clock cpu, repeats 7, max-repeats 21, and the backbone as
# --reference. Prints uptime and the CPU model before and after, and for each metric the
# across-process CV (sample standard deviation / mean of the N medians) per K side by side, with
# the mean of the within-run spreads (<metric>_cv) for comparison.
# Environment: BENCH (default ./tools/hilnas-bench), OUT (default runs/bench-instances), N (8),
# KS ("1 3"), ARCH (the architecture timed: a config.json or checkpoint directory; default
# bench/latency/pruning.json). OPENBLAS_CORETYPE is unset for the runs (it halves the engine's speed here).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BENCH=${BENCH:-./tools/hilnas-bench}
OUT=${OUT:-runs/bench-instances}
N=${N:-8}
KS=${KS:-1 3}
PYTHON=${PYTHON:-python3}
[ -x "$BENCH" ] || { echo "instances.sh: $BENCH not found: run from the build tree (make first)" >&2; exit 1; }
machine() {
    echo "$1: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), uptime:$(uptime)"
}
machine "start"
rm -rf "$OUT"
mkdir -p "$OUT/backbone"
cp "$here/backbone.json" "$OUT/backbone/config.json"
cp "${ARCH:-$here/pruning.json}" "$OUT/arch.json"
t0=$(date +%s)
i=1
while [ "$i" -le "$N" ]; do
    for k in $KS; do
        # a new process each time: the copies' memory lands wherever this process's heap puts it
        env -u OPENBLAS_CORETYPE "$BENCH" "$OUT/arch.json" --prompt 128 --contexts 0,512,2048 \
            --decode-tokens 8 --threads 1 --pin --clock cpu --repeats 7 --max-repeats 21 \
            --seed "$i" --instances "$k" --reference "$OUT/backbone" >> "$OUT/k$k.jsonl"
    done
    echo "process $i of $N done ($(($(date +%s) - t0)) s)"
    i=$((i + 1))
done
machine "end"
"$PYTHON" - "$OUT" $KS <<'PY'
import json, math, sys
out, ks = sys.argv[1], sys.argv[2:]
metrics = ["prefill_rel", "decode_rel_0", "decode_rel_512", "decode_rel_2048",
           "prefill_ms", "decode_ms_0", "decode_ms_512", "decode_ms_2048"]
runs = {k: [json.loads(l) for l in open(f"{out}/k{k}.jsonl") if l.strip()] for k in ks}
def cv(v):
    m = sum(v) / len(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) / m if len(v) > 1 else float("nan")
head = "".join(f"  K={k}: CV   mean    in-run cv" for k in ks)
print(f"across {len(runs[ks[0]])} processes per K (CV: sample sd / mean of the processes' medians)")
print(f"{'metric':<16}{head}")
for name in metrics:
    row = f"{name:<16}"
    for k in ks:
        vals = [r[name]["value"] for r in runs[k]]
        inrun = [r[name + "_cv"] for r in runs[k]]
        row += f"  {100 * cv(vals):6.2f} % {sum(vals) / len(vals):7.4f} {100 * sum(inrun) / len(inrun):6.2f} %  "
    print(row)
for k in ks:
    n = [r["prefill_rel_n"] for r in runs[k]]
    print(f"K={k}: values per metric (prefill_rel_n) {min(n)}..{max(n)}; settings "
          f"{json.dumps({x: runs[k][0]['settings'][x] for x in ('instances', 'repeats', 'max_repeats')})}")
PY
