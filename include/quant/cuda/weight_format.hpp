// The device layouts of quantized weights and how one 16-byte chunk of them decodes: the single
// source of truth that the CUDA kernels and the host-side tests share. Plain C++ (no CUDA
// headers): the decode functions are __host__ __device__ under nvcc and ordinary inline
// functions otherwise, so the CPU tests run the very code the kernels run.
//
// Why repack instead of uploading the host storage as is: the kernels stream each output row
// in 16-byte loads, which needs rows that start on a 16-byte boundary and codes in a fixed order.
// The host formats do not give that (bitsandbytes packs the flattened [out, in] tensor, so a row
// of odd length starts mid-byte; int4 interleaves a 4-byte scale with every block).
//
// packed4 (NF4, FP4, int4): codes [rows, ld] bytes, ld = 16 * ceil(cols / 32). Element c of row r
//   is byte r*ld + c/2, LOW nibble when c is even. A 32-bit word thus holds 8 consecutive
//   elements, element 8q+i in bits 4i..4i+3 of word q. Columns past `cols` hold `pad_code`, the
//   code whose value is 0. Value = table[code] * scale, one float32 multiplication, where table
//   is the scheme's codebook (NF4, FP4) or -8..7 (int4) and the scale is
//     flat_block     bnb absmax[(r*cols + c) >> log2_block]           (blocks may span rows)
//     flat_block_dq  the same absmax, decoded: map[q[b]] * nested[b >> 8] + offset, two float32
//                    roundings as bitsandbytes (schemes/bnb4bit.hpp)
//     row_block      int4 scales[r * blocks_per_row + c / block]     (blocks never span rows)
// int8: codes [rows, ld] int8, ld = 16 * ceil(cols / 16), padded with 0; value =
//   (code * SCB[r]) * (1/127 as bnb writes it), two float32 multiplications (schemes/absmax_int8.hpp).
//   One 16-byte chunk is 16 elements.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define QUANT_HD __host__ __device__ __forceinline__
#else
#define QUANT_HD inline
#endif
#if defined(__CUDA_ARCH__)  // device pass only: host compilers warn about the unknown pragma
#define QUANT_UNROLL _Pragma("unroll")
#else
#define QUANT_UNROLL
#endif

namespace quant::cuda {

enum class scale_kind : std::uint8_t { flat_block, flat_block_dq, row_block };

// Float32 operations that the compiler must not fuse into an FMA (the formats are defined by
// separately rounded operations).
QUANT_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    volatile float p = a * b;
    return p;
#endif
}
QUANT_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    volatile float s = a + b;
    return s;
#endif
}

// Scales of one chunk: element j of the chunk uses s0 when j < split, else s1 (a chunk of 32
// elements meets at most one block boundary because every block holds at least 32).
struct chunk_scales {
    float s0 = 0.0f, s1 = 0.0f;
    unsigned split = 32;
    QUANT_HD float operator[](unsigned j) const { return j < split ? s0 : s1; }
};

// Kernel-side view of packed4 weights (trivially copyable: passed to kernels by value).
struct packed4_weights {
    static constexpr unsigned chunk = 32;  // elements per 16-byte chunk
    const std::uint8_t* codes = nullptr;   // [rows, ld]
    std::size_t rows = 0, cols = 0, ld = 0;
    scale_kind kind = scale_kind::flat_block;
    unsigned block = 64, log2_block = 6;
    std::size_t blocks = 0;                 // scale entries: flat blocks, or rows * blocks_per_row
    const float* scales = nullptr;          // absmax [blocks] or int4 scales [rows, blocks_per_row]
    const std::uint8_t* qscales = nullptr;  // flat_block_dq: absmax codes [blocks]
    const float* nested = nullptr;          // flat_block_dq: [ceil(blocks / 256)]
    float offset = 0.0f;                    // flat_block_dq
    // tables (device memory for kernels, which copy them to shared memory first):
    // [0, 16) value of each code, [16, 272) the signed dynamic map (flat_block_dq only)
    const float* tables = nullptr;
    static constexpr unsigned table_size = 16 + 256;

    std::size_t blocks_per_row() const { return (cols + block - 1) / block; }

    // absmax/scale of scale entry b; `tab` is `tables` or its copy in shared memory.
    QUANT_HD float scale_entry(std::size_t b, const float* tab) const {
        if (kind == scale_kind::flat_block_dq) return add_rn(mul_rn(tab[16 + qscales[b]], nested[b >> 8]), offset);
        return scales[b];
    }

    // Scales of the chunk of row r starting at column c0 (a multiple of 32, c0 < cols).
    QUANT_HD chunk_scales scales_of_chunk(std::size_t r, std::size_t c0, const float* tab) const {
        chunk_scales s;
        if (kind == scale_kind::row_block) {
            s.s0 = s.s1 = scales[r * ((cols + block - 1) >> log2_block) + (c0 >> log2_block)];
            return s;
        }
        const std::size_t f0 = r * cols + c0, b0 = f0 >> log2_block;
        const std::size_t next = (b0 + 1) << log2_block;  // first flat index of the next block
        s.s0 = scale_entry(b0, tab);
        if (next - f0 < chunk && b0 + 1 < blocks) {
            s.split = static_cast<unsigned>(next - f0);
            s.s1 = scale_entry(b0 + 1, tab);
        } else {
            s.s1 = s.s0;
        }
        return s;
    }

    // A chunk decodes word by word (8 codes per 32-bit word), so a kernel can keep 8 values live
    // instead of 32. Word q of a chunk holds elements 8q .. 8q+7, element 8q+i in bits 4i..4i+3.
    static constexpr unsigned per_word = 8;
    using scale_type = chunk_scales;
    QUANT_HD scale_type chunk_scale(std::size_t r, std::size_t c0, const float* tab) const {
        return scales_of_chunk(r, c0, tab);
    }
    QUANT_HD void decode_word(const scale_type& s, std::uint32_t word, unsigned q, const float* tab,
                              float (&out)[per_word]) const {
        QUANT_UNROLL
        for (unsigned i = 0; i < per_word; ++i) out[i] = mul_rn(tab[(word >> (4 * i)) & 15u], s[q * per_word + i]);
    }

    // The 32 float32 values of the chunk of row r at column c0; raw = the chunk's 16 bytes.
    QUANT_HD void decode_chunk(std::size_t r, std::size_t c0, const std::uint32_t (&raw)[4], const float* tab,
                               float (&out)[chunk]) const {
        const scale_type s = chunk_scale(r, c0, tab);
        QUANT_UNROLL
        for (unsigned q = 0; q < 4; ++q) {
            float v[per_word];
            decode_word(s, raw[q], q, tab, v);
            QUANT_UNROLL
            for (unsigned i = 0; i < per_word; ++i) out[q * per_word + i] = v[i];
        }
    }
};

// Kernel-side view of int8 weights.
struct int8_weights {
    static constexpr unsigned chunk = 16, per_word = 4;
    const std::int8_t* codes = nullptr;  // [rows, ld]
    std::size_t rows = 0, cols = 0, ld = 0;
    const float* scb = nullptr;     // [rows]
    const float* tables = nullptr;  // unused (no table); keeps the kernels' interface uniform
    static constexpr unsigned table_size = 0;
    static constexpr float inv127 = 7.874015718698502e-3f;  // AbsmaxInt8::inv127

    using scale_type = float;
    QUANT_HD scale_type chunk_scale(std::size_t r, std::size_t /*c0*/, const float* /*tab*/) const { return scb[r]; }
    QUANT_HD void decode_word(scale_type s, std::uint32_t word, unsigned /*q*/, const float* /*tab*/,
                              float (&out)[per_word]) const {
        QUANT_UNROLL
        for (unsigned i = 0; i < per_word; ++i) {
            const auto code = static_cast<std::int8_t>((word >> (8 * i)) & 0xffu);
            out[i] = mul_rn(mul_rn(static_cast<float>(code), s), inv127);
        }
    }
    QUANT_HD void decode_chunk(std::size_t r, std::size_t c0, const std::uint32_t (&raw)[4], const float* tab,
                               float (&out)[chunk]) const {
        const scale_type s = chunk_scale(r, c0, tab);
        QUANT_UNROLL
        for (unsigned q = 0; q < 4; ++q) {
            float v[per_word];
            decode_word(s, raw[q], q, tab, v);
            QUANT_UNROLL
            for (unsigned i = 0; i < per_word; ++i) out[q * per_word + i] = v[i];
        }
    }
};

// Loads the 16-byte chunk of row r at column c0 (host memory; the kernels have their own load).
template <class W>
inline void load_chunk_host(const W& w, std::size_t r, std::size_t c0, std::uint32_t (&raw)[4]) {
    const auto* p = reinterpret_cast<const unsigned char*>(w.codes) + r * w.ld + c0 * 16 / W::chunk;
    for (int q = 0; q < 4; ++q)
        raw[q] = std::uint32_t{p[4 * q]} | std::uint32_t{p[4 * q + 1]} << 8 | std::uint32_t{p[4 * q + 2]} << 16 |
                 std::uint32_t{p[4 * q + 3]} << 24;
}

}  // namespace quant::cuda
