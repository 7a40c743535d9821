#!/usr/bin/env bash
# The main job: the reports' tables, reproduced, into one results folder.
#
#   bash scripts/main.sh                       # the reference models shipped in models/ (no download)
#   bash scripts/main.sh --bert-dir downloads/bert-base-uncased-imdb --imdb downloads/aclImdb/test \
#                        --gpt2-dir downloads/gpt2 --ptb downloads/ptb/ptb.test.txt   # the real ones
#
# On a fresh Debian 12 machine: installs the Debian packages it needs, builds (Release, native
# ISA) the evaluation programs and the kernel benchmark, then runs
#   1. quant-bert-imdb: BERT on IMDB, every configuration of the reports (seeds 000, 002, 003);
#   2. quant-gpt2 ptb:  GPT-2 on Penn Treebank, perplexity tables (seeds 001, 004);
#   3. bench_linear:    the kernel table (schemes x BERT/GPT-2/7B shapes x m, Eigen and OpenBLAS
#                       dense fp32 in the same run);
# and writes <out>/REPORT.md (all tables, linking the charts), and per table .md/.csv/.json/.svg.
# Progress on stderr. Options:
#   --out DIR          results folder (default results)
#   --bert-dir DIR     BERT classifier folder (config.json, vocab.txt, model.safetensors or .bin)
#   --imdb PATH        aclImdb/test folder or JSON Lines {label, text} (.gz)
#   --samples N        IMDB reviews evaluated (default: all 2000 shipped; 2000 with --imdb)
#   --runs N           timed passes over the reviews (default 1; the reports used 10)
#   --gpt2-dir DIR     GPT-2 folder (config.json, vocab.json, merges.txt, weights)
#   --ptb PATH         ptb.test.txt
#   --int8-threshold T LLM.int8() outlier threshold of the 8-bit configurations (default 6.0,
#                      transformers' default; report 002 used 1.0)
#   --dense-dtype D    f16 (default: as transformers keeps what bitsandbytes does not quantize) or f32
#   --skip-kernels     no kernel table
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

out=results
bert_dir=models/bert-imdb imdb=data/imdb_test_2000.jsonl.gz samples="" runs=1
gpt2_dir=models/gpt2-ptb ptb=data/ptb.test.txt.gz kernels=1 threshold=6.0 dense=f16
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --bert-dir) bert_dir=$2; shift 2 ;;
    --imdb) imdb=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --gpt2-dir) gpt2_dir=$2; shift 2 ;;
    --ptb) ptb=$2; shift 2 ;;
    --int8-threshold) threshold=$2; shift 2 ;;
    --dense-dtype) dense=$2; shift 2 ;;
    --skip-kernels) kernels=0; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "main.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
started=$(date +%s)

source scripts/deps.sh
install_debian_packages cmake ninja-build g++ libeigen3-dev libxsimd-dev nlohmann-json3-dev libcli11-dev \
  libutf8proc-dev libpcre2-dev zlib1g-dev libbenchmark-dev libopenblas-dev

echo "== building (build/main; compiler output in build/main/build.log)" >&2
mkdir -p build/main
if ! { cmake -S . -B build/main -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_TEST=OFF -DQUANT_INSTALL=OFF \
         -DQUANT_EXAMPLES=ON -DQUANT_BENCHMARKS=ON &&
       cmake --build build/main -j "$(nproc)" --target quant-bert-imdb quant-gpt2 quant-kernel-table bench_linear; \
     } > build/main/build.log 2>&1; then
  tail -n 40 build/main/build.log >&2
  echo "main.sh: the build failed (whole log: build/main/build.log)" >&2
  exit 1
fi
bin=build/main/examples
mkdir -p "$out"

# The shipped models were trained and evaluated at these settings (models/*/metrics.json); a
# real model gets the programs' defaults (max length 128 for BERT; window n_positions, stride
# 512 for GPT-2, as Hugging Face's perplexity guide).
bert_opts=() gpt2_opts=()
if [ "$bert_dir" = models/bert-imdb ]; then bert_opts=(--max-length 256 --samples "${samples:-0}")
else bert_opts=(--samples "${samples:-2000}"); fi
if [ "$gpt2_dir" = models/gpt2-ptb ]; then gpt2_opts=(--stride 128); fi

echo "== BERT on IMDB: $bert_dir, $imdb" >&2
"$bin/quant-bert-imdb" --model-dir "$bert_dir" --imdb "$imdb" --runs "$runs" "${bert_opts[@]}" \
  --int8-threshold "$threshold" --dense-dtype "$dense" --out "$out" >/dev/null
echo "== GPT-2 on Penn Treebank: $gpt2_dir, $ptb" >&2
"$bin/quant-gpt2" ptb --model-dir "$gpt2_dir" --ptb "$ptb" "${gpt2_opts[@]}" \
  --int8-threshold "$threshold" --dense-dtype "$dense" --out "$out" >/dev/null

if ((kernels)); then
  echo "== kernels (bench_linear, 3 interleaved repetitions, medians)" >&2
  # Shapes of BERT-base (768x768, 768x3072, 3072x768) and of a 7B model (4096x4096); m = 1
  # (a GEMV, also "cold": weights rotated through copies larger than the cache), 8 and 128.
  openblas_coretype
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} \
    build/main/benchmarks/bench_linear --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true \
    --benchmark_report_aggregates_only=true --benchmark_min_time=0.05 \
    --benchmark_filter='^stream|/(768x768|768x3072|3072x768|4096x4096)/m:(1|8|128)(/cold)?/' \
    --benchmark_out="$out/kernels_benchmark.json" --benchmark_out_format=json >/dev/null
  "$bin/quant-kernel-table" "$out/kernels_benchmark.json" --out "$out" >/dev/null
fi

# REPORT.md: the machine, the models, every table with its chart.
{
  echo "# quant: the reports' tables, reproduced"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB"
  echo "- BERT: \`$bert_dir\` on \`$imdb\`; GPT-2: \`$gpt2_dir\` on \`$ptb\`"
  for m in "$bert_dir" "$gpt2_dir"; do
    if [ -f "$m/metrics.json" ]; then
      echo "- PyTorch's fp32 result for \`$m\` (tools/train_reference_models.py, same data and settings):" \
           "$(grep -E '"(accuracy|perplexity)"' "$m/metrics.json" | tr -d ' ,')"
    fi
  done
  echo
  if [ "$bert_dir" = models/bert-imdb ] || [ "$gpt2_dir" = models/gpt2-ptb ]; then
    echo "The shipped reference models are small (Linear layers 128 and 64 wide, full vocabularies):"
    echo "embeddings are most of their bytes (the quantized configurations keep them in float16, which"
    echo "halves them) and attention, GELU and the dense output layer most of their time, so"
    echo "quantization moves their latency by only a few percent; the kernel table below shows the"
    echo "speed on real layer sizes (README: The reference models)."
    echo
  fi
  echo "Columns as the reports define them: size_reduction = 1 - size/size(original), speedup ="
  echo "latency(original)/latency, accuracy_retention = accuracy/accuracy(original), perplexity_change ="
  echo "perplexity/perplexity(original) - 1. Model size counts every stored byte (quantized linear layers,"
  echo "their scales, dense embeddings and norms); what the quantized configurations keep dense is stored in"
  echo "$dense (f16 is what transformers does when it loads a model with bitsandbytes, and what the"
  echo "reports' sizes count)."
  echo
  for t in bert_imdb gpt2_ptb kernels; do
    [ -f "$out/$t.md" ] || continue
    cat "$out/$t.md"
    echo
    echo "![$t]($t.svg)"
    echo
    echo "Data: [$t.csv]($t.csv), [$t.json]($t.json)"
    echo
  done
  echo "Total time: $(( $(date +%s) - started )) s."
} > "$out/REPORT.md"
echo "== done in $(( $(date +%s) - started )) s: $out/REPORT.md" >&2
cat "$out/REPORT.md"
