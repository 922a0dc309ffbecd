#!/bin/sh
# hilnas(1), as built (docs/hilnas.1): renders without a warning (groff -ww), its PLUGINS
# section is exactly what `hilnas plugins --man` prints now (one section per plugin found),
# every subcommand of tools/commands.def has its section, and every option a command's --help
# names is described. A new command, option or plugin without its manual fails here.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
: "${abs_top_builddir:?}" "${abs_top_srcdir:?}" "${HILNAS:?}"
tmp=${HN_TEST_TMPDIR:-$(mktemp -d)}
page=$abs_top_builddir/docs/hilnas.1
[ -f "$page" ] || fail "$page was not built"
command -v groff > /dev/null 2>&1 ||
    { echo "SKIP: groff is not installed (apt-get install groff-base)"; exit 77; }

# 1. renders, with every warning on, and none
groff -ww -b -man -Tutf8 -z "$page" 2> "$tmp/warnings"
[ -s "$tmp/warnings" ] && { cat "$tmp/warnings" >&2; fail "groff warns about hilnas.1"; }
groff -man -Tascii -P-cbou "$page" > "$tmp/page.txt" 2> /dev/null || fail "groff cannot render hilnas.1"
grep -q 'EXIT STATUS' "$tmp/page.txt" || fail "no EXIT STATUS section"
grep -q '@[A-Z_]*@' "$page" && fail "a placeholder was left in hilnas.1: $(grep '@[A-Z_]*@' "$page")"

# 2. the plugin part is the plugins' option tables, freshly generated
HILNAS_PLUGIN_PATH= "$HILNAS" plugins --man > "$tmp/options.roff" || fail "hilnas plugins --man failed"
[ -s "$tmp/options.roff" ] || fail "hilnas plugins --man printed nothing"
"$HN_PYTHON" - "$page" "$tmp/options.roff" << 'PY' || fail "the PLUGINS section is stale"
import sys
page, fresh = open(sys.argv[1]).read(), open(sys.argv[2]).read()
assert fresh in page, "hilnas.1 does not contain the current `hilnas plugins --man` output"
PY
HILNAS_PLUGIN_PATH= "$HILNAS" plugins --json > "$tmp/plugins.json" || fail "hilnas plugins --json failed"
"$HN_PYTHON" - "$tmp/plugins.json" "$page" << 'PY' || fail "a plugin has no section"
import json, sys
plugins = json.load(open(sys.argv[1]))
page = open(sys.argv[2]).read()
assert len(plugins) >= 12, f"only {len(plugins)} plugins found"
for p in plugins:
    assert "error" not in p, p
    assert f'.SS "{p["kind"]} {p["name"]}"' in page, p
PY

# 3. every command has a section, and every option of its --help is in the page
cmds=$(sed -n 's/^HN_COMMAND(\([a-z_]*\),.*/\1/p' "$abs_top_srcdir/tools/commands.def")
[ "$(echo "$cmds" | wc -w)" -ge 10 ] || fail "cannot read tools/commands.def"
for c in $cmds; do
    grep -q "^\.SS \"hilnas $c[ \"]" "$page" || fail "command '$c' has no section in hilnas.1"
    "$HILNAS" "$c" --help > "$tmp/help.txt" 2>&1 || fail "hilnas $c --help failed"
    for opt in $(grep -o -- '--[a-z][a-z0-9-]*' "$tmp/help.txt" | sort -u); do
        case $opt in --SETTING) continue ;; esac
        # as the page's source spells it (\-\-name: rendering may hyphenate or break lines)
        grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$page" ||
            fail "hilnas $c --help names $opt, which hilnas.1 does not describe"
    done
done
# 4. every environment variable the sources read is in ENVIRONMENT
vars=$(cd "$abs_top_srcdir" &&
    grep -rhoE --include='*.c' 'getenv\("HILNAS_[A-Z_]*"\)' core llm plugins tools |
    sed 's/getenv("\(.*\)")/\1/' | sort -u)
[ -n "$vars" ] || fail "no HILNAS_ variable found in the sources"
for v in $vars; do
    grep -qF -- "$v" "$page" ||
        fail "the sources read \$$v, which hilnas.1 does not describe"
done
echo "PASS: hilnas.1 renders cleanly and covers $(echo "$cmds" | wc -w) commands and the plugins"
