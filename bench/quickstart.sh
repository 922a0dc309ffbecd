#!/bin/sh
# bench/quickstart.sh: what README's first command costs from a fresh clone, phase by phase:
# set-up and build (sh scripts/setup.sh, the Debian packages already installed), then
# conf.d/quick.yaml with an empty cache (tokenize, pretrain the backbone, the study), then
# conf.d/demo.yaml fresh (its backbone pretrained; the corpus cached by quick.yaml), then demo.yaml
# again into a new output directory with everything cached (as a user re-running it).
# Prints one table row per phase: wall seconds, CPU seconds (user + sys, children included, from
# /usr/bin/time) and the load average before and after, since a busy machine inflates the wall
# time but not (much) the CPU time.
# usage: bench/quickstart.sh [REPO] [WORKDIR]   (default: this checkout; a new directory in /tmp)
#        PHASES="build quick demo demo-cached" to choose phases (in this order).
set -e
REPO=${1:-$(cd "$(dirname "$0")/.." && pwd)}
WORK=${2:-$(mktemp -d /tmp/hilnas-quickstart.XXXXXX)}
PHASES=${PHASES:-build quick demo demo-cached}
mkdir -p "$WORK"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "# clone of $REPO at $(git -C "$REPO" rev-parse --short HEAD) in $WORK/hilnas"
echo "| phase | wall s | CPU s (user+sys) | load before | load after |"
echo "| --- | --- | --- | --- | --- |"
load() { cut -d' ' -f1-3 /proc/loadavg; }
phase() { # name, then the command (run in the clone)
    name=$1
    shift
    before=$(load)
    ( cd "$WORK/hilnas" && /usr/bin/time -f '%e %U %S' -o "$WORK/$name.time" "$@" ) \
        > "$WORK/$name.log" 2>&1 || { echo "phase $name failed: see $WORK/$name.log" >&2; exit 1; }
    after=$(load)
    awk -v n="$name" -v b="$before" -v a="$after" \
        '{ printf "| %s | %.0f | %.0f | %s | %s |\n", n, $1, $2 + $3, b, a }' "$WORK/$name.time"
}
for p in $PHASES; do
    case $p in
    build)
        rm -rf "$WORK/hilnas"
        git clone -q "$REPO" "$WORK/hilnas"
        phase build sh scripts/setup.sh
        ;;
    quick) phase quick tools/hilnas run conf.d/quick.yaml ;;
    demo) phase demo tools/hilnas run conf.d/demo.yaml ;;
    demo-cached) phase demo-cached tools/hilnas run conf.d/demo.yaml --output runs/demo-again ;;
    esac
done
echo "# logs and studies in $WORK"
