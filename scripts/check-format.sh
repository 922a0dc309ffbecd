#!/bin/sh
# List the C sources that are not in the shipped format (.clang-format, defined for
# clang-format 15: Debian 12's clang-format-15 package). Nothing is changed unless --fix.
#
#   scripts/check-format.sh [--diff | --fix] [FILE...]
#
# Without FILE: every *.c and *.h file git tracks (outside a git checkout: every one under the
# source directories). Prints one path per line for each file that differs, then on stderr
# "format: N of M files not in the shipped format". Exit 0 when all are formatted, 1 when some
# are not, 2 on a usage error or when clang-format 15 is not found.
#   --diff  also print each difference (diff -u, current file first)
#   --fix   rewrite those files in place (clang-format -i) and list what it rewrote
# The formatter is $CLANG_FORMAT when set, else clang-format-15, else a clang-format whose
# --version says 15. Another version formats differently (14 does not know InsertBraces), so
# it is refused: apt-get install clang-format-15.
set -u
cd "$(dirname "$0")/.." || exit 2

mode=list
case "${1:-}" in
--diff) mode=diff; shift ;;
--fix) mode=fix; shift ;;
--help | -h)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
-*)
    echo "check-format: unknown option '$1' (use --diff, --fix or --help)" >&2
    exit 2
    ;;
esac

version_of() {
    "$1" --version 2>/dev/null | sed -n 's/.*clang-format version \([0-9][0-9]*\)\..*/\1/p'
}

cf=""
for c in ${CLANG_FORMAT:-} clang-format-15 clang-format; do
    if command -v "$c" > /dev/null 2>&1 && [ "$(version_of "$c")" = 15 ]; then
        cf=$c
        break
    fi
done
if [ -z "$cf" ]; then
    found=$(command -v clang-format > /dev/null 2>&1 && clang-format --version | head -n 1)
    echo "check-format: clang-format 15 not found${found:+ (clang-format is: $found)}; the" \
        "format is defined for version 15: apt-get install clang-format-15, or set" \
        "CLANG_FORMAT" >&2
    exit 2
fi

if [ $# -gt 0 ]; then
    files=$(printf '%s\n' "$@")
elif git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    files=$(git ls-files '*.c' '*.h')
else
    files=$(find bench examples include llm plugins src tests tools -name '*.[ch]' | sort)
fi

tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT INT TERM
total=0
bad=0
for f in $files; do
    if [ ! -f "$f" ]; then
        echo "check-format: $f: no such file" >&2
        exit 2
    fi
    total=$((total + 1))
    # --assume-filename keeps the language and the .clang-format lookup of the real path
    if ! "$cf" --style=file --assume-filename="$f" < "$f" > "$tmp"; then
        echo "check-format: $cf failed on $f" >&2
        exit 2
    fi
    if ! cmp -s "$f" "$tmp"; then
        bad=$((bad + 1))
        echo "$f"
        case $mode in
        diff) diff -u "$f" "$tmp" | sed "2s|$tmp|$f (formatted)|" ;;
        fix) cp "$tmp" "$f" ;;
        esac
    fi
done
if [ "$mode" = fix ]; then
    echo "format: rewrote $bad of $total files with $cf" >&2
    exit 0
fi
echo "format: $bad of $total files not in the shipped format ($cf)" >&2
[ "$bad" -eq 0 ]
