#!/usr/bin/env bash
# Fetches llama.cpp's released source the way this machine can reach it (PyPI only): the sdist of
# llama-cpp-python vendors llama.cpp (with ggml) under vendor/llama.cpp. Pinned and hash-checked;
# extracted under build/peers/ (never committed). Prints the llama.cpp directory.
#   benchmarks/peers/get_llama_cpp.sh [python]   (default: /work/venv/bin/python if present, else python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
version=0.3.36
sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
python=${1:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo python3 )}
dest=build/peers
sdist=$dest/dl/llama_cpp_python-$version.tar.gz
src=$dest/llama_cpp_python-$version/vendor/llama.cpp
if [ ! -f "$sdist" ]; then
  mkdir -p "$dest/dl"
  "$python" -m pip download --quiet --no-binary :all: --no-deps "llama-cpp-python==$version" -d "$dest/dl" >&2
fi
echo "$sha256  $sdist" | sha256sum --check --quiet - >&2 || { echo "get_llama_cpp.sh: $sdist: sha256 mismatch" >&2; exit 1; }
if [ ! -f "$src/ggml/CMakeLists.txt" ]; then
  tar -xzf "$sdist" -C "$dest"
fi
echo "$src"
