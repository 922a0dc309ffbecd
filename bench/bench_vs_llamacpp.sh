#!/bin/sh
# bench/bench_vs_llamacpp.sh: hilnas's engine against llama.cpp on the same weights, in one run.
#
# usage: bench/bench_vs_llamacpp.sh [OUTDIR]        (from the build directory, after make)
#
# For a MobileLLM-350M-shaped model (32 layers, hidden 960, 15 heads, 5 KV heads, head 64, FFN
# 2560, vocabulary 32000, tied) and the same with the odd layers skipping attention (llama.cpp
# needs attention in layer 0), random weights exported by `hilnas export --arch --random --format
# gguf` at f32, bf16 and f16 (q8_0 by llama-quantize from the f32 file, when it is there), per
# thread count in THREADS:
#   bench/bench_llm --deploy     hilnas: sgemm GFLOP/s and read bandwidth measured first, then
#                                prefill 512 and decode at context 0 and 2048 per precision
#   llama-bench                  llama.cpp: pp512 and tg32 at depth 0 and 2048 (-d), same file
# Every section starts with `uptime` (the machine is shared: compare ratios within one run).
# Everything goes to OUTDIR/bench.log (default: bench-vs-llamacpp/); the GGUF files to OUTDIR.
#
# Environment: LLAMA_BIN (directory of llama-bench and llama-quantize; default
# /work/llamacpp/src/build/bin), THREADS (default "1 2"), DTYPES (default "f32 bf16 f16 q8_0"),
# SHAPES (default "full skip"), REPS (llama-bench repetitions, default 3), QUICK=1 (shorter
# hilnas measurements). Without llama-bench the hilnas rows are still measured (and it says so).
set -eu

out=${1:-bench-vs-llamacpp}
llama_bin=${LLAMA_BIN:-/work/llamacpp/src/build/bin}
threads=${THREADS:-"1 2"}
dtypes=${DTYPES:-"f32 bf16 f16 q8_0"}
shapes=${SHAPES:-"full skip"}
reps=${REPS:-3}
quick=
[ "${QUICK:-0}" = 1 ] && quick=--quick
hilnas=${HILNAS:-./tools/hilnas}
bench=./bench/bench_llm
[ -x "$bench" ] || { echo "bench_vs_llamacpp: build bench/bench_llm first (make bench/bench_llm)" >&2; exit 1; }
[ -x "$hilnas" ] || { echo "bench_vs_llamacpp: no hilnas command at $hilnas (set HILNAS)" >&2; exit 1; }
mkdir -p "$out"
log=$out/bench.log
: > "$log"
say() { printf '%s\n' "$*" | tee -a "$log"; }

say "# bench_vs_llamacpp $(date -u +%Y-%m-%dT%H:%MZ)"
say "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) processors"
llama_bench=$llama_bin/llama-bench
if [ ! -x "$llama_bench" ]; then
    say "llama-bench not found in $llama_bin: llama.cpp rows skipped"
    llama_bench=
fi

for shape in $shapes; do
    attn=
    skip=
    l=0
    while [ $l -lt 32 ]; do
        if [ "$shape" = skip ] && [ $((l % 2)) -eq 1 ]; then a=false; else a=true; fi
        attn="$attn${attn:+, }$a"
        l=$((l + 1))
    done
    [ "$shape" = skip ] && skip=--skip-half
    arch=$out/arch-$shape.json
    cat > "$arch" <<JSON
{"hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32,
 "num_attention_heads": 15, "num_key_value_heads": 5, "head_dim": 64, "vocab_size": 32000,
 "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
 "tie_word_embeddings": true, "attention_layers": [$attn]}
JSON
    files=
    if [ -n "$llama_bench" ]; then
        for dt in $dtypes; do
            src=$dt
            [ "$dt" = q8_0 ] && src=f32
            if [ ! -f "$out/$shape-$src/model.gguf" ]; then
                "$hilnas" export --arch "$arch" --random --format gguf --dtype "$src" \
                    -o "$out/$shape-$src" >> "$log" 2>&1
            fi
            if [ "$dt" = q8_0 ]; then
                if [ -x "$llama_bin/llama-quantize" ]; then
                    [ -f "$out/$shape-q8_0.gguf" ] ||
                        "$llama_bin/llama-quantize" "$out/$shape-f32/model.gguf" \
                            "$out/$shape-q8_0.gguf" q8_0 >> "$log" 2>&1
                    files="$files $out/$shape-q8_0.gguf"
                fi
            else
                files="$files $out/$shape-$dt/model.gguf"
            fi
        done
    fi
    for t in $threads; do
        say ""
        say "## shape $shape, $t thread(s); load: $(uptime | sed 's/.*load average: //')"
        $bench --deploy --threads "$t" --dtypes "$(echo $dtypes | tr ' ' ,)" $skip $quick \
            --prompt 512 --context 2048 --tokens 32 2>&1 | tee -a "$log"
        say "load after hilnas: $(uptime | sed 's/.*load average: //')"
        for f in $files; do
            say ""
            say "llama-bench $f, $t thread(s)"
            "$llama_bench" -m "$f" -t "$t" -p 512 -n 32 -d 0,2048 -r "$reps" -o md 2>>"$log" |
                tee -a "$log"
        done
        say "load after llama.cpp: $(uptime | sed 's/.*load average: //')"
    done
done
