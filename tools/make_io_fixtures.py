#!/usr/bin/env python3
"""Fixtures and a cross-check for quant/io (checkpoint reading and writing), from PyTorch,
bitsandbytes and safetensors on the CPU.

    python tools/make_io_fixtures.py make
        writes tests/data/io_dense.safetensors       dense fp32 weights + biases of a tiny model
               tests/data/io_bnb.safetensors          the same model after bitsandbytes quantized it
                                                      (Linear4bit nf4, nf4 + double quant, fp4,
                                                      Linear8bitLt): its state_dict, as saved
               tests/data/io_torch.bin                torch.save of a state_dict of mixed dtypes,
                                                      with shared storages and offset views
               tests/data/io_torch_ref.safetensors    the same tensors, for comparison
               tests/data/io_torch_legacy.bin         the pre-1.6 (non-zip) format: must be refused
    python tools/make_io_fixtures.py check QUANT.safetensors tests/data/io_dense.safetensors
        loads a checkpoint written by quant-ckpt into bitsandbytes modules and checks, per layer,
        that every tensor equals what bitsandbytes writes for the same dense weight and that the
        bnb layer (loaded from our file) computes what bnb's own layer computes.
"""
import json, os, sys
import torch
import bitsandbytes as bnb
from safetensors.torch import save_file, load_file

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")

# (module, in, out, kind): odd sizes on purpose (short last block, odd element count, > 256 blocks
# so double quant has two nested blocks)
LAYERS = [("enc.q_nf4", 70, 9, "nf4"), ("enc.k_nf4dq", 136, 131, "nf4-dq"), ("enc.v_fp4", 45, 7, "fp4"),
          ("enc.o_int8", 50, 12, "int8"), ("head.dense", 33, 5, "int8")]


def dense_model():
    torch.manual_seed(20261125)
    sd = {}
    for name, fin, fout, _ in LAYERS:
        sd[f"{name}.weight"] = torch.randn(fout, fin) * 0.05
        sd[f"{name}.bias"] = torch.randn(fout) * 0.01
    sd["embeddings.word_embeddings.weight"] = torch.randn(11, 8)  # not a Linear: never quantized
    sd["enc.LayerNorm.weight"] = torch.ones(8)
    return sd


def bnb_layer(kind, fin, fout):
    if kind == "int8":
        return bnb.nn.Linear8bitLt(fin, fout, bias=True, has_fp16_weights=False)
    return bnb.nn.Linear4bit(fin, fout, bias=True, compute_dtype=torch.float32,
                             compress_statistics=(kind == "nf4-dq"), quant_type=kind[:3])


def quantized(dense, name, kind, fin, fout):
    """bitsandbytes' own layer for the dense weight: its state_dict is the reference layout."""
    lin = bnb_layer(kind, fin, fout)
    lin.load_state_dict({"weight": dense[f"{name}.weight"].clone(), "bias": dense[f"{name}.bias"].clone()})
    return lin.to("cpu")  # quantizes


def load_ours(kind, fin, fout, sd):
    """A bnb layer from our tensors, the way transformers loads a prequantized checkpoint."""
    lin = bnb_layer(kind, fin, fout)
    if kind == "int8":
        lin = lin.to("cpu")  # bnb only loads int8 state into an already quantized layer
        lin.load_state_dict(sd)
        return lin
    stats = {k: v for k, v in sd.items() if k.startswith("weight.")}
    lin.weight = bnb.nn.Params4bit.from_prequantized(data=sd["weight"], quantized_stats=stats, requires_grad=False,
                                                     device="cpu", module=lin)
    lin.bias = torch.nn.Parameter(sd["bias"], requires_grad=False)
    return lin


def make():
    dense = dense_model()
    save_file(dense, os.path.join(DATA, "io_dense.safetensors"))
    out = {k: v for k, v in dense.items() if not any(k.startswith(n + ".") for n, *_ in LAYERS)}
    for name, fin, fout, kind in LAYERS:
        for k, v in quantized(dense, name, kind, fin, fout).state_dict().items():
            out[f"{name}.{k}"] = v.detach().contiguous()
    save_file(out, os.path.join(DATA, "io_bnb.safetensors"), metadata={"format": "pt", "layers": json.dumps(LAYERS)})

    # PyTorch .bin: every storage type a state_dict uses, a tensor shared by two names, views
    # with a storage offset (torch.save stores the whole storage once).
    torch.manual_seed(7)
    base = torch.randn(6, 5)
    sd = {"f32": base, "tied": base, "row2": base[2], "tail": base.view(-1)[17:],
          "f16": torch.randn(3, 4).half(), "bf16": torch.randn(2, 3).bfloat16(), "f64": torch.randn(3).double(),
          "i64": torch.arange(-3, 4), "i32": torch.arange(5, dtype=torch.int32), "i16": torch.arange(4, dtype=torch.int16),
          "i8": torch.tensor([-128, 0, 127], dtype=torch.int8), "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
          "mask": torch.tensor([True, False, True]), "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
          "param": torch.nn.Parameter(torch.randn(2, 2), requires_grad=False)}
    from collections import OrderedDict
    od = OrderedDict(sd)
    od._metadata = OrderedDict({"": {"version": 1}})  # as Module.state_dict() sets it
    torch.save(od, os.path.join(DATA, "io_torch.bin"))
    save_file({k: v.detach().clone().contiguous() for k, v in sd.items()}, os.path.join(DATA, "io_torch_ref.safetensors"))
    torch.save({"x": torch.arange(3)}, os.path.join(DATA, "io_torch_legacy.bin"), _use_new_zipfile_serialization=False)
    for f in ("io_dense.safetensors", "io_bnb.safetensors", "io_torch.bin", "io_torch_ref.safetensors", "io_torch_legacy.bin"):
        print(f, os.path.getsize(os.path.join(DATA, f)), "bytes")


def check(quant_path, dense_path):
    ours = load_file(quant_path)
    dense = load_file(dense_path)
    meta = json.loads(open(quant_path, "rb").read(8 + int.from_bytes(open(quant_path, "rb").read(8), "little"))[8:])
    print(f"checking {quant_path}: {len(ours)} tensors")
    failures = 0
    torch.manual_seed(1)
    for key in sorted(k for k in dense if k.endswith(".weight")):
        m = key[: -len(".weight")]
        qs4 = [k for k in ours if k.startswith(key + ".quant_state.bitsandbytes__")]
        if qs4:
            state = json.loads(bytes(ours[qs4[0]].numpy()).decode())
            kind = state["quant_type"] + ("-dq" if "nested_offset" in state else "")
        elif f"{m}.SCB" in ours:
            kind = "int8"
        else:
            same = torch.equal(ours[key], dense[key])
            print(f"  {key:40s} dense      kept unchanged: {same}")
            failures += not same
            continue
        fout, fin = dense[key].shape
        ref = quantized(dense, m, kind, fin, fout)
        ref_sd = ref.state_dict()
        mine = {k[len(m) + 1:]: v for k, v in ours.items() if k.startswith(m + ".")}
        names_ok = set(mine) == set(ref_sd)
        bytes_ok = names_ok and all(torch.equal(mine[k].view(-1).view(torch.uint8), ref_sd[k].contiguous().view(-1).view(torch.uint8))
                                    for k in ref_sd)
        # load our tensors into a fresh bnb layer and compare its forward with bnb's own layer
        lin = load_ours(kind, fin, fout, mine)
        x = torch.randn(3, fin)
        with torch.no_grad():
            y_ours, y_ref = lin(x), ref(x)
        fwd_err = (y_ours - y_ref).abs().max().item()
        ok = names_ok and bytes_ok and fwd_err == 0.0
        failures += not ok
        print(f"  {m:40s} {kind:7s} names equal: {names_ok}  bytes equal: {bytes_ok}  "
              f"max |y_ours - y_bnb| = {fwd_err:.3g}  {'OK' if ok else 'MISMATCH'}")
    print("all OK" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    make()
