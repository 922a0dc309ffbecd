#!/bin/sh
# tools/cross/build-bench.sh: hilnas-bench for another CPU, as one self-contained binary: the
# engine (llm/), the four core files it uses, the portable BLAS (llm/blas_plain.c) unless
# BLAS=openblas, and jansson (the target's -ljansson, or compiled from JANSSON_SRC).
#
#   Linux aarch64 (Debian: gcc-aarch64-linux-gnu, and libjansson-dev:arm64 or JANSSON_SRC):
#     CC=aarch64-linux-gnu-gcc sh tools/cross/build-bench.sh build-aarch64
#   Android arm64 (NDK r26+; jansson from source: git clone https://github.com/akheron/jansson):
#     CC=$NDK/toolchains/llvm/prebuilt/linux-x86_64/bin/aarch64-linux-android30-clang \
#       JANSSON_SRC=$HOME/jansson sh tools/cross/build-bench.sh build-android
#
# Environment: CC (required), JANSSON_SRC (a jansson source tree; without it -ljansson),
# BLAS (plain, default; or openblas: -lopenblas of the target), STATIC (1: link with -static,
# the default for Linux gcc; Android binaries link libc dynamically as the platform requires),
# EXTRA_CFLAGS, EXTRA_LDFLAGS. Writes OUTDIR/hilnas-bench; prints its path.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: CC=... build-bench.sh OUTDIR}
: "${CC:?set CC to the cross compiler, e.g. aarch64-linux-gnu-gcc}"
BLAS=${BLAS:-plain}
case "$CC" in
*android*) STATIC=${STATIC:-0} ;;
*) STATIC=${STATIC:-1} ;;
esac
mkdir -p "$out/include" "$out/obj"
out=$(cd "$out" && pwd)
: >"$out/include/config.h" # the engine reads no configure result
CFLAGS="-std=gnu11 -O2 -fopenmp -I$out/include -I$src/include -I$src/src -I$src ${EXTRA_CFLAGS:-}"
LIBS="-lm"
srcs="tools/hilnas-bench.c llm/measure.c llm/model.c llm/decode.c llm/ops.c llm/qmat.c llm/llm_config.c
llm/cost.c llm/gguf.c llm/safetensors.c src/core/error.c src/core/util.c src/core/log.c src/core/rng.c"
if [ "$BLAS" = plain ]; then
    CFLAGS="-I$src/tools/cross $CFLAGS -DHN_PLAIN_CBLAS -DHN_BENCH_BLAS=\"plain-c\""
    srcs="$srcs llm/blas_plain.c"
else
    CFLAGS="$CFLAGS -DHN_BENCH_BLAS=\"openblas\""
    LIBS="-lopenblas $LIBS"
fi
objs=""
if [ -n "${JANSSON_SRC:-}" ]; then
    # jansson's two configure headers, for a Linux or Android target
    sed -e 's/@json_inline@/inline/' -e 's/@json_have_long_long@/1/' \
        -e 's/@json_have_atomic_builtins@/1/' -e 's/@json_have_sync_builtins@/1/' \
        "$JANSSON_SRC/src/jansson_config.h.in" >"$out/include/jansson_config.h"
    cat >"$out/include/jansson_private_config.h" <<'EOF'
#define HAVE_STDINT_H 1
#define HAVE_ENDIAN_H 1
#define HAVE_FCNTL_H 1
#define HAVE_UNISTD_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_CLOSE 1
#define HAVE_GETPID 1
#define HAVE_GETTIMEOFDAY 1
#define HAVE_OPEN 1
#define HAVE_READ 1
#define HAVE_SCHED_YIELD 1
#define HAVE_SCHED_H 1
#define USE_URANDOM 1
#define INITIAL_HASHTABLE_ORDER 3
#define DTOA_ENABLED 0
EOF
    for f in "$JANSSON_SRC"/src/*.c; do
        [ "$(basename "$f")" != dtoa.c ] || continue
        o="$out/obj/jansson-$(basename "$f" .c).o"
        $CC -std=gnu99 -O2 -DHAVE_CONFIG_H -I"$out/include" \
            -I"$JANSSON_SRC/src" -c "$f" -o "$o"
        objs="$objs $o"
    done
    CFLAGS="$CFLAGS -I$JANSSON_SRC/src"
else
    LIBS="-ljansson $LIBS"
fi
for f in $srcs; do
    o="$out/obj/$(echo "$f" | tr '/' '-' | sed 's/\.c$/.o/')"
    # shellcheck disable=SC2086
    $CC $CFLAGS -c "$src/$f" -o "$o"
    objs="$objs $o"
done
ldflags="-fopenmp ${EXTRA_LDFLAGS:-}"
if [ "$STATIC" = 1 ]; then
    ldflags="-static $ldflags"
fi
case "$CC" in
*android*) ldflags="$ldflags -static-openmp" ;;
esac
# shellcheck disable=SC2086
$CC $objs $ldflags $LIBS -o "$out/hilnas-bench"
echo "$out/hilnas-bench"
