#!/bin/sh
# A stand-in for an on-device benchmark, for the tests of the `device` oracle: reads the
# architecture file it is given, then behaves as asked by its second argument.
#   ok       prints progress lines, then {"prefill_ms": hidden * layers / 100,
#            "decode_ms": {"value": layers / 10, "sem": 0.01}} as its last line
#   fail     writes a reason to stderr and exits 3
#   slow     sleeps 30 s (to be killed by the timeout)
#   garbage  prints no JSON
#   partial  prints a JSON object without decode_ms
#   crash    dies of SIGSEGV
#   noisy    writes 3 MB to stderr, then "last words", then measures as ok
#   id       (third argument: the trial id, fourth: a file) lists the descriptors a program
#            it starts inherits (ls -l /proc/self/fd/) to the file, prints 2000 progress lines
#            and {"prefill_ms": hidden * layers / 100, "decode_ms": id}, except trials with
#            id % 7 == 3, which sleep 30 s
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
crash)
    kill -SEGV $$
    ;;
noisy)
    head -c 3000000 /dev/zero | tr '\0' 'x' >&2
    echo "last words" >&2
    exec sh "$0" "$arch" ok
    ;;
id)
    ls -l /proc/self/fd/ > "$4"
    [ $(($3 % 7)) -eq 3 ] && exec sleep 30
    seq 2000
    printf '{"prefill_ms": %s, "decode_ms": %s}\n' "$(awk "BEGIN { print $hidden * $layers / 100 }")" "$3"
    ;;
esac
