#!/bin/sh
# The headline across seeds at the demo scale (docs/method.md, Evidence 4): conf.d/demo.yaml
# (a 6-layer hidden-128 backbone, 30 steps of continued pretraining for every candidate and for
# the backbone itself) once per study seed, then per seed the backbone's loss and, within +1,
# +2 and +5 % of it, the fastest model on the frontier by measured prefill, its measured prefill
# and decode speedups over the backbone's measured latencies and how many layers skip attention
# (bench/quality/near-backbone.sh), and the median over the seeds. Quality numbers do not depend
# on the machine's load; latencies do: the script records `uptime` before and after each seed.
#
# usage: bench/quality/demo-headline.sh OUT [SEEDS]
# Environment: HILNAS (tools/hilnas), STUDY (conf.d/demo.yaml), NICE (5). Run from the build
# directory (the backbone is prepared once in runs/cache, or $HILNAS_CACHE). A seed whose study
# is complete in OUT/seedS is not run again (hilnas resumes it).
set -eu
[ $# -ge 1 ] || { sed -n '10,13p' "$0" >&2; exit 2; }
OUT=$1 SEEDS=${2:-"1 2 3"}
HILNAS=${HILNAS:-tools/hilnas} STUDY=${STUDY:-conf.d/demo.yaml} NICE=${NICE:-5}
HERE=$(dirname "$0")
mkdir -p "$OUT"
log=$OUT/runs.txt
{
    echo "# $(date -u '+%F %T') UTC: $STUDY, seeds $SEEDS"
    echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
} >> "$log"
set --
for seed in $SEEDS; do
    dir=$OUT/seed$seed
    t0=$(date +%s)
    echo "seed $seed: start $(date -u '+%T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
    rc=0
    nice -n "$NICE" "$HILNAS" run "$STUDY" --set "study.seed=$seed" --output "$dir" \
        > "$OUT/seed$seed.log" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        echo "seed $seed: hilnas run failed (exit $rc), see $OUT/seed$seed.log" | tee -a "$log" >&2
        exit 1
    fi
    echo "seed $seed: end $(date -u '+%T') UTC ($(($(date +%s) - t0)) s), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
    set -- "$@" "$dir"
done
rows=$OUT/rows.tsv
: > "$rows"
ROWS=$rows "$HERE/near-backbone.sh" "$@" | tee "$OUT/headline.txt"
ROWS=/dev/null "$HERE/near-backbone.sh" -m "$@" > "$OUT/headline.md"
# the median over the seeds, per tolerance: relative loss, prefill and decode speedups
awk -F'\t' "$(cat "$HERE/csvcol.awk")"'
{ t = $2; n[t]++; rel[t, n[t]] = $5; pf[t, n[t]] = $6; nc = NF - 10
  for (j = 1; j <= nc; j++) dc[t, j, n[t]] = $(6 + j)
  if (!(t in seen)) { seen[t] = 1; order[++nt] = t } }
END {
    for (i = 1; i <= nt; i++) {
        t = order[i]
        for (k = 1; k <= n[t]; k++) { a[k] = rel[t, k]; b[k] = pf[t, k] }
        printf "median of %d seeds within +%g %%: loss %+.2f %%, prefill %.2fx, decode", n[t], t, median(a, n[t]), median(b, n[t])
        for (j = 1; j <= nc; j++) {
            for (k = 1; k <= n[t]; k++) c[k] = dc[t, j, k]
            printf " %.2fx", median(c, n[t])
        }
        printf "\n"
    }
}' "$rows" | tee -a "$OUT/headline.txt"
