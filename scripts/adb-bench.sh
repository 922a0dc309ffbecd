#!/bin/sh
# scripts/adb-bench.sh ARCH.json [hilnas-bench options]: time one architecture on an Android
# phone over adb with hilnas-bench and print its JSON line (the device oracle's command in
# conf.d/phone.yaml; docs/latency.md, "A phone over adb").
#
# The binary is pushed once: again only when its SHA-256 differs from the one recorded on the
# phone. Per trial the architecture is pushed to a fixed path and hilnas-bench runs on it.
# adb hands the remote command to the phone's shell as one string, so nothing from the
# architecture reaches it: the remote paths are fixed, and the options must consist of
# [A-Za-z0-9,._/-] only (numbers and names such as 0,512 or q8_0); anything else is refused.
# `--reference FILE` (a config.json, or a checkpoint directory's) is pushed to a fixed path on
# the phone and the option points hilnas-bench there.
#
# Environment: ADB (default adb; e.g. "adb -s SERIAL" is not possible, use ANDROID_SERIAL),
# HILNAS_BENCH_BIN (the cross-built binary, default build-android/hilnas-bench),
# HILNAS_BENCH_REMOTE (directory on the phone, default /data/local/tmp/hilnas),
# HILNAS_BENCH_TASKSET (optional CPU mask for taskset on the phone, e.g. f0: the big cores).
set -eu
ADB=${ADB:-adb}
BIN=${HILNAS_BENCH_BIN:-build-android/hilnas-bench}
REMOTE=${HILNAS_BENCH_REMOTE:-/data/local/tmp/hilnas}
MASK=${HILNAS_BENCH_TASKSET:-}
[ $# -ge 1 ] || { echo "usage: adb-bench.sh ARCH.json [hilnas-bench options]" >&2; exit 2; }
arch=$1
shift
safe() {
    case $1 in
    "" | *[!A-Za-z0-9,._/-]*) return 1 ;;
    esac
}
safe "$REMOTE" || { echo "adb-bench.sh: bad HILNAS_BENCH_REMOTE '$REMOTE'" >&2; exit 2; }
# the options for the phone's shell: checked, then joined (they hold no space or glob character)
opts="" ref="" want_ref=0
for a in "$@"; do
    if [ "$want_ref" = 1 ]; then
        ref=$a want_ref=0
        [ ! -d "$ref" ] || ref=$ref/config.json
        [ -f "$ref" ] || { echo "adb-bench.sh: --reference: $ref not found" >&2; exit 1; }
        opts="$opts $REMOTE/reference.json"
        continue
    fi
    safe "$a" || { echo "adb-bench.sh: refusing option '$a' (only [A-Za-z0-9,._/-])" >&2; exit 2; }
    [ "$a" != --reference ] || want_ref=1
    opts="$opts $a"
done
[ "$want_ref" = 0 ] || { echo "adb-bench.sh: --reference needs a file" >&2; exit 2; }
[ -z "$MASK" ] || safe "$MASK" || { echo "adb-bench.sh: bad HILNAS_BENCH_TASKSET" >&2; exit 2; }
[ -f "$BIN" ] || { echo "adb-bench.sh: $BIN not found: cross-build it (docs/latency.md) or set HILNAS_BENCH_BIN" >&2; exit 1; }
sum=$(sha256sum "$BIN" | cut -d' ' -f1)
have=$("$ADB" shell cat "$REMOTE/hilnas-bench.sha256" 2>/dev/null | tr -d '\r' || true)
if [ "$have" != "$sum" ]; then
    "$ADB" shell mkdir -p "$REMOTE" >&2
    "$ADB" push "$BIN" "$REMOTE/hilnas-bench" >&2
    "$ADB" shell chmod 755 "$REMOTE/hilnas-bench" >&2
    "$ADB" shell "echo $sum > $REMOTE/hilnas-bench.sha256" >&2
fi
"$ADB" push "$arch" "$REMOTE/arch.json" >&2
[ -z "$ref" ] || "$ADB" push "$ref" "$REMOTE/reference.json" >&2
# shellcheck disable=SC2086 # opts: checked words, split on purpose
if [ -n "$MASK" ]; then
    exec "$ADB" shell taskset "$MASK" "$REMOTE/hilnas-bench" "$REMOTE/arch.json" $opts
fi
# shellcheck disable=SC2086
exec "$ADB" shell "$REMOTE/hilnas-bench" "$REMOTE/arch.json" $opts
