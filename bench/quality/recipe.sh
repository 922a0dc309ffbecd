#!/bin/sh
# Recovery recipes on a finished study's frontier (docs/method.md, "flash.yaml on the README
# backbone"): the unpruned backbone and the architectures of the study's Pareto set, each
# evaluated by the study's `pruned` evaluator as it ran (its result cache is reused, so this one
# costs nothing) and by one more `pruned` evaluator per recipe, all on the same batch stream;
# per recipe the val_loss of every architecture and its gap to the backbone's under the same
# recipe. Answers "would another recipe put pruned models nearer the backbone?".
#
# usage: bench/quality/recipe.sh STUDY_FILE STUDY_DIR OUT RECIPE...
#   RECIPE  name=OPTIONS, OPTIONS the evaluator's options beyond the study's, as YAML flow-map
#           entries, e.g. 'lr3=lr: 1e-3' 'kd=distill: {weight: 0.5, temperature: 2}' 's90=steps: 90'
# Environment: HILNAS (tools/hilnas), EVALUATOR (quality: the study's evaluator), BACKBONE
# (the unpruned point, default: the study's first `points:` entry), MAX (at most this many
# frontier architectures, 8). Run from the directory the study ran in (its relative paths).
set -eu
[ $# -ge 4 ] || { sed -n '9,14p' "$0" >&2; exit 2; }
STUDY=$1 SRC=$2 OUT=$3
shift 3
HILNAS=${HILNAS:-tools/hilnas} EV=${EVALUATOR:-quality} MAX=${MAX:-8}
HERE=$(dirname "$0")
mkdir -p "$OUT"
# the study's space and evaluator line, the backbone point
sed -n '/^space:/,/^[a-z]/p' "$STUDY" | sed '$d' > "$OUT/space.yaml"
evline=$(grep -m1 "^  $EV: *{plugin: pruned" "$STUDY") || { echo "recipe.sh: no one-line '$EV: {plugin: pruned, ...}' in $STUDY" >&2; exit 1; }
evopts=$(echo "$evline" | sed "s/^  $EV: *{//; s/} *\(#.*\)\{0,1\}$//")
bb=${BACKBONE:-$(grep -m1 'points: *\[{' "$STUDY" | sed 's/^.*points: *\[\(.*\)\] *$/\1/')}
[ -n "$bb" ] || { echo "recipe.sh: no backbone point (set BACKBONE)" >&2; exit 1; }
# the Pareto set's architectures (parameter columns of pareto.csv)
awk -F, -v max="$MAX" "$(cat "$HERE/csvcol.awk")"'
NR == 1 { for (i = 3; i <= NF && index($i, ".") == 0; i++) { np = i; name[i] = $i }; next }
n < max {
    s = "{"
    for (i = 3; i <= np; i++) if ($i != "") s = s (s == "{" ? "" : ", ") name[i] ": " tolower($i)
    print s "}"; n++
}' "$SRC/pareto.csv" > "$OUT/frontier"
pts=$(printf '%s\n' "$bb" | cat - "$OUT/frontier" | awk '!seen[$0]++' | paste -sd, -)
npts=$(printf '%s\n' "$bb" | cat - "$OUT/frontier" | awk '!seen[$0]++' | wc -l)
names=$EV
{
    echo "study: {name: recipe, seed: $(sed -n 's/^study:.*seed: *\([0-9]*\).*/\1/p' "$STUDY"), output: $OUT/run}"
    cat "$OUT/space.yaml"
    echo "evaluators:"
    echo "  $EV: {$evopts, cache: $SRC/cache}"
    for r in "$@"; do
        n=${r%%=*} o=${r#*=} base=$evopts
        # a key the recipe sets replaces the study's (scalar) value
        for k in $(echo "$o" | sed 's/{[^}]*}//g' | tr ',' '\n' | sed -n 's/^ *\([a-z_]*\):.*/\1/p'); do
            base=$(echo "$base" | sed "s/, *$k: *[^,]*//; s/^$k: *[^,]*, *//")
        done
        echo "  $n: {$base, cache: $OUT/cache, $o}"
        names="$names, $n"
    done
    echo "objectives: [{metric: $EV.val_loss, goal: minimize}]"
    echo "stages: [{name: eval, sampler: sobol, trials: $npts, points: [$pts], run: [$names]}]"
} > "$OUT/study.yaml"
nice -n 5 "$HILNAS" run "$OUT/study.yaml" > "$OUT/log.txt" 2>&1
awk -F, -v evs="$names" "$(cat "$HERE/csvcol.awk")"'
NR == 1 {
    ne = split(evs, E, ", ")
    for (e = 1; e <= ne; e++) c[e] = col(E[e] ".val_loss")
    for (i = 4; i <= NF && index($i, ".") == 0; i++) np = i
    printf "%-34s", "architecture"; for (e = 1; e <= ne; e++) printf " %-18s", E[e]; printf "\n"; next
}
$3 == "complete" {
    n++; a = ""
    for (i = 4; i <= np; i++) a = a (a == "" ? "" : " ") $i
    A[n] = a; for (e = 1; e <= ne; e++) V[n, e] = $(c[e])
}
END {
    for (k = 1; k <= n; k++) {
        printf "%-34s", A[k]
        for (e = 1; e <= ne; e++) printf " %.4f (%+6.2f %%)", V[k, e], 100 * (V[k, e] / V[1, e] - 1)
        printf "\n"
    }
}' "$OUT/run/trials.csv" | tee "$OUT/table.txt"
