#!/bin/sh
# bench/latency/predict_time_ab.sh: two builds of hilnas side by side on predict_time.sh.
#
#   bench/latency/predict_time_ab.sh BEFORE AFTER [N [ROUNDS]]
#
# BEFORE and AFTER are `hilnas` programs (e.g. OLD/tools/hilnas and ./tools/hilnas). Runs
# bench/latency/predict_time.sh N (default 100) with each, alternating, ROUNDS times (default
# 3), so that both meet the same machine; then once more each under `strace -f -c` counting
# fsync, fdatasync and rename (skipped when strace is absent). Run it without
# OPENBLAS_CORETYPE (env -u OPENBLAS_CORETYPE) and read the load printed with each run.
set -eu
[ $# -ge 2 ] || { sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
before=$1
after=$2
n=${3:-100}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
for h in "$before" "$after"; do
    [ -x "$h" ] || { echo "predict_time_ab: $h is not an executable hilnas" >&2; exit 2; }
done
r=1
while [ "$r" -le "$rounds" ]; do
    echo "=== before, round $r ($before)"
    HILNAS=$before sh "$here/predict_time.sh" "$n"
    echo "=== after, round $r ($after)"
    HILNAS=$after sh "$here/predict_time.sh" "$n"
    r=$((r + 1))
done
command -v strace > /dev/null || { echo "# strace not found: no system call counts"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/predict-ab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# predict_time.sh runs "$HILNAS run ...": a wrapper puts strace in front (paths through the
# environment, never pasted into the script)
cat > "$tmp/strace.sh" <<'WRAP'
#!/bin/sh
exec strace -f -c -o "$HN_AB_OUT" -e trace=fsync,fdatasync,rename,renameat,renameat2 \
    "$HN_AB_TARGET" "$@"
WRAP
chmod +x "$tmp/strace.sh"
for which in before after; do
    if [ "$which" = before ]; then h=$before; else h=$after; fi
    echo "=== $which under strace -f -c"
    HN_AB_OUT=$tmp/$which.strace HN_AB_TARGET=$h HILNAS=$tmp/strace.sh \
        sh "$here/predict_time.sh" "$n" > /dev/null
    cat "$tmp/$which.strace"
done
