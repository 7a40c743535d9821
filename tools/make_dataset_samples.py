#!/usr/bin/env python3
"""Small samples of the examples' data sets, for the tests of examples/common/datasets.hpp.

    python tools/make_dataset_samples.py [DATA_DIR]     # DATA_DIR defaults to ../shared/data

Writes tests/data/datasets/:
  imdb/test/{neg,pos}/ID_0.txt  the 3 shortest neg (+ id 9) and 3 shortest pos IMDB test reviews, in the
                                aclImdb folder layout. ID is the review's real file id (row k of
                                imdb_test.jsonl.gz is neg/k_*.txt, row 12500+k is pos/k_*.txt);
                                the JSON Lines source has no star ratings, so 0 stands in for them.
  imdb_test_sample.jsonl.gz     the same 7 reviews as {"label", "text"}, in the reader's order
                                (neg by numeric id, then pos)
  ptb.test.sample.txt           the first 20 lines of ptb.test.txt, byte for byte
"""
import gzip, json, os, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data")
out = os.path.join(root, "tests", "data", "datasets")

with gzip.open(os.path.join(data, "imdb", "imdb_test.jsonl.gz"), "rt", encoding="utf-8") as f:
    rows = [json.loads(line) for line in f]
picked = []
for label in (0, 1):
    ids = [k for k in range(12500) if rows[label * 12500 + k]["label"] == label]
    ids.sort(key=lambda k: (len(rows[label * 12500 + k]["text"]), k))
    # plus file id 9 for neg: numeric order (9 < 321) differs from name order ("321" < "9")
    for k in sorted(set(ids[:3]) | ({9} if label == 0 else set())):
        picked.append((label, k, rows[label * 12500 + k]["text"]))

for label, k, text in picked:
    d = os.path.join(out, "imdb", "test", "pos" if label else "neg")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{k}_0.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(text)
with open(os.path.join(out, "imdb_test_sample.jsonl.gz"), "wb") as raw, \
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as g:
    for label, k, text in picked:
        g.write((json.dumps({"label": label, "text": text}, ensure_ascii=False) + "\n").encode("utf-8"))
with open(os.path.join(data, "ptb", "ptb.test.txt"), "rb") as f:
    lines = f.read().split(b"\n")[:20]
with open(os.path.join(out, "ptb.test.sample.txt"), "wb") as f:
    f.write(b"\n".join(lines) + b"\n")
print([(label, k, len(text)) for label, k, text in picked])
