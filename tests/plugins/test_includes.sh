#!/bin/sh
# Plugins and the engine are built only from the public headers: no file of plugins/, llm/ or
# examples/ includes a private core header ("core/..."), and the installed headers
# (include/hilnas/) include only each other and system headers, never config.h.
set -u
: "${abs_top_srcdir:?}"
cd "$abs_top_srcdir" || exit 1
bad=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](\.\./)*core/' \
    plugins llm examples include 2> /dev/null)
if [ -n "$bad" ]; then
    echo "FAIL: private core headers included (publish what is needed in include/hilnas/):" >&2
    echo "$bad" >&2
    exit 1
fi
bad=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' include | grep -v '"hilnas/')
if [ -n "$bad" ]; then
    echo "FAIL: an installed header includes a file that is not installed:" >&2
    echo "$bad" >&2
    exit 1
fi
n=$(find plugins llm -name '*.[ch]' | wc -l)
[ "$n" -ge 30 ] || { echo "FAIL: only $n sources found under plugins/ and llm/" >&2; exit 1; }
echo "PASS: $n plugin and engine sources use only public headers"
