#!/bin/sh
# The dependency graph of docs/plugins.md ("Libraries"), read from the built files: the CLI and
# the transformer plugins link the one shared libhilnas-llm and carry no copy of the engine;
# the learned and roofline oracles link only libhilnas-cost; plugins without transformers link
# neither.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
: "${abs_top_builddir:?}"
command -v readelf > /dev/null && command -v nm > /dev/null ||
    { echo "SKIP: readelf and nm (binutils) are needed"; exit 77; }
b=$abs_top_builddir
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# an engine function defined in the file itself (any binding) means a copy of the engine
copies() { nm "$1" 2> /dev/null | grep -E ' [TtWw] hn_(ops_threads|matmul_forward|llm_cost_compute|llm_config_read)$'; }

[ -f "$b/llm/.libs/libhilnas-llm.so" ] || fail "llm/.libs/libhilnas-llm.so was not built"
needed "$b/llm/.libs/libhilnas-llm.so" | grep -q '^libhilnas-cost\.so' ||
    fail "libhilnas-llm does not link libhilnas-cost"
[ -n "$(copies "$b/llm/.libs/libhilnas-llm.so")" ] || fail "libhilnas-llm defines no engine function?"
copies "$b/llm/.libs/libhilnas-cost.so" | grep -q 'hn_ops_threads\|hn_matmul' &&
    fail "libhilnas-cost carries engine kernels"

hilnas=$b/tools/.libs/hilnas
[ -f "$hilnas" ] || hilnas=$b/tools/.libs/lt-hilnas
for f in "$hilnas" "$b/plugins/.libs/space-transformer.so" "$b/plugins/.libs/evaluator-pruned.so" \
    "$b/plugins/.libs/oracle-host.so"; do
    [ -f "$f" ] || fail "$f was not built"
    needed "$f" | grep -q '^libhilnas-llm\.so' || fail "$f does not link libhilnas-llm"
    [ -z "$(copies "$f")" ] || fail "$f carries its own copy of the engine: $(copies "$f")"
done
for f in "$b/plugins/.libs/oracle-learned.so" "$b/plugins/.libs/oracle-roofline.so"; do
    needed "$f" | grep -q '^libhilnas-cost\.so' || fail "$f does not link libhilnas-cost"
    needed "$f" | grep -q '^libhilnas-llm\.so' && fail "$f links the whole engine (libhilnas-llm)"
    [ -z "$(copies "$f")" ] || fail "$f carries its own copy of the cost model: $(copies "$f")"
done
for p in space-box evaluator-testfn optimizer-random optimizer-gpbo oracle-device executor-threads; do
    needed "$b/plugins/.libs/$p.so" | grep -q '^libhilnas-\(llm\|cost\)\.so' &&
        fail "$p links the engine, which it does not use"
done
echo "PASS: one engine library; CLI and transformer plugins share it; costs apart"
