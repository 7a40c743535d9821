#!/usr/bin/env python3
"""Loads a checkpoint that quant-ckpt wrote into Hugging Face transformers (bitsandbytes NF4 on
the CPU) and checks it against transformers quantizing the same dense checkpoint itself.

    pip install torch transformers bitsandbytes accelerate safetensors
    # a float32 dense checkpoint (the fixture stores fp16; transformers keeps a pre-quantized
    # checkpoint's stored dtype for the tensors that are not quantized)
    python -c "from safetensors.torch import *; save_file({k: v.float().contiguous() for k, v in
        load_file('tests/data/models/bert_tiny/model.safetensors').items()}, '/tmp/dense32/model.safetensors')"
    cp tests/data/models/bert_tiny/config.json /tmp/dense32/
    build/examples/ckpt/quant-ckpt quantize /tmp/dense32/model.safetensors /tmp/q/model.safetensors \\
        --scheme nf4-dq --skip classifier
    python tools/check_transformers_load.py /tmp/dense32 /tmp/q
    # printed: 13 quantized Linear layers, 0 differ; max |logits(ours) - logits(transformers)| = 0.0

It copies config.json into the quantized folder with the quantization_config transformers writes
for load_in_4bit (nf4, double quant, fp32 compute), loads both models, and prints, per quantized
Linear, whether the stored bytes are equal, and the largest logit difference.
"""
import json, os, shutil, sys
import torch
from transformers import AutoModelForSequenceClassification, BitsAndBytesConfig

dense_dir, quant_dir = sys.argv[1], sys.argv[2]
qcfg = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "float32", "bnb_4bit_quant_storage": "uint8",
        "llm_int8_skip_modules": ["classifier"]}
cfg = json.load(open(os.path.join(dense_dir, "config.json")))
cfg["quantization_config"] = qcfg
cfg["torch_dtype"] = "float32"
json.dump(cfg, open(os.path.join(quant_dir, "config.json"), "w"), indent=2)

ours = AutoModelForSequenceClassification.from_pretrained(quant_dir, device_map="cpu", dtype=torch.float32).eval()
theirs = AutoModelForSequenceClassification.from_pretrained(
    dense_dir, device_map="cpu", dtype=torch.float32,
    quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                           bnb_4bit_compute_dtype=torch.float32, llm_int8_skip_modules=["classifier"])).eval()
so, st = ours.state_dict(), theirs.state_dict()
layers = sorted({k.rsplit(".weight", 1)[0] for k in st if k.endswith(".weight.absmax")})
bad = 0
for l in layers:
    same = all(torch.equal(so[k].cpu(), st[k].cpu()) for k in st if k.startswith(l + ".weight"))
    bad += not same
    print(f"{l}: stored tensors {'equal' if same else 'DIFFER'}")
torch.manual_seed(0)
ids = torch.randint(1, cfg["vocab_size"], (3, 20))
with torch.no_grad():
    d = (ours(input_ids=ids).logits - theirs(input_ids=ids).logits).abs().max().item()
print(f"{len(layers)} quantized Linear layers, {bad} differ; max |logits(ours) - logits(transformers)| = {d}")
sys.exit(1 if bad or d != 0.0 else 0)
