#!/bin/sh
# A stand-in for an on-device benchmark, for the tests of the `device` oracle: reads the
# architecture file it is given, then behaves as asked by its second argument.
#   ok       prints progress lines, then {"prefill_ms": hidden * layers / 100,
#            "decode_ms": {"value": layers / 10, "sem": 0.01}} as its last line
#   fail     writes a reason to stderr and exits 3
#   slow     sleeps 30 s (to be killed by the timeout)
#   garbage  prints no JSON
#   partial  prints a JSON object without decode_ms
arch=$1
mode=$2
hidden=$(sed -n 's/.*"hidden_size": *\([0-9]*\).*/\1/p' "$arch")
layers=$(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' "$arch")
case "$mode" in
ok)
    echo "warming up on $hidden x $layers"
    echo "measuring" >&2
    echo
    printf '{"prefill_ms": %s, "decode_ms": {"value": %s, "sem": 0.01}}\n' \
        "$(awk "BEGIN { print $hidden * $layers / 100 }")" "$(awk "BEGIN { print $layers / 10 }")"
    ;;
fail)
    echo "device not found: is the phone connected?" >&2
    exit 3
    ;;
slow)
    sleep 30
    ;;
garbage)
    echo "no json here"
    ;;
partial)
    echo '{"prefill_ms": 1.5}'
    ;;
esac
