#!/usr/bin/env python3
"""Golden files for the core schemes, produced by bitsandbytes on the CPU.

    pip install torch bitsandbytes safetensors
    python tools/make_bnb_fixtures.py            # writes tests/data/bnb_fixtures.safetensors

Every case is stored under the prefix "<case>." with these tensors:
  input            the weight handed to bitsandbytes (f32, f16 or bf16), shape [rows, cols]
  NF4/FP4:  packed (uint8 [(n+1)/2]), absmax (f32, or uint8 codes when nested),
            nested_absmax (f32), offset (f32 [1]), dequant (f32 [rows, cols])
  int8:     CB (int8 [rows, cols]), SCB (f32 [rows])
  blockwise8 (bnb's quantize_blockwise, the nested step on its own): codes, absmax
  linear forward: x, y (bnb Linear4bit / Linear8bitLt on the CPU)
The metadata entry "cases" is a JSON list describing each case (kind, blocksize, ...).
The dynamic 8-bit map is stored as "dynamic_map", the NF4/FP4 codebooks as "nf4_code"/"fp4_code".
"""
import json, os, sys
import torch
import bitsandbytes as bnb
import bitsandbytes.functional as F
from bitsandbytes.backends.default import ops as default_ops
from safetensors.torch import save_file

torch.manual_seed(20261125)
out = {}
cases = []


def put(name, t):
    out[name] = t.detach().contiguous().cpu()


def nf4_case(name, w, blocksize, dq, quant_type="nf4", store_dequant=True):
    packed, st = F.quantize_4bit(w, blocksize=blocksize, compress_statistics=dq, quant_type=quant_type)
    put(f"{name}.input", w)
    put(f"{name}.packed", packed.reshape(-1))
    put(f"{name}.absmax", st.absmax)
    if dq:
        put(f"{name}.nested_absmax", st.state2.absmax)
        put(f"{name}.offset", st.offset.reshape(1).float())
        put(f"{name}.nested_code", st.state2.code)
    if store_dequant:
        # The format's dequantization, from bitsandbytes' generic PyTorch path. Its native CPU kernel
        # (cdequantize_blockwise_cpu_nf4_fp32, 0.50.2) takes the absmax of element (r, c) from block
        # r*cols/B + c/B instead of (r*cols + c)/B, which is wrong when cols % B != 0 (and cols is
        # even, else it falls back to the generic path); the CUDA kernel and the generic path agree
        # with the format. We store and match the format.
        absmax = st.absmax
        if dq:
            absmax = F.dequantize_blockwise(st.absmax, st.state2) + st.offset
        deq = default_ops._dequantize_4bit_compute(packed.reshape(-1), absmax.float(), st.code, blocksize,
                                                    w.shape, torch.float32)
        put(f"{name}.dequant", deq.float().reshape(w.shape))
    cases.append(dict(name=name, kind=quant_type, blocksize=blocksize, double_quant=dq,
                      rows=w.shape[0], cols=w.shape[1], dtype=str(w.dtype).replace("torch.", ""),
                      dequant=store_dequant))


def int8_case(name, w):
    # bitsandbytes' Int8Params._quantize: weights go through fp16, then row-wise absmax.
    CB, SCB, _ = F.int8_vectorwise_quant(w.to(torch.float16))
    put(f"{name}.input", w)
    put(f"{name}.CB", CB)
    put(f"{name}.SCB", SCB)
    cases.append(dict(name=name, kind="int8", rows=w.shape[0], cols=w.shape[1],
                      dtype=str(w.dtype).replace("torch.", "")))


def blockwise8_case(name, x):
    q, st = F.quantize_blockwise(x, blocksize=256)
    put(f"{name}.input", x)
    put(f"{name}.codes", q)
    put(f"{name}.absmax", st.absmax)
    cases.append(dict(name=name, kind="blockwise8", n=x.numel(), blocksize=256))


# --- NF4 on random Gaussian weights, odd sizes (tails, odd element counts) -------------
for bs in (32, 64, 128, 256):
    for dq in (False, True):
        nf4_case(f"nf4_gauss_b{bs}_dq{int(dq)}", torch.randn(67, 45) * 0.05, bs, dq)
# odd element count: 7*9 = 63 (a padded last byte) and a single element
nf4_case("nf4_odd_63", torch.randn(7, 9), 64, False)
nf4_case("nf4_single", torch.randn(1, 1), 64, False)
nf4_case("nf4_odd_63_dq", torch.randn(7, 9), 32, True)
# BERT/GPT-2-shaped slices (768 wide), stored as fp16 to stay small; > 256 blocks for nesting
nf4_case("nf4_bert_768x96_f16_dq", (torch.randn(96, 768) * 0.04).half(), 64, True, store_dequant=False)
nf4_case("nf4_gpt2_2304x40_bf16", (torch.randn(40, 2304) * 0.02).bfloat16(), 64, False, store_dequant=False)
nf4_case("nf4_gpt2_2304x40_bf16_dq", (torch.randn(40, 2304) * 0.02).bfloat16(), 128, True, store_dequant=False)
# heavy tails (Student-t) so absmax varies a lot across blocks
nf4_case("nf4_heavy_dq", torch.distributions.StudentT(2.0).sample((64, 96)), 64, True)
# all-zero blocks, tiny and huge magnitudes (one per block of 64)
w = torch.randn(8, 64)
w[1] = 0.0
w[2] *= 1e-30
w[3] *= 1e30
w[4] *= 1e-39          # subnormal float32 values
w[5, :] = 0.0
w[5, 17] = -3.0        # a block with one non-zero value
w[6] = torch.abs(w[6])  # one-signed block
nf4_case("nf4_special", w, 64, False)
nf4_case("nf4_special_dq", w.clone(), 64, True)
# exact ties: absmax 1 (exact reciprocal), values on every midpoint between NF4 codes
code = F.get_4bit_type("nf4", device="cpu")
mid = (code[:-1] + code[1:]) / 2
t = torch.zeros(2, 64)
t[0, 0] = 1.0
t[0, 1:16] = mid
t[0, 16:31] = -mid
t[1, 0] = -1.0
t[1, 1:16] = mid
t[1, 16:31] = torch.nextafter(mid, torch.full_like(mid, 2.0))
nf4_case("nf4_ties", t, 64, False)
# FP4 falls out of the same container
nf4_case("fp4_gauss_b64", torch.randn(33, 50), 64, False, quant_type="fp4")
nf4_case("fp4_gauss_b64_dq", torch.randn(33, 50), 64, True, quant_type="fp4")

# a short tail block that is all zeros: bitsandbytes stores its absmax clamped to 1e-38
w = torch.randn(3, 30)
w[1, 4:] = 0.0
w[2] = 0.0
nf4_case("nf4_zero_tail", w, 64, False)
nf4_case("nf4_zero_tail_dq", w.clone(), 32, True)

# --- int8 (LLM.int8 weight format) -------------------------------------------------------
int8_case("int8_gauss", torch.randn(65, 131) * 0.05)
w = (torch.randn(17, 64) * 3).half().float()
w[3] = 0.0                                     # all-zero row
w[4, :8] = torch.tensor([127.0, 2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 1.5])  # scale 1: exact halves
w[5] *= 1e-4
int8_case("int8_special", w)
int8_case("int8_f16_in", (torch.randn(24, 40)).half())
int8_case("int8_bf16_in", (torch.randn(24, 40)).bfloat16())

# --- blockwise int4: no bitsandbytes counterpart, so the oracle is the written definition
# (schemes/blockwise_int4.hpp) re-implemented here in PyTorch, independently of the C++ code.
def int4_case(name, w, B):
    rows, cols = w.shape
    nb = -(-cols // B)
    wp = torch.nn.functional.pad(w, (0, nb * B - cols)).view(rows, nb, B)
    idx = wp.abs().argmax(dim=-1, keepdim=True)          # first index of the largest magnitude
    m = torch.gather(wp, -1, idx)
    d = m / -8.0
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = (torch.clamp(torch.round(wp * inv), -8, 7) + 8).to(torch.uint8)   # round half to even
    codes = q[..., : B // 2] | (q[..., B // 2:] << 4)
    deq = ((q.float() - 8) * d).view(rows, nb * B)[:, :cols]
    put(f"{name}.input", w)
    put(f"{name}.scale", d.view(rows, nb))
    put(f"{name}.codes", codes)
    put(f"{name}.dequant", deq)
    cases.append(dict(name=name, kind="int4", blocksize=B, rows=rows, cols=cols))


for B in (32, 64, 128):
    int4_case(f"int4_gauss_b{B}", torch.randn(19, 150) * 0.1, B)
w = torch.randn(6, 64)
w[0] = 0.0
w[1, 5] = 50.0                      # positive extreme: scale negative
w[2, 9] = -50.0
w[3, :] = torch.arange(64) / 8.0 - 4.0   # exact grid values and halves
w[4] *= 1e-30
int4_case("int4_special", w, 32)

# --- the nested 8-bit step on its own ------------------------------------------------------
blockwise8_case("bw8_gauss", torch.randn(1000))
dm = F.create_dynamic_map()
x = torch.cat([torch.tensor([1.0]), (dm[:-1] + dm[1:]) / 2, torch.randn(100)])  # ties at absmax 1
blockwise8_case("bw8_ties", x)
blockwise8_case("bw8_zero_block", torch.cat([torch.zeros(256), torch.randn(300)]))

# --- Linear forward on the CPU (inputs exactly representable in fp16: bnb casts to fp16) -------
def linear4_case(name, in_f, out_f, m, dq, compute):
    lin = torch.nn.Linear(in_f, out_f)
    torch.nn.init.normal_(lin.weight, std=0.05)
    q = bnb.nn.Linear4bit(in_f, out_f, bias=True, compute_dtype=compute, compress_statistics=dq,
                          quant_type="nf4")
    q.load_state_dict(lin.state_dict())
    q = q.to("cpu")
    q.weight = bnb.nn.Params4bit(lin.weight.data.clone(), requires_grad=False, compress_statistics=dq,
                                 quant_type="nf4", blocksize=64)._quantize("cpu")
    q.weight.module = q
    x = torch.randn(m, in_f).half().float()
    with torch.no_grad():
        y = q(x.to(compute)).float()
    put(f"{name}.weight", lin.weight.data)
    put(f"{name}.bias", lin.bias.data)
    put(f"{name}.x", x)
    put(f"{name}.y", y)
    cases.append(dict(name=name, kind="linear_nf4", in_features=in_f, out_features=out_f, m=m,
                      double_quant=dq, compute=str(compute).replace("torch.", "")))


def linear8_case(name, in_f, out_f, m, threshold, outlier_cols=(), int8_activations=True):
    lin = torch.nn.Linear(in_f, out_f)
    torch.nn.init.normal_(lin.weight, std=0.05)
    lin.weight.data = lin.weight.data.half().float()
    q = bnb.nn.Linear8bitLt(in_f, out_f, bias=True, has_fp16_weights=False, threshold=threshold)
    q.load_state_dict(lin.state_dict())
    q = q.to("cpu")
    q.weight = bnb.nn.Int8Params(lin.weight.data.clone(), requires_grad=False, has_fp16_weights=False)._quantize("cpu")
    q.state.CB = q.weight.CB
    q.state.SCB = q.weight.SCB
    # eval: MatMul8bitLt (LLM.int8(), int8 activations); train mode on the CPU: MatMul8bitFp, which
    # dequantizes the weight and multiplies in floating point (our int8_activations::none).
    q.train(not int8_activations)
    x = torch.randn(m, in_f)
    for c in outlier_cols:
        x[:, c] *= 20.0
    x = x.half().float()
    with torch.no_grad():
        y = q(x).float()
    put(f"{name}.weight", lin.weight.data)
    put(f"{name}.bias", lin.bias.data)
    put(f"{name}.x", x)
    put(f"{name}.y", y)
    cases.append(dict(name=name, kind="linear_int8", in_features=in_f, out_features=out_f, m=m,
                      threshold=threshold, int8_activations=int8_activations))


# in_features a multiple of 64: bitsandbytes' native CPU dequantization is wrong otherwise (above)
linear4_case("lin_nf4_f32", 128, 40, 5, False, torch.float32)
linear4_case("lin_nf4dq_f32", 192, 24, 3, True, torch.float32)
linear4_case("lin_nf4_gemv_f32", 256, 17, 1, True, torch.float32)
linear8_case("lin_int8_t0", 80, 33, 7, 0.0)
linear8_case("lin_int8_t6", 80, 33, 7, 6.0, outlier_cols=(3, 50))
linear8_case("lin_int8_t6_m1", 80, 33, 1, 6.0, outlier_cols=(11,))
linear8_case("lin_int8_weight_only", 80, 33, 4, 0.0, int8_activations=False)

# torch's float32 sum (what double quantization's offset = absmax.mean() rests on), many lengths
lengths = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 257, 511, 1000, 1536, 4099, 9216, 20000]
sums = []
for n in lengths:
    v = torch.rand(n) * 4
    put(f"torch_sum_{n}.input", v)
    sums.append(v.sum().item())
put("torch_sum.lengths", torch.tensor(lengths, dtype=torch.int64))
put("torch_sum.sums", torch.tensor(sums, dtype=torch.float32))

put("dynamic_map", dm)
put("nf4_code", F.get_4bit_type("nf4", device="cpu"))
put("fp4_code", F.get_4bit_type("fp4", device="cpu"))

meta = {"cases": json.dumps(cases), "generator": f"bitsandbytes {bnb.__version__}, torch {torch.__version__}"}
dst = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "bnb_fixtures.safetensors")
save_file(out, dst, metadata=meta)
print(f"{len(cases)} cases, {len(out)} tensors, {os.path.getsize(dst)} bytes -> {os.path.normpath(dst)}")
