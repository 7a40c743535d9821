#!/usr/bin/env bash
# Streaming check: quantize a synthetic fp32 checkpoint of SIZE_GB (default 8) with quant-ckpt and
# report the peak resident memory (/usr/bin/time -v), which must stay <= 1 GB however big the
# checkpoint is. The files go to $TMPDIR (default /tmp) and are deleted afterwards.
#   benchmarks/stream_quantize.sh [SIZE_GB] [SCHEME]     (after building build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-8}
scheme=${2:-nf4}
tool=${QUANT_CKPT:-build/release/examples/ckpt/quant-ckpt}
tmp=${TMPDIR:-/tmp}
[ -x "$tool" ] || { echo "build quant-ckpt first (expected $tool)" >&2; exit 1; }
df -h "$tmp"
in="$tmp/quant_stream_$$.safetensors"
out="$tmp/quant_stream_$$.$scheme.safetensors"
gen="$tmp/quant_make_synthetic_$$"
trap 'rm -f "$in" "$out" "$out".tmp "$out".data.tmp "$gen"' EXIT
c++ -O2 -std=c++20 -Iinclude benchmarks/make_synthetic_checkpoint.cpp -o "$gen"
"$gen" "$in" "$size"
/usr/bin/time -v "$tool" quantize "$in" "$out" --scheme "$scheme" 2> "$tmp/quant_stream_$$.time" || {
  cat "$tmp/quant_stream_$$.time" >&2; exit 1; }
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$tmp/quant_stream_$$.time"
peak_kb=$(awk '/Maximum resident set size/ {print $6}' "$tmp/quant_stream_$$.time")
rm -f "$tmp/quant_stream_$$.time"
ls -l "$out" | awk '{printf "output: %.2f GB\n", $5 / 1024^3}'
echo "peak RSS: $((peak_kb / 1024)) MB (limit 1024 MB)"
[ "$peak_kb" -le $((1024 * 1024)) ]
