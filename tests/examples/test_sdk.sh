#!/bin/sh
# The plugin SDK end to end, as a plugin author meets it: install hilnas (make install into a
# staging directory, DESTDIR), build examples/optimizer-localsearch and examples/oracle-linear
# with their own Makefiles, which use only `pkg-config --cflags --libs hilnas-plugin`, against
# that installation, and run examples/study.yaml with the installed hilnas and the two plugins.
# Checks: the installed files (headers, libraries, pkg-config files, man page, plugins), that
# every installed header compiles on its own, the pkg-config variables (plugindir, abi), that
# no installed binary keeps a path into the build tree, and the study's results (the oracle's
# values recomputed from the parameters, the optimizer's points valid, new and improving).
# Runs after the other tests (tests/examples/local.mk): `make install` relinks libraries in
# the build tree's .libs/ while it runs.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
# make without the calling make's flags and jobserver (this test runs under make check)
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make "$@"; }
: "${abs_top_builddir:?}" "${abs_top_srcdir:?}"
tmp=${HN_TEST_TMPDIR:-$(mktemp -d)}
stage=$tmp/stage
PYTHON=${HN_PYTHON:-python3}

# 1. install (quietly; the log is shown on failure)
if ! mk -s -C "$abs_top_builddir" install \
    DESTDIR="$stage" > "$tmp/install.log" 2>&1; then
    tail -40 "$tmp/install.log" >&2
    fail "make install DESTDIR=$stage failed"
fi
pc=$(find "$stage" -name hilnas-plugin.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "hilnas-plugin.pc is not installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
hilnas=$(find "$stage" -path '*/bin/hilnas' -type f | head -n 1)
[ -x "$hilnas" ] || fail "bin/hilnas is not installed"
for f in libhilnas.so libhilnas-llm.so libhilnas-cost.so pkgconfig/hilnas-llm.pc; do
    [ -e "$libdir/$f" ] || fail "$libdir/$f is not installed"
done
man=$(find "$stage" -path '*/man1/hilnas.1' | head -n 1)
[ -n "$man" ] || fail "the manual page man1/hilnas.1 is not installed"
cmp -s "$man" "$abs_top_builddir/docs/hilnas.1" || fail "installed hilnas.1 differs from the built one"

# 2. pkg-config sees the staged installation as the real one (PKG_CONFIG_SYSROOT_DIR)
PKG_CONFIG_PATH=$pcdir
PKG_CONFIG_SYSROOT_DIR=$stage
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pkg-config --exists --print-errors hilnas-plugin hilnas-llm || fail "pkg-config cannot use the .pc files"
cflags=$(pkg-config --cflags hilnas-plugin hilnas-llm)
plugindir=$(pkg-config --variable=plugindir hilnas-plugin)
case $plugindir in "$stage"/*) ;; *) plugindir=$stage$plugindir ;; esac
[ -e "$plugindir/optimizer-random.so" ] ||
    fail "plugindir ($plugindir) does not hold the installed plugins"
abi=$(pkg-config --variable=abi hilnas-plugin)
printf '#include <stdio.h>\n#include <hilnas/plugin.h>\nint main(void) { printf("%%d\\n", HN_PLUGIN_ABI); return 0; }\n' > "$tmp/abi.c"
${CC:-cc} $cflags -o "$tmp/abi" "$tmp/abi.c" || fail "a program with <hilnas/plugin.h> does not compile"
[ "$("$tmp/abi")" = "$abi" ] || fail "pkg-config abi=$abi but the headers say HN_PLUGIN_ABI=$("$tmp/abi")"

# 3. every installed header compiles alone (includes what it needs, nothing of the source tree)
incdir=$(find "$stage" -type d -path '*/include/hilnas' | head -n 1)
n=0
for h in $(cd "$incdir/.." && find hilnas -name '*.h' | sort); do
    printf '#include <%s>\n' "$h" > "$tmp/h.c"
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -fsyntax-only $cflags "$tmp/h.c" 2> "$tmp/h.err" ||
        { cat "$tmp/h.err" >&2; fail "installed header $h does not compile on its own"; }
    n=$((n + 1))
done
[ "$n" -ge 20 ] || fail "only $n headers installed under $incdir"

# 4. no installed library, plugin or program keeps a path into the build tree
for f in "$hilnas" "$libdir"/libhilnas*.so "$plugindir"/*.so; do
    if readelf -d "$f" 2> /dev/null | grep -E 'R(UN)?PATH' | grep -q "$abs_top_builddir"; then
        fail "$f keeps a run path into the build tree: $(readelf -d "$f" | grep -E 'R(UN)?PATH')"
    fi
done

# 5. the examples, built as their README says (copied: the source tree may be read-only)
cp -R "$abs_top_srcdir/examples" "$tmp/examples" && chmod -R u+w "$tmp/examples"
for ex in optimizer-localsearch oracle-linear; do
    mk -s -C "$tmp/examples/$ex" CFLAGS='-O2 -Wall -Wextra -Werror' ||
        fail "examples/$ex does not build against the installed SDK"
    [ -f "$tmp/examples/$ex/$ex.so" ] || fail "examples/$ex built no $ex.so"
done

# 6. the installed hilnas runs the example study with the example plugins
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
HILNAS_PLUGIN_PATH=$tmp/examples/oracle-linear:$tmp/examples/optimizer-localsearch:$plugindir
export LD_LIBRARY_PATH HILNAS_PLUGIN_PATH
"$hilnas" plugins > "$tmp/plugins.txt" || fail "installed hilnas plugins failed"
grep -Eq '^ *oracle +linear ' "$tmp/plugins.txt" || { cat "$tmp/plugins.txt" >&2; fail "oracle linear not listed"; }
grep -Eq '^ *optimizer +localsearch ' "$tmp/plugins.txt" || fail "optimizer localsearch not listed"
"$hilnas" plugins --options linear | grep -q 'weights' || fail "plugins --options linear lacks 'weights'"
out=$tmp/study
"$hilnas" run "$abs_top_srcdir/examples/study.yaml" --output "$out" --quiet > "$tmp/run.log" 2>&1 ||
    { tail -20 "$tmp/run.log" >&2; fail "hilnas run examples/study.yaml failed"; }
# a misspelt option of the example oracle is the configuration error (exit 2) any plugin gives
"$hilnas" validate "$abs_top_srcdir/examples/study.yaml" --output "$tmp/v" \
    --set oracles.lat.base_m=1 > "$tmp/validate.log" 2>&1
rc=$?
[ $rc -eq 2 ] || { cat "$tmp/validate.log" >&2; fail "a misspelt option of oracle linear: exit $rc, not 2"; }
grep -q 'base_ms' "$tmp/validate.log" || fail "the error does not suggest base_ms"

"$PYTHON" - "$out/trials.csv" << 'PY' || fail "the example study's results are wrong"
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 25, f"{len(rows)} trials, expected 25"
assert all(r["status"] == "complete" for r in rows), [r["status"] for r in rows]
seen = set()
for r in rows:
    x0, x1 = float(r["x0"]), float(r["x1"])
    assert -5 <= x0 <= 10 and 0 <= x1 <= 15, (x0, x1)
    assert (x0, x1) not in seen, f"point {x0, x1} suggested twice"
    seen.add((x0, x1))
    lat = 2 + 0.5 * x0 + 1.5 * x1          # the oracle's model, recomputed
    assert abs(float(r["lat.latency_ms"]) - lat) <= 1e-9 * (1 + abs(lat)), (r, lat)
    b = (x1 - 5.1 / (4 * math.pi ** 2) * x0 ** 2 + 5 / math.pi * x0 - 6) ** 2 \
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x0) + 10      # Branin
    assert abs(float(r["f.branin"]) - b) <= 1e-9 * (1 + b), (r, b)
rows.sort(key=lambda r: int(r["id"]))
feasible = lambda rs: [float(r["f.branin"]) for r in rs if float(r["lat.latency_ms"]) <= 20]
init, later = feasible(rows[:5]), feasible(rows[5:])
assert init and later, "no feasible trial"
# the local search improves on its random start
assert min(later) < min(init), f"local search did not improve: {min(later)} vs {min(init)}"
print(f"25 trials; best feasible Branin {min(init):.4f} after the 5 random points, "
      f"{min(later):.4f} after the local search (minimum 0.397887)")
PY
echo "PASS: SDK installed in $stage, examples built with pkg-config, study run"
