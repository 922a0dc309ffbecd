#!/bin/sh
# bench/latency/flash-verify.sh DIR NAME [--set KEY=VALUE ...]: conf.d/flash.yaml in DIR (which
# holds the README's runs/backbone/final and data/fortunes) with output DIR/runs/NAME, then how
# many of the verify stage's re-measurements fall inside the learned model's 95 % intervals,
# per metric, and the mean error (docs/latency.md, "flash.yaml's verify stage").
#   sh bench/latency/flash-verify.sh /path/to/readme-dir base
#   sh bench/latency/flash-verify.sh /path/to/readme-dir wall --set oracles.host.clock=wall
#   STUDY=old-flash.yaml sh bench/latency/flash-verify.sh /path/to/readme-dir old
# Environment: HILNAS (default: tools/hilnas of this tree), STUDY (default: conf.d/flash.yaml of
# this tree; e.g. `git show f2a0177:conf.d/flash.yaml`, the times in ms). Run it on an idle
# machine.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
HILNAS=${HILNAS:-$top/tools/hilnas}
STUDY=${STUDY:-$top/conf.d/flash.yaml}
case $STUDY in /*) ;; *) STUDY=$(pwd)/$STUDY ;; esac
dir=${1:?usage: flash-verify.sh DIR NAME [--set KEY=VALUE ...]}
name=${2:?usage: flash-verify.sh DIR NAME [--set KEY=VALUE ...]}
shift 2
cd "$dir"
echo "== $name start $(date -u '+%Y-%m-%d %T') UTC load $(cut -d' ' -f1-3 /proc/loadavg) cpu$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
rm -rf "runs/$name"
env -u OPENBLAS_CORETYPE "$HILNAS" run "$STUDY" --output "runs/$name" "$@" \
    > "$name.log" 2>&1 || { echo "flash-verify.sh: the study failed (see $dir/$name.log)" >&2; exit 1; }
echo "== $name end $(date -u '+%T') UTC load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F, 'NR > 1 {
    m = $3; sub(/^[^.]*\./, "", m); n[m]++; inside[m] += $9; err[m] += ($8 < 0 ? -$8 : $8)
    all++; ins += $9
} END {
    for (m in n) printf "%-16s %d/%d inside the 95 %% interval, mean |error| %.1f %%\n", m, inside[m], n[m], 100 * err[m] / n[m]
    printf "all: %d/%d inside\n", ins, all
}' "runs/$name/verify-verify.csv" | sort
