#!/bin/sh
# The headline from finished studies (docs/method.md, Evidence 4): for each study directory (a
# `hilnas run` output whose stages give the unpruned backbone as a `points:` trial, as
# conf.d/demo.yaml and conf.d/flash.yaml do), the backbone's loss and, within +1, +2 and +5 % of
# it, the fastest model by measured prefill with its measured prefill and decode speedups (every
# decode context the oracle measured) over the backbone's measured latencies, and how many of
# its layers skip attention; next to it the fastest such model that skips no attention. Trials
# of one architecture are merged as `hilnas run` merges them (a later measurement wins, e.g.
# the verify stage's), so the prefill speedups are those of its "fastest models near the
# backbone" table. Then the verify stage's predicted-vs-measured errors (<stage>-verify.csv).
#
# usage: bench/quality/near-backbone.sh [-m] STUDY_DIR...
#   -m  markdown table rows (one header for all studies: they must measure the same contexts)
# Environment: QUALITY (quality.val_loss), MEASURED (host: the measuring oracle), TOLS ("1 2 5",
# per cent), FRONTIER (1: also list every Pareto-set trial of pareto.csv with its loss against
# the backbone's and its measured speedups), ROWS (append the rows, tab-separated, to this
# file: label tol trial loss rel prefill_x decode_x... skipped layers noskip_trial noskip_x).
set -eu
MD=0
if [ "${1:-}" = "-m" ]; then
    MD=1
    shift
fi
[ $# -ge 1 ] || { sed -n '12,17p' "$0" >&2; exit 2; }
QUALITY=${QUALITY:-quality.val_loss} MEASURED=${MEASURED:-host} TOLS=${TOLS:-"1 2 5"}
ROWS=${ROWS:-/dev/null}
HERE=$(dirname "$0")
first=1
for dir in "$@"; do
    for f in journal.jsonl trials.csv; do
        [ -r "$dir/$f" ] || { echo "near-backbone.sh: $dir/$f: not readable (not a study directory?)" >&2; exit 1; }
    done
    # the journal's `started` events of `points:` trials name the backbone
    pareto=/dev/null
    if [ "${FRONTIER:-0}" = 1 ] && [ "$MD" = 0 ] && [ -r "$dir/pareto.csv" ]; then
        pareto=$dir/pareto.csv
    fi
    awk -F, -v label="$dir" -v q="$QUALITY" -v src="$MEASURED" -v tols="$TOLS" -v md="$MD" \
        -v header="$first" -v rows="$ROWS" -v pareto="$pareto" "$(cat "$HERE/csvcol.awk")"'
BEGIN {
    while ((getline line < pareto) > 0) if (pl++ && split(line, f, ",") > 1) onfront[f[1] + 0] = 1
}
FNR == NR {
    if ($0 ~ /"event":"started"/ && $0 ~ /"point":/ && match($0, /"trial":[0-9]+/))
        point[substr($0, RSTART + 8, RLENGTH - 8) + 0] = 1
    next
}
FNR == 1 {
    cq = col(q); cp = col(src ".prefill_ms"); cdep = col("depth"); cskip = col("skip_attention")
    if (!cq || !cp || !cdep) {
        printf "%s/trials.csv: no column %s, %s.prefill_ms or depth\n", label, q, src > "/dev/stderr"
        bad = 1; exit 1
    }
    for (i = 4; i <= NF && index($i, ".") == 0; i++) { np = i; pname[i] = $i }   # the parameters: columns 4..np
    nd = 0
    for (i = 1; i <= NF; i++) {
        if ($i ~ ("^" src "\\.decode_ms(_[0-9]+)?$")) { nd++; cdc[nd] = i; ctx[nd] = $i; sub("^" src "\\.decode_ms_?", "", ctx[nd]); if (ctx[nd] == "") ctx[nd] = "-" }
        if ($i ~ /^attn_[0-9]+$/) { cattn[substr($i, 6) + 0] = i }
    }
    ncol = NF; next
}
$3 == "complete" {
    key = ""
    for (i = 4; i <= np; i++) key = key SUBSEP $i
    if (!(key in cand)) {
        n++; cand[key] = n; id[n] = $1; arch[n] = ""
        for (i = 4; i <= np; i++) if (pname[i] !~ /^attn_/) arch[n] = arch[n] (arch[n] == "" ? "" : " ") $i
        if (cskip) skip[n] = $cskip + 0
        else {
            skip[n] = 0
            for (l = 0; l < $cdep; l++) if ((l in cattn) && tolower($(cattn[l])) == "false") skip[n]++
        }
        depth[n] = $cdep
    }
    k = cand[key]
    if (($1 + 0) in point) isref[k] = 1
    if (($1 + 0) in onfront) front[k] = $1
    if ($cq != "") Q[k] = $cq
    if ($cp != "") P[k] = $cp
    for (j = 1; j <= nd; j++) if ($(cdc[j]) != "") D[k, j] = $(cdc[j])
}
END {
    if (bad) exit 1
    for (k = 1; k <= n && !ref; k++) if (isref[k] && (k in Q)) ref = k
    if (!ref || !(ref in P)) {
        printf "%s: no backbone (points:) trial with %s and %s.prefill_ms\n", label, q, src > "/dev/stderr"
        exit 1
    }
    q0 = Q[ref]; p0 = P[ref]
    if (!md) {
        printf "%s: backbone trial %d: %s %.4f, %s.prefill_ms %.4g", label, id[ref], q, q0, src, p0
        for (j = 1; j <= nd; j++) if ((ref, j) in D) printf ", decode_ms(ctx %s) %.4g", ctx[j], D[ref, j]
        printf "\n  %-6s %-6s %-18s %-8s", "within", "trial", "loss", "prefill"
        for (j = 1; j <= nd; j++) printf " %-9s", "dec@" ctx[j]
        printf " %-14s %s\n", "no attention", "fastest skipping none"
    } else if (header) {
        printf "| run | backbone loss | within | trial | loss | prefill |"
        for (j = 1; j <= nd; j++) printf " decode @%s |", ctx[j]
        printf " layers w/o attention | fastest skipping none |\n|"
        for (j = 1; j <= 8 + nd; j++) printf " --- |"
        printf "\n"
    }
    nt = split(tols, T, " ")
    for (t = 1; t <= nt; t++) {
        lim = q0 + T[t] / 100 * (q0 < 0 ? -q0 : q0)
        best = ref; off = ref
        for (k = 1; k <= n; k++) if ((k in Q) && (k in P) && Q[k] + 0 <= lim) {
            if (P[k] + 0 < P[best] + 0) best = k
            if (skip[k] == 0 && P[k] + 0 < P[off] + 0) off = k
        }
        rel = 100 * (Q[best] / q0 - 1)
        dec = ""; decs = ""
        for (j = 1; j <= nd; j++) {
            x = ((best, j) in D) && ((ref, j) in D) && D[best, j] > 0 ? sprintf("%.2fx", D[ref, j] / D[best, j]) : "?"
            dec = dec sprintf(md ? " %s |" : " %-9s", x); sub(/x$/, "", x); decs = decs "\t" x
        }
        sk = skip[best] " of " depth[best]
        no = sprintf("%d (%.2fx)", id[off], p0 / P[off])
        if (md)
            printf "| %s | %.4f | +%g %% | %d | %.4f (%+.2f %%) | %.2fx |%s %s | %s |\n", label, q0, T[t], id[best], Q[best], rel, p0 / P[best], dec, sk, no
        else
            printf "  %-6s %-6d %.4f (%+6.2f %%) %-8s%s %-14s %s%s\n", "+" T[t] "%", id[best], Q[best], rel, sprintf("%.2fx", p0 / P[best]), dec, sk, no, best == ref ? "  (the backbone)" : ""
        printf "%s\t%g\t%d\t%.6f\t%.4f\t%.4f%s\t%d\t%d\t%d\t%.4f\n", label, T[t], id[best], Q[best], rel, p0 / P[best], decs, skip[best], depth[best], id[off], p0 / P[off] >> rows
    }
    if (pl > 1) {
        an = ""; for (i = 4; i <= np; i++) if (pname[i] !~ /^attn_/) an = an (an == "" ? "" : " ") pname[i]
        printf "  Pareto set (pareto.csv; speedups over the backbone, measured):\n  %-6s %-30s %-18s %-8s", "trial", an (cattn[0] ? " (+attn_*)" : ""), "loss", "prefill"
        for (j = 1; j <= nd; j++) printf " %-9s", "dec@" ctx[j]
        printf " %s\n", "no attention"
        for (k = 1; k <= n; k++) if (k in front) {
            printf "  %-6d %-30s %.4f (%+6.2f %%) %-8s", front[k], arch[k], Q[k], 100 * (Q[k] / q0 - 1), (k in P) ? sprintf("%.2fx", p0 / P[k]) : "?"
            for (j = 1; j <= nd; j++) printf " %-9s", (((k, j) in D) && ((ref, j) in D) && D[k, j] > 0 ? sprintf("%.2fx", D[ref, j] / D[k, j]) : "?")
            printf " %d of %d\n", skip[k], depth[k]
        }
    }
}' "$dir/journal.jsonl" "$dir/trials.csv"
    # predicted vs re-measured (the verify stages)
    if [ "$MD" = 0 ]; then
        for v in "$dir"/*-verify.csv; do
            [ -r "$v" ] || continue
            awk -F, -v f="$v" 'NR > 1 {
                n[$3]++; e = $8 < 0 ? -$8 : $8; s[$3] += e; in95[$3] += $9; all++; ain += $9; aerr += e
            }
            END {
                if (!all) exit
                printf "  %s: %d comparisons, mean |error| %.1f %%, %d inside the 95 %% intervals;", f, all, 100 * aerr / all, ain
                for (m in n) printf " %s %.1f %% (%d of %d inside)", m, 100 * s[m] / n[m], in95[m], n[m]
                printf "\n"
            }' "$v"
        done
    fi
    first=0
done
