#!/bin/sh
# Fuzz hilnas's input parsers with libFuzzer (clang -fsanitize=fuzzer,address,undefined).
#
#   tests/fuzz/run.sh [SECONDS [TARGET...]]      (run from a configured build directory)
#
# Targets: study_yaml set_path llm_config safetensors device_output journal (default: all, one
# after the other, SECONDS each, default 60). Each starts from its seed corpus tests/fuzz/TARGET
# plus what earlier runs found (fuzz-build/corpus-TARGET); a crash, leak, or sanitizer report
# stops it and leaves the input in fuzz-build/ (crash-*, leak-*, timeout-*). Run under nice on a
# shared machine. CI does not need clang: the normal build replays the seed corpora
# (tests/fuzz/replay_*). docs/reliability.md records the runs.
set -u
secs=${1:-60}
[ $# -gt 0 ] && shift
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(pwd)
out=$build/fuzz-build
targets=${*:-study_yaml set_path llm_config safetensors device_output journal}
cc=${FUZZ_CC:-clang}
[ -f "$build/config.h" ] || { echo "run.sh: run it from a configured build directory" >&2; exit 2; }
command -v "$cc" >/dev/null || { echo "run.sh: needs clang (apt-get install clang)" >&2; exit 2; }
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
  -fno-sanitize-recover=undefined -I$build -I$src -I$src/src -I$src/include -DHN_BUILDDIR=\"$build\"
  -DHN_BUILD_PLUGINDIR=\"$build/plugins/.libs\" -DHN_PLUGINDIR=\"/nonexistent\"
  $(pkg-config --cflags jansson yaml-0.1 2>/dev/null)"
libs="-lyaml -ljansson -lltdl -lnlopt -llapacke
  -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -lm"
mkdir -p "$out"
rc=0
for t in $targets; do
    extra=
    case $t in
    llm_config | safetensors) extra="$src/llm/llm_config.c $src/llm/safetensors.c" ;;
    device_output) extra="$src/plugins/oracle-device/parse.c" ;;
    esac
    # shellcheck disable=SC2086
    if ! $cc $cflags -o "$out/$t" "$src/tests/fuzz/fuzz_$t.c" "$src"/src/core/*.c $extra $libs \
        2>"$out/$t.build.log"; then
        echo "$t: build failed (see $out/$t.build.log)" >&2
        rc=1
        continue
    fi
    mkdir -p "$out/corpus-$t"
    (cd "$out" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        nice -n 10 "./$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -max_len=65536 -print_final_stats=1 "corpus-$t" "$src/tests/fuzz/$t" >"$t.log" 2>&1)
    r=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -1)
    if [ $r -eq 0 ]; then
        echo "$t: ${secs} s, $execs runs, $cov, nothing found"
    else
        echo "$t: FOUND something after $execs runs (see $out/$t.log)"
        rc=1
    fi
done
exit $rc
