#!/usr/bin/env python3
"""Golden logits for the example models, from Hugging Face transformers on the CPU.

    pip install torch transformers bitsandbytes safetensors
    python tools/make_model_fixtures.py [--data ../shared/data] [--only bert_imdb_tiny ...]
    # writes tests/data/models/{bert,minilm,gpt2,bert_imdb}_tiny/

Each directory is a model as Hugging Face saves it (config.json, model.safetensors in fp16) plus
golden.safetensors: the inputs and the logits transformers computes in float32, and the logits
of the same model with every Linear in bitsandbytes NF4 (double quant, block 64, fp32 compute).
Random initialisation, small sizes: the files stay well under 1 MB each.

bert_imdb_tiny runs end to end on real text: eight IMDB test reviews (--data: the folder with
imdb/imdb_test.jsonl.gz and tokenizers/bert-base-uncased/vocab.txt) tokenized by
BertTokenizerFast with truncation to 64 tokens and padding, the vocabulary cut to the tokens they
use (vocab.txt in the folder, ids renumbered), the reviews in reviews.jsonl.
"""
import argparse, gzip, json, os, random
import torch
import bitsandbytes as bnb
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel

torch.manual_seed(20261125)
root = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "models")
ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
ap.add_argument("--only", nargs="*", help="write only these fixtures (default: all)")
args = ap.parse_args()


def to_nf4(model, skip):
    """Every nn.Linear not in `skip` replaced by bnb Linear4bit (NF4, double quant, fp32 compute)."""
    for name, mod in list(model.named_modules()):
        for cname, child in list(mod.named_children()):
            full = f"{name}.{cname}" if name else cname
            if isinstance(child, torch.nn.Linear) and not any(s in full for s in skip):
                q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                      compute_dtype=torch.float32, compress_statistics=True, quant_type="nf4")
                q.weight = bnb.nn.Params4bit(child.weight.data.clone(), requires_grad=False, compress_statistics=True,
                                             quant_type="nf4", blocksize=64)._quantize("cpu")
                q.weight.module = q
                if child.bias is not None:
                    q.bias = torch.nn.Parameter(child.bias.data.clone(), requires_grad=False)
                setattr(mod, cname, q)
    return model


def fp16_weights(model):
    """Rounds every parameter to fp16 (kept in fp32): the checkpoint is saved in fp16 to stay
    small, and the golden logits are computed from exactly those values."""
    for p in model.parameters():
        p.data = p.data.half().float()
    return model


def write(name, model, golden):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    model.half().save_pretrained(d, safe_serialization=True)
    save_file({k: v.contiguous() for k, v in golden.items()}, os.path.join(d, "golden.safetensors"))
    print(name, {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)})


def bert_case(name, hidden, layers, heads, inter, vocab=300, max_pos=64):
    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=inter, max_position_embeddings=max_pos, num_labels=2,
                     hidden_act="gelu", layer_norm_eps=1e-12, type_vocab_size=2)
    model = fp16_weights(BertForSequenceClassification(cfg).eval())
    # batch of 4 sequences of different lengths, right-padded, attention mask, token types 0
    lengths = [17, 5, 32, 1]
    T = max(lengths)
    ids = torch.zeros(len(lengths), T, dtype=torch.int64)
    mask = torch.zeros(len(lengths), T, dtype=torch.int64)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, vocab, (n,))
        ids[b, 0] = 2  # a [CLS]-like first token
        mask[b, :n] = 1
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        hidden_last = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    # the same fp32 weights, every Linear (classifier included) in NF4
    nf4 = type(model)(cfg).eval()
    nf4.load_state_dict(model.state_dict())
    nf4 = to_nf4(nf4, skip=[])
    with torch.no_grad():
        logits_nf4 = nf4(input_ids=ids, attention_mask=mask).logits
    write(name, model, {"input_ids": ids, "attention_mask": mask, "lengths": torch.tensor(lengths),
                        "logits": logits, "last_hidden_state": hidden_last, "logits_nf4_dq": logits_nf4})


def gpt2_case(name, n_embd=64, n_layer=2, n_head=4, vocab=400, n_positions=64):
    cfg = GPT2Config(vocab_size=vocab, n_embd=n_embd, n_layer=n_layer, n_head=n_head, n_positions=n_positions,
                     activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = fp16_weights(GPT2LMHeadModel(cfg).eval())
    ids = torch.randint(0, vocab, (2, 40))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        # generation with the KV cache: greedy continuation of the first sequence for 8 tokens
        gen = model.generate(ids[:1, :10], max_new_tokens=8, do_sample=False, pad_token_id=0)
    nf4 = GPT2LMHeadModel(cfg).eval()
    nf4.load_state_dict(model.state_dict())
    # GPT-2's attention and MLP use transformers' Conv1D, not nn.Linear: quantize their weights
    # (stored [in, out]) through a Linear view, as transformers+bitsandbytes does when loading.
    from transformers.pytorch_utils import Conv1D
    for mod in nf4.modules():
        for cname, child in list(mod.named_children()):
            if isinstance(child, Conv1D):
                lin = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1])
                lin.weight.data = child.weight.data.t().contiguous()
                lin.bias.data = child.bias.data.clone()
                setattr(mod, cname, lin)
    nf4 = to_nf4(nf4, skip=["lm_head"])
    with torch.no_grad():
        logits_nf4 = nf4(input_ids=ids).logits
    # Hugging Face's strided perplexity: windows of max_length every stride tokens, only the tokens
    # past the previous window's end scored (the first token of the text never is)
    text = torch.randint(0, vocab, (1, 150))
    max_length, stride = n_positions, 24
    nll, scored, prev_end = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, text.shape[1], stride):
            end = min(begin + max_length, text.shape[1])
            lp = torch.log_softmax(model(input_ids=text[:, begin:end]).logits.double(), dim=-1)[0]
            for t in range(max(prev_end, begin + 1), end):
                nll -= lp[t - 1 - begin, text[0, t]].item()
                scored += 1
            prev_end = end
            if end == text.shape[1]:
                break
    write(name, model, {"input_ids": ids, "logits": logits, "generated": gen, "logits_nf4_dq": logits_nf4,
                        "ppl_text": text, "ppl_stride": torch.tensor([stride]), "ppl_scored": torch.tensor([scored]),
                        "ppl_nll_sum": torch.tensor([nll], dtype=torch.float64)})


def bert_imdb_case(name, max_length=64, n=8):
    from transformers import BertTokenizerFast
    torch.manual_seed(20261130)  # its own seed: the same fixture whether or not the others are written
    tok = BertTokenizerFast.from_pretrained(os.path.join(args.data, "tokenizers", "bert-base-uncased"), local_files_only=True)
    assert tok.do_lower_case and tok.convert_tokens_to_ids("[CLS]") == 101, "vocabulary not loaded"
    with gzip.open(os.path.join(args.data, "imdb", "imdb_test.jsonl.gz"), "rt", encoding="utf-8") as f:
        reviews = [json.loads(line) for line in f]
    rng = random.Random(7)
    picked = rng.sample(reviews, n - 1)
    picked.append(min(reviews, key=lambda r: len(r["text"])))  # one shorter than max_length: padding
    enc = tok([r["text"] for r in picked], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    full_ids, mask = enc["input_ids"], enc["attention_mask"]
    assert (mask.sum(1) == max_length).any() and (mask.sum(1) < max_length).any(), "truncation and padding both"
    assert (full_ids == tok.unk_token_id).float().mean() < 0.05, "the reviews tokenize to real word pieces"
    # the vocabulary cut to the tokens used (and the special ones), in the original order
    inv = {i: t for t, i in tok.get_vocab().items()}
    keep = sorted(set(full_ids.flatten().tolist()) | {tok.pad_token_id, tok.unk_token_id, tok.cls_token_id,
                                                      tok.sep_token_id, tok.mask_token_id})
    new_id = {old: i for i, old in enumerate(keep)}
    ids = full_ids.clone().apply_(lambda v: new_id[v])
    cfg = BertConfig(vocab_size=len(keep), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=max_length, num_labels=2, hidden_act="gelu",
                     layer_norm_eps=1e-12, type_vocab_size=2, pad_token_id=new_id[tok.pad_token_id])
    model = fp16_weights(BertForSequenceClassification(cfg).eval())
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    nf4 = type(model)(cfg).eval()
    nf4.load_state_dict(model.state_dict())
    nf4 = to_nf4(nf4, skip=["classifier"])
    with torch.no_grad():
        logits_nf4 = nf4(input_ids=ids, attention_mask=mask).logits
    write(name, model, {"input_ids": ids, "attention_mask": mask, "logits": logits, "logits_nf4_dq": logits_nf4})
    d = os.path.join(root, name)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(inv[i] + "\n" for i in keep))
    with open(os.path.join(d, "reviews.jsonl"), "w", encoding="utf-8") as f:
        for r in picked:
            f.write(json.dumps({"label": r["label"], "text": r["text"]}, ensure_ascii=False) + "\n")
    print(name, "vocabulary", len(keep), "tokens per review", mask.sum(1).tolist())


def wanted(name):
    return not args.only or name in args.only


if wanted("bert_tiny"):
    bert_case("bert_tiny", hidden=64, layers=2, heads=4, inter=128)
# MiniLM-L6-H384-shaped: head width 32 as MiniLM's (384 / 12), more layers. Every in_features is a
# multiple of 64: bitsandbytes' native CPU dequantization misplaces absmax blocks otherwise (see
# tools/make_bnb_fixtures.py), which would make its NF4 logits wrong, not ours.
if wanted("minilm_tiny"):
    bert_case("minilm_tiny", hidden=128, layers=3, heads=4, inter=256)
if wanted("gpt2_tiny"):
    gpt2_case("gpt2_tiny")
if wanted("bert_imdb_tiny"):
    bert_imdb_case("bert_imdb_tiny")
