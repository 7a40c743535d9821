// Host side of the device layouts (cuda/weight_format.hpp): repacks a QuantizedTensor<S> into
// the buffers that get uploaded. Plain C++, unit-tested on the CPU against S::dequantize_row.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../numeric/dynamic_map.hpp"
#include "../schemes/absmax_int8.hpp"
#include "../schemes/blockwise_int4.hpp"
#include "../schemes/bnb4bit.hpp"
#include "../tensor/quantized_tensor.hpp"
#include "weight_format.hpp"

namespace quant::cuda {

// packed4 weights in host memory; view() points into these vectors.
struct packed4_host {
    packed4_weights meta;  // shape, kind, block; pointers are set by view()
    std::vector<std::uint8_t> codes;
    std::vector<float> scales;
    std::vector<std::uint8_t> qscales;
    std::vector<float> nested;
    std::array<float, packed4_weights::table_size> tables{};

    packed4_weights view() const {
        packed4_weights w = meta;
        w.codes = codes.data();
        w.scales = scales.empty() ? nullptr : scales.data();
        w.qscales = qscales.empty() ? nullptr : qscales.data();
        w.nested = nested.empty() ? nullptr : nested.data();
        w.tables = tables.data();
        return w;
    }
};

struct int8_host {
    int8_weights meta;
    std::vector<std::int8_t> codes;
    std::vector<float> scb;

    int8_weights view() const {
        int8_weights w = meta;
        w.codes = codes.data();
        w.scb = scb.data();
        return w;
    }
};

namespace detail {

// Codes [rows, ld] in the packed4 order from any code(r, c) accessor; padding gets pad_code.
template <class CodeOf>
std::vector<std::uint8_t> pack4_rows(std::size_t rows, std::size_t cols, std::size_t ld, std::uint8_t pad_code,
                                     const CodeOf& code_of) {
    std::vector<std::uint8_t> out(rows * ld);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < 2 * ld; c += 2) {
            const std::uint8_t lo = c < cols ? code_of(r, c) : pad_code;
            const std::uint8_t hi = c + 1 < cols ? code_of(r, c + 1) : pad_code;
            out[r * ld + c / 2] = static_cast<std::uint8_t>(lo | (hi << 4));
        }
    return out;
}

inline std::uint8_t code_of_zero(const std::array<float, packed4_weights::table_size>& t) {
    for (std::uint8_t c = 0; c < 16; ++c)
        if (t[c] == 0.0f) return c;
    quant::detail::fail("quant::cuda: codebook has no zero");
}

}  // namespace detail

template <class Traits>
packed4_host repack(const QuantizedTensor<Bnb4bit<Traits>>& t) {
    using S = Bnb4bit<Traits>;
    static_assert(S::nested_block == 256, "packed4_weights::scale_entry indexes the nested absmax with b >> 8");
    const auto& st = t.data();
    packed4_host h;
    auto& m = h.meta;
    m.rows = st.rows;
    m.cols = st.cols;
    m.ld = 16 * ((st.cols + 31) / 32);
    m.block = static_cast<unsigned>(st.params.block);
    m.log2_block = static_cast<unsigned>(std::countr_zero(st.params.block));
    m.blocks = st.blocks();
    for (std::size_t c = 0; c < 16; ++c) h.tables[c] = S::codebook.values[c];
    if (st.params.double_quant) {
        m.kind = scale_kind::flat_block_dq;
        h.qscales.assign(st.qabsmax.begin(), st.qabsmax.end());
        h.nested.assign(st.nested_absmax.begin(), st.nested_absmax.end());
        m.offset = st.offset;
        for (std::size_t i = 0; i < 256; ++i) h.tables[16 + i] = numeric::dynamic_map_signed[i];
    } else {
        m.kind = scale_kind::flat_block;
        h.scales.assign(st.absmax.begin(), st.absmax.end());
    }
    h.codes = detail::pack4_rows(m.rows, m.cols, m.ld, detail::code_of_zero(h.tables),
                                 [&](std::size_t r, std::size_t c) { return st.code(r * st.cols + c); });
    return h;
}

inline packed4_host repack(const QuantizedTensor<BlockwiseInt4>& t) {
    const auto& st = t.data();
    packed4_host h;
    auto& m = h.meta;
    m.rows = st.rows;
    m.cols = st.cols;
    m.ld = 16 * ((st.cols + 31) / 32);
    m.kind = scale_kind::row_block;
    m.block = static_cast<unsigned>(st.params.block);
    m.log2_block = static_cast<unsigned>(std::countr_zero(st.params.block));
    const std::size_t nb = st.blocks_per_row(), B = st.params.block;
    m.blocks = st.rows * nb;
    for (int c = 0; c < 16; ++c) h.tables[static_cast<std::size_t>(c)] = static_cast<float>(c - 8);
    h.scales.resize(m.blocks);
    for (std::size_t r = 0; r < st.rows; ++r)
        for (std::size_t k = 0; k < nb; ++k) h.scales[r * nb + k] = st.scale(r, k);
    // host layout: byte j of a block holds element j (low nibble) and j + B/2 (high nibble)
    h.codes = detail::pack4_rows(m.rows, m.cols, m.ld, std::uint8_t{8}, [&](std::size_t r, std::size_t c) {
        const std::uint8_t* q = st.codes(r, c / B);
        const std::size_t j = c % B;
        return static_cast<std::uint8_t>(j < B / 2 ? (q[j] & 0x0f) : (q[j - B / 2] >> 4));
    });
    return h;
}

inline int8_host repack(const QuantizedTensor<AbsmaxInt8>& t) {
    const auto& st = t.data();
    int8_host h;
    auto& m = h.meta;
    m.rows = st.rows;
    m.cols = st.cols;
    m.ld = 16 * ((st.cols + 15) / 16);
    h.codes.assign(m.rows * m.ld, 0);
    for (std::size_t r = 0; r < m.rows; ++r)
        for (std::size_t c = 0; c < m.cols; ++c) h.codes[r * m.ld + c] = st.CB[r * m.cols + c];
    h.scb.assign(st.SCB.begin(), st.SCB.end());
    return h;
}

// Decodes row r of repacked weights on the host with the kernels' decode_chunk, padding included
// (ld * chunk / 16 values; the kernels rely on the padding decoding to exactly 0). For tests.
template <class H>
std::vector<float> decode_row_host(const H& h, std::size_t r) {
    const auto w = h.view();
    using W = decltype(w);
    std::vector<float> row(w.ld * W::chunk / 16);
    for (std::size_t c0 = 0; c0 < row.size(); c0 += W::chunk) {
        std::uint32_t raw[4];
        load_chunk_host(w, r, c0, raw);
        float v[W::chunk];
        w.decode_chunk(r, c0, raw, w.tables, v);
        for (std::size_t j = 0; j < W::chunk; ++j) row[c0 + j] = v[j];
    }
    return row;
}

}  // namespace quant::cuda
