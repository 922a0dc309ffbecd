#!/bin/sh
# A faulty device for the fault-injection test: decides from the architecture file ($1) alone,
# k = (7 hidden + 13 layers + 3 ffn) mod 20:
#   k = 0  fails (exit 3, a reason on stderr)     k = 2  crashes (SIGSEGV)
#   k = 1  hangs (past any timeout)                k = 3  prints NaN as a metric
#   else   measures: {"prefill_ms": hidden * layers / 100, "decode_ms": layers / 10}
arch=$1
hidden=$(sed -n 's/.*"hidden_size": *\([0-9]*\).*/\1/p' "$arch")
layers=$(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' "$arch")
ffn=$(sed -n 's/.*"intermediate_size": *\([0-9]*\).*/\1/p' "$arch")
k=$(((7 * hidden + 13 * layers + 3 * ffn) % 20))
case $k in
0)
    echo "device lost" >&2
    exit 3
    ;;
1) exec sleep 60 ;;
2) kill -SEGV $$ ;;
3) echo '{"prefill_ms": NaN, "decode_ms": 1}' ;;
*) printf '{"prefill_ms": %s, "decode_ms": %s}\n' "$(awk "BEGIN { print $hidden * $layers / 100 }")" \
    "$(awk "BEGIN { print $layers / 10 }")" ;;
esac
