#!/bin/sh
# llama.cpp as a latency oracle for the `device` oracle (conf.d/llamacpp-latency.yaml).
#
# usage: scripts/llamacpp-latency.sh ARCH.json WORKDIR [PROMPT [GEN [DEPTH [REPS [THREADS]]]]]
#
# Exports the architecture with random weights as GGUF (`hilnas export --arch ARCH.json --random
# --format gguf`, into WORKDIR/llamacpp/), times it with `llama-bench -o json` (a prompt of PROMPT
# tokens; GEN generated tokens after a context of DEPTH tokens; REPS repetitions; THREADS
# threads, 0 = llama-bench's default) and prints the device oracle's JSON line:
#   {"prefill_ms": {"value": ..., "sem": ...}, "decode_ms": {"value": ..., "sem": ...}}
# prefill_ms is the time to process the prompt, decode_ms the time per generated token; sem is
# llama-bench's standard deviation over the repetitions divided by sqrt(REPS).
# Defaults: PROMPT 128, GEN 16, DEPTH 0, REPS 5, THREADS 0.
#
# Environment:
#   HILNAS          the hilnas command (default: hilnas in PATH, else ./tools/hilnas)
#   LLAMA_BENCH     the llama-bench binary (default: llama-bench in PATH, else
#                   $LLAMA_CPP_DIR/bin/llama-bench or $LLAMA_CPP_DIR/build/bin/llama-bench)
#   HN_ADB_SERIAL   time on an Android device instead: the model is pushed with adb to
#                   HN_ADB_DIR (default /data/local/tmp) and LLAMA_BENCH is the binary's path
#                   there (default $HN_ADB_DIR/llama-bench); "-" uses adb's only device.
# Data never reaches a shell: arguments are checked to be numbers and paths are passed as
# separate arguments (the adb command line holds only checked numbers and HN_ADB_DIR).
# Exit status: 0, or 1 with the reason on standard error (the oracle fails the trial with it).

set -u

die() {
    printf 'llamacpp-latency: %s\n' "$*" >&2
    exit 1
}

is_count() {
    case $1 in
    '' | *[!0-9]*) return 1 ;;
    esac
    return 0
}

if [ $# -lt 2 ] || [ $# -gt 7 ]; then
    die "usage: $0 ARCH.json WORKDIR [PROMPT [GEN [DEPTH [REPS [THREADS]]]]]"
fi
arch=$1
workdir=$2
prompt=${3:-128}
gen=${4:-16}
depth=${5:-0}
reps=${6:-5}
threads=${7:-0}
for v in "$prompt" "$gen" "$depth" "$reps" "$threads"; do
    is_count "$v" || die "PROMPT, GEN, DEPTH, REPS and THREADS must be non-negative integers, got '$v'"
done
if [ "$prompt" -eq 0 ] || [ "$gen" -eq 0 ] || [ "$reps" -eq 0 ]; then
    die "PROMPT, GEN and REPS must be at least 1"
fi
[ -f "$arch" ] || die "no architecture file '$arch'"
[ -d "$workdir" ] || die "no work directory '$workdir'"

hilnas=${HILNAS:-}
if [ -z "$hilnas" ]; then
    if command -v hilnas >/dev/null 2>&1; then
        hilnas=hilnas
    elif [ -x ./tools/hilnas ]; then
        hilnas=./tools/hilnas
    else
        die "hilnas not found: set HILNAS"
    fi
fi

adb_dir=${HN_ADB_DIR:-/data/local/tmp}
case $adb_dir in
/*) ;;
*) die "HN_ADB_DIR must be an absolute path" ;;
esac
case $adb_dir in
*[!A-Za-z0-9_./-]*) die "HN_ADB_DIR may hold only letters, digits and _ . / -" ;;
esac

bench=${LLAMA_BENCH:-}
if [ -z "${HN_ADB_SERIAL:-}" ] && [ -z "$bench" ]; then
    if command -v llama-bench >/dev/null 2>&1; then
        bench=$(command -v llama-bench)
    elif [ -n "${LLAMA_CPP_DIR:-}" ] && [ -x "$LLAMA_CPP_DIR/bin/llama-bench" ]; then
        bench=$LLAMA_CPP_DIR/bin/llama-bench
    elif [ -n "${LLAMA_CPP_DIR:-}" ] && [ -x "$LLAMA_CPP_DIR/build/bin/llama-bench" ]; then
        bench=$LLAMA_CPP_DIR/build/bin/llama-bench
    else
        die "llama-bench not found: put it in PATH, or set LLAMA_BENCH or LLAMA_CPP_DIR (docs/export.md)"
    fi
fi

out=$workdir/llamacpp
"$hilnas" export --arch "$arch" --random --format gguf -o "$out" >"$workdir/llamacpp-export.log" 2>&1 ||
    die "export failed: $(tail -n 1 "$workdir/llamacpp-export.log")"
model=$out/model.gguf
json=$out/bench.json

# llama-bench runs every combination of its lists: run prefill and decode separately so that the
# prompt is timed without the decode depth.
run_bench() {
    if [ -n "${HN_ADB_SERIAL:-}" ]; then
        serial=$HN_ADB_SERIAL
        if [ "$serial" = - ]; then
            set -- adb
        else
            set -- adb -s "$serial"
        fi
        "$@" push "$model" "$adb_dir/hilnas-candidate.gguf" >/dev/null || die "adb push failed"
        rbench=${LLAMA_BENCH:-$adb_dir/llama-bench}
        case $rbench in
        *[!A-Za-z0-9_./-]*) die "LLAMA_BENCH for adb may hold only letters, digits and _ . / -" ;;
        esac
        "$@" shell "$rbench -m $adb_dir/hilnas-candidate.gguf $bench_args"
    else
        # shellcheck disable=SC2086 # bench_args holds only checked numbers and fixed flags
        "$bench" -m "$model" $bench_args
    fi
}

thr=""
[ "$threads" -gt 0 ] && thr="-t $threads"
bench_args="-p $prompt -n 0 -r $reps -o json $thr"
run_bench >"$json" 2>"$workdir/llamacpp-bench.log" ||
    die "llama-bench (prompt) failed: $(tail -n 1 "$workdir/llamacpp-bench.log")"
bench_args="-p 0 -n $gen -d $depth -r $reps -o json $thr"
run_bench >>"$json" 2>>"$workdir/llamacpp-bench.log" ||
    die "llama-bench (generation) failed: $(tail -n 1 "$workdir/llamacpp-bench.log")"

# One record per test object: n_prompt n_gen avg_ns stddev_ns (llama-bench's JSON printer puts
# one field per line).
awk -v P="$prompt" -v G="$gen" -v R="$reps" '
function num(line,   s) { s = line; sub(/^[^:]*:[ \t]*/, "", s); sub(/[ \t]*,?[ \t]*$/, "", s); return s + 0 }
/"n_prompt":/  { np = num($0) }
/"n_gen":/     { ng = num($0) }
/"avg_ns":/    { avg = num($0); have = 1 }
/"stddev_ns":/ { sd = num($0) }
/^[ \t]*}/ {
    if (have && np == P && ng == 0) { pre = avg; presd = sd; got_p = 1 }
    if (have && np == 0 && ng == G) { dec = avg / G; decsd = sd / G; got_g = 1 }
    have = 0
}
END {
    if (!got_p || !got_g) { print "no prompt and generation results in llama-bench output" > "/dev/stderr"; exit 1 }
    printf "{\"prefill_ms\": {\"value\": %.6f, \"sem\": %.6f}, \"decode_ms\": {\"value\": %.6f, \"sem\": %.6f}}\n",
        pre / 1e6, presd / 1e6 / sqrt(R), dec / 1e6, decsd / 1e6 / sqrt(R)
}' "$json" || die "cannot read llama-bench's output ($json)"
