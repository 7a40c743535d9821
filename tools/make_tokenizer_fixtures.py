#!/usr/bin/env python3
"""Golden files for the example tokenizers, produced by Hugging Face transformers/tokenizers.

    pip install transformers tokenizers
    python tools/make_tokenizer_fixtures.py [DATA_DIR]     # DATA_DIR defaults to ../shared/data

Reads the vocabularies from DATA_DIR/tokenizers/{bert-base-uncased,gpt2}/ (the files of the
Hugging Face hub repos bert-base-uncased and gpt2, loaded offline) and writes:
  tests/data/tokenizers/bert-base-uncased/vocab.txt.gz      the vocabulary, gzipped (zlib reads it)
  tests/data/tokenizers/gpt2/{vocab.json,merges.txt}.gz
  tests/data/tokenizers/cases.jsonl.gz   one JSON object per text:
    source      "imdb" | "ptb" | "nasty"
    text        the input
    bert        ids with [CLS]/[SEP], no truncation      (BertTokenizerFast, uncased)
    bert_128    ids, truncation=True, max_length=128, padding="max_length"
    mask_128    attention mask of bert_128
    gpt2        ids, no special tokens added              (GPT2TokenizerFast)
    gpt2_text   GPT2TokenizerFast.decode(gpt2)
  tests/data/tokenizers/tool_input.jsonl      a few texts as {"text": ...}, and what quant-tokenize
  tests/data/tokenizers/tool_bert_16.jsonl    must print for them: --max-length 16 on the BERT
  tests/data/tokenizers/tool_gpt2.jsonl       vocabulary, and the GPT-2 vocabulary
The texts: 200 IMDB test reviews and 200 PTB test lines drawn with a fixed seed, the first 40
PTB test lines joined by newlines, and hand-written hard cases.
"""
import gzip, json, os, random, shutil, sys

os.environ["HF_HUB_OFFLINE"] = "1"
from transformers import BertTokenizerFast, GPT2TokenizerFast

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data")
out_dir = os.path.join(root, "tests", "data", "tokenizers")
bert_dir = os.path.join(data, "tokenizers", "bert-base-uncased")
gpt2_dir = os.path.join(data, "tokenizers", "gpt2")

bert = BertTokenizerFast.from_pretrained(bert_dir, local_files_only=True)
gpt2 = GPT2TokenizerFast.from_pretrained(gpt2_dir, local_files_only=True)
assert bert.do_lower_case and bert.convert_tokens_to_ids("[CLS]") == 101, "vocabulary not loaded"
assert gpt2.convert_tokens_to_ids("<|endoftext|>") == 50256, "vocabulary not loaded"

rng = random.Random(20261125)
with gzip.open(os.path.join(data, "imdb", "imdb_test.jsonl.gz"), "rt", encoding="utf-8") as f:
    reviews = [json.loads(line)["text"] for line in f]
imdb = [reviews[i] for i in sorted(rng.sample(range(len(reviews)), 200))]
with open(os.path.join(data, "ptb", "ptb.test.txt"), encoding="utf-8") as f:
    lines = f.read().split("\n")[:-1]
ptb = [lines[i] for i in sorted(rng.sample(range(len(lines)), 200))]
ptb.append("\n".join(lines[:40]))

nasty = [
    "", " ", "   \t\n  ", "a", "Hello, World!", "HELLO world   multiple    spaces",
    "tabs\tand\nnewlines\r\nand\r carriage",
    "Café naïve résumé Ångström façade coöperate Zürich São Paulo",
    "e\u0301 combining a\u0308\u0304 marks o\u0323\u0302 \u0301lead",
    "İstanbul ΣΑΣ σας ẞ straße ǅ ﬁ ligature",
    "中文字符测试 日本語のテキスト 한국어 텍스트 漢字mixed中text",
    "𠀀 𪜀 𫝀 𫠠 𬺰 丽 \u3400 \u4dbf",
    "emoji 😀 🤗 👍🏽 👨\u200d👩\u200d👧 🇺🇸 🫠 ❤️",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060wj",
    "ctrl\x00nul\x01soh\x07bel\x1bEsc\x7fdel\x85nel\x0bvt\x0cff \ufffd replacement \x1c",
    "nbsp\u00a0here\u2003em\u3000ideographic\u2028line\u2029para\u202fnarrow\u180emongolian",
    "a" * 99, "b" * 100, "c" * 101, "Supercalifragilistic" * 6 + " short",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "don't can't won't I'm you're we've they'll she'd it's 'quoted' \"double\" `tick`",
    "DON'T I'M YOU'RE ’curly’ l'été rock'n'roll o'clock ''",
    "This movie was great!<br /><br />I loved it.<br />10/10",
    "numbers 123 4,567.89 -3.14 1e10 2nd 3rd 100% $5 £3 €7 ¥9 ½ ² ³ ٣ ४",
    "العربية نص تجريبي مع تشكيل: مَرْحَبًا", "हिन्दी पाठ नमस्ते दुनिया", "ภาษาไทย สวัสดีครับ",
    "Ελληνικά Русский текст Ёлка עברית",
    "punct!!! ??? ... --- ___ *** ~~~ ^^^ @#$%&()[]{}<>|\\/ «guillemets» „quotes“ — dash – ¿¡ 。、！",
    "[CLS] text [SEP] more [MASK] [PAD] [UNK] [cls] [SEP][SEP]",
    "the end<|endoftext|>next doc <|endoftext|> <|endoftext",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ᄀ\u1161 가각 \uac00\u11a8",
    "x\u0378y unassigned x\ue000y private x\U0001faf8y new emoji \U000e0001 tag",
    "trailing spaces   ", "   leading spaces", "\n\nnewlines only at start", "ends with newlines\n\n",
    "a  \n  b \t\t c", "mixed\u00a0 \u00a0spaces", "word's'", "'s 't 're 've 'm 'll 'd",
    "don’t ’s", "x\u0f73y \U0001d165\u0301", "I" * 150, "hello" + "\u0301" * 120,
    # U+180E is not White_Space (GPT-2's \s) but PCRE2's \s takes it; U+001C..U+001F neither
    "a\u180e!b x \u180e\u180e? \u180e a \u180eb", "a\x1c b\x1f\x1e c \x1d",
    # HF's CJK Extension E range starts at U+2B920 (transformers' Python code: U+2B820)
    "a\U0002b820b a\U0002b920b a\U00020000b x\uf900y",
    # long pre-tokens: many merges in one piece
    "=" * 3000 + " " + "a" * 4001 + " " + "ab" * 1500,
]

cases = []
for source, texts in (("imdb", imdb), ("ptb", ptb), ("nasty", nasty)):
    for text in texts:
        full = bert(text)["input_ids"]
        t128 = bert(text, truncation=True, max_length=128, padding="max_length")
        g = gpt2(text)["input_ids"]
        cases.append({"source": source, "text": text, "bert": full,
                      "bert_128": t128["input_ids"], "mask_128": t128["attention_mask"],
                      "gpt2": g, "gpt2_text": gpt2.decode(g)})

os.makedirs(os.path.join(out_dir, "bert-base-uncased"), exist_ok=True)
os.makedirs(os.path.join(out_dir, "gpt2"), exist_ok=True)


def gz_copy(src, dst):
    # mtime=0 and no file name: the same input gives the same bytes, so re-running is a no-op in git
    with open(src, "rb") as f, open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as g:
        shutil.copyfileobj(f, g)


gz_copy(os.path.join(bert_dir, "vocab.txt"), os.path.join(out_dir, "bert-base-uncased", "vocab.txt.gz"))
gz_copy(os.path.join(gpt2_dir, "vocab.json"), os.path.join(out_dir, "gpt2", "vocab.json.gz"))
gz_copy(os.path.join(gpt2_dir, "merges.txt"), os.path.join(out_dir, "gpt2", "merges.txt.gz"))
with open(os.path.join(out_dir, "cases.jsonl.gz"), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as g:
    for c in cases:
        g.write((json.dumps(c, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
print(f"{len(cases)} cases; gpt2 round trips: {sum(c['gpt2_text'] == c['text'] for c in cases)}/{len(cases)}")

tool_texts = [imdb[0], ptb[0], nasty[7], nasty[12], nasty[21], nasty[26], "", "tab\there \"quoted\" back\\slash"]
with open(os.path.join(out_dir, "tool_input.jsonl"), "w", encoding="utf-8") as f:
    for t in tool_texts:
        f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
with open(os.path.join(out_dir, "tool_bert_16.jsonl"), "w") as f:
    for t in tool_texts:
        f.write(json.dumps({"ids": bert(t, truncation=True, max_length=16)["input_ids"]}) + "\n")
with open(os.path.join(out_dir, "tool_gpt2.jsonl"), "w") as f:
    for t in tool_texts:
        f.write(json.dumps({"ids": gpt2(t)["input_ids"]}) + "\n")
