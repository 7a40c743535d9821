#!/usr/bin/env python3
"""Train the two small reference models the main job runs on when nothing is downloaded.

  pip install torch transformers safetensors tokenizers
  python3 tools/train_reference_models.py --data ../shared/data --out models

- models/bert-imdb: a BERT-architecture IMDB sentiment classifier (BertForSequenceClassification)
  with the bert-base-uncased vocabulary and tokenizer, trained from scratch on the 25,000 IMDB
  train reviews;
- models/gpt2-ptb: a GPT-2-architecture language model (GPT2LMHeadModel) with the GPT-2
  vocabulary and byte-level BPE, trained from scratch on Penn Treebank's train split.

Both are saved as fp16 safetensors (what the repository ships; the C++ side computes in fp32
from them) with config.json and gzip-compressed vocabulary files. The evaluation data the main
job needs is written next to them in data/: 2000 IMDB test reviews drawn with a fixed seed,
and the PTB test split. The fp32 accuracy and perplexity PyTorch measures on exactly that data
(same max length, same strided windows as examples/common/perplexity.hpp, from the fp16
weights) go to models/<name>/metrics.json: the C++ "original" rows must reproduce them.

The vocabularies are the full ones (30,522 and 50,257 tokens), so the token embeddings are most
of each model's bytes; hidden sizes are chosen so that both fit in 16 MB together.
"""
import argparse
import gzip
import json
import math
import os
import random
import shutil
import time

import torch
import transformers
from safetensors.torch import save_file

# --- model shapes (documented in README; change them here and retrain) ---
BERT = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512,
            max_position_embeddings=256, type_vocab_size=2, num_labels=2)
GPT2 = dict(n_embd=64, n_layer=4, n_head=4, n_positions=256)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def linear_schedule(opt, warmup, total):
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))


def save_fp16(model, out_dir, vocab_files):
    os.makedirs(out_dir, exist_ok=True)
    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    # tied weights (GPT-2's lm_head = wte) are stored once, as transformers does
    if "lm_head.weight" in sd and "transformer.wte.weight" in sd:
        del sd["lm_head.weight"]
    sd = {k: v for k, v in sd.items() if not k.endswith(".attn.bias") and not k.endswith("position_ids")}
    save_file(sd, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    model.config.torch_dtype = "float16"
    model.config.to_json_file(os.path.join(out_dir, "config.json"))
    for src in vocab_files:  # compressed: the C++ readers take .gz
        with open(src, "rb") as f, gzip.GzipFile(os.path.join(out_dir, os.path.basename(src) + ".gz"), "wb", mtime=0) as g:
            shutil.copyfileobj(f, g)


def read_jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def train_bert(args, metrics):
    tok_dir = os.path.join(args.data, "tokenizers", "bert-base-uncased")
    tok = transformers.BertTokenizerFast(os.path.join(tok_dir, "vocab.txt"), do_lower_case=True)
    train = read_jsonl_gz(os.path.join(args.data, "imdb", "imdb_train.jsonl.gz"))
    test = read_jsonl_gz(os.path.join(args.data, "imdb", "imdb_test.jsonl.gz"))
    rng = random.Random(args.seed)
    subset = sorted(rng.sample(range(len(test)), args.imdb_eval))
    test = [test[i] for i in subset]
    os.makedirs(args.data_out, exist_ok=True)
    with gzip.GzipFile(os.path.join(args.data_out, "imdb_test_%d.jsonl.gz" % len(test)), "wb", mtime=0) as g:
        for r in test:
            g.write((json.dumps({"label": r["label"], "text": r["text"]}, ensure_ascii=False) + "\n").encode())

    L = args.bert_max_length
    enc = tok([r["text"] for r in train], truncation=True, max_length=L, padding="max_length", return_tensors="pt")
    labels = torch.tensor([r["label"] for r in train])
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, **BERT)
    torch.manual_seed(args.seed)
    model = transformers.BertForSequenceClassification(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.bert_lr, weight_decay=0.01)
    n = len(train)
    steps = args.bert_epochs * (n // args.batch)
    sched = linear_schedule(opt, max(1, steps // 20), steps)
    log("bert: %d params, %d reviews, max length %d, %d steps" % (sum(p.numel() for p in model.parameters()), n, L, steps))
    model.train()
    step, t0 = 0, time.time()
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.bert_epochs):
        perm = torch.randperm(n, generator=g)
        for b in range(n // args.batch):
            idx = perm[b * args.batch:(b + 1) * args.batch]
            mask = enc["attention_mask"][idx]
            used = int(mask.sum(1).max())  # trim the batch to its longest review
            out = model(input_ids=enc["input_ids"][idx, :used], attention_mask=mask[:, :used], labels=labels[idx])
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad()
            step += 1
            if step % 50 == 0:
                log("bert epoch %d step %d/%d loss %.4f (%.1f steps/s)" % (epoch, step, steps, out.loss.item(), step / (time.time() - t0)))
    model.eval()
    # evaluate what is shipped: the fp16 weights, computed in fp32
    model = model.half().float()
    correct = 0
    with torch.no_grad():
        for b in range(0, len(test), 32):
            chunk = test[b:b + 32]
            e = tok([r["text"] for r in chunk], truncation=True, max_length=L, padding=True, return_tensors="pt")
            pred = model(**e).logits.argmax(-1)
            correct += int((pred == torch.tensor([r["label"] for r in chunk])).sum())
    acc = correct / len(test)
    log("bert: fp32 accuracy on the %d shipped test reviews (max length %d): %.4f" % (len(test), L, acc))
    metrics.update(accuracy=acc, reviews=len(test), max_length=L, epochs=args.bert_epochs, batch=args.batch,
                           lr=args.bert_lr, seed=args.seed, config=BERT, train_seconds=round(time.time() - t0))
    save_fp16(model, os.path.join(args.out, "bert-imdb"), [os.path.join(tok_dir, "vocab.txt")])
    write_metrics(os.path.join(args.out, "bert-imdb"), metrics)


def ptb_text(path):
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f]
    return "\n\n".join(l for l in lines if l)  # as quant-gpt2 ptb joins them


def strided_ppl(model, ids, max_length, stride):
    nll, scored, prev_end = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, len(ids), stride):
            end = min(begin + max_length, len(ids))
            x = torch.tensor(ids[begin:end])[None]
            lp = torch.log_softmax(model(x).logits[0].double(), -1)
            for t in range(max(prev_end, begin + 1), end):
                nll -= float(lp[t - 1 - begin, ids[t]])
                scored += 1
            prev_end = end
            if end == len(ids):
                break
    return math.exp(nll / scored), scored


def train_gpt2(args, metrics):
    tok_dir = os.path.join(args.data, "tokenizers", "gpt2")
    tok = transformers.GPT2TokenizerFast(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt"))
    ids = tok(ptb_text(os.path.join(args.data, "ptb", "ptb.train.txt")))["input_ids"]
    test_path = os.path.join(args.data, "ptb", "ptb.test.txt")
    os.makedirs(args.data_out, exist_ok=True)
    with open(test_path, "rb") as f, gzip.GzipFile(os.path.join(args.data_out, "ptb.test.txt.gz"), "wb", mtime=0) as g:
        shutil.copyfileobj(f, g)
    test_ids = tok(ptb_text(test_path))["input_ids"]
    L = args.gpt2_seq
    data = torch.tensor(ids[: (len(ids) - 1) // L * L + 1])
    n = (len(data) - 1) // L
    cfg = transformers.GPT2Config(vocab_size=len(tok), **GPT2)
    torch.manual_seed(args.seed)
    model = transformers.GPT2LMHeadModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.gpt2_lr, weight_decay=0.01)
    steps = args.gpt2_epochs * (n // args.batch)
    sched = linear_schedule(opt, max(1, steps // 20), steps)
    log("gpt2: %d params, %d train tokens, %d sequences of %d, %d steps" % (
        sum(p.numel() for p in model.parameters()), len(ids), n, L, steps))
    model.train()
    step, t0 = 0, time.time()
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.gpt2_epochs):
        shift = int(torch.randint(0, L, (1,), generator=g))  # other window boundaries each epoch
        m = (len(data) - 1 - shift) // L
        perm = torch.randperm(m, generator=g)
        for b in range(m // args.batch):
            starts = perm[b * args.batch:(b + 1) * args.batch] * L + shift
            x = torch.stack([data[s:s + L] for s in starts.tolist()])
            out = model(input_ids=x, labels=x)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad()
            step += 1
            if step % 50 == 0:
                log("gpt2 epoch %d step %d/%d loss %.4f (%.1f steps/s)" % (epoch, step, steps, out.loss.item(), step / (time.time() - t0)))
    model.eval()
    model = model.half().float()
    ppl, scored = strided_ppl(model, test_ids, GPT2["n_positions"], args.gpt2_stride)
    log("gpt2: fp32 perplexity on PTB test (%d tokens, window %d, stride %d): %.3f" % (
        len(test_ids), GPT2["n_positions"], args.gpt2_stride, ppl))
    metrics.update(perplexity=ppl, tokens=len(test_ids), scored=scored, window=GPT2["n_positions"],
                           stride=args.gpt2_stride, seq=L, epochs=args.gpt2_epochs, batch=args.batch, lr=args.gpt2_lr,
                           seed=args.seed, config=GPT2, train_seconds=round(time.time() - t0))
    save_fp16(model, os.path.join(args.out, "gpt2-ptb"),
              [os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt")])
    write_metrics(os.path.join(args.out, "gpt2-ptb"), metrics)


def write_metrics(out_dir, metrics):
    metrics["versions"] = dict(torch=torch.__version__, transformers=transformers.__version__)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data", help="folder with imdb/, ptb/, tokenizers/")
    ap.add_argument("--out", default="models")
    ap.add_argument("--data-out", default="data", help="where the shipped evaluation data goes")
    ap.add_argument("--only", choices=["bert", "gpt2"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--imdb-eval", type=int, default=2000)
    ap.add_argument("--bert-max-length", type=int, default=256)
    ap.add_argument("--bert-epochs", type=int, default=2)
    ap.add_argument("--bert-lr", type=float, default=1e-3)
    ap.add_argument("--gpt2-seq", type=int, default=128)
    ap.add_argument("--gpt2-epochs", type=int, default=2)
    ap.add_argument("--gpt2-lr", type=float, default=2e-3)
    ap.add_argument("--gpt2-stride", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.only in (None, "bert"):
        train_bert(args, {})
    if args.only in (None, "gpt2"):
        train_gpt2(args, {})


if __name__ == "__main__":
    main()
