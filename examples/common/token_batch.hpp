// A batch of token sequences padded to one length, as a model takes them: ids and attention
// mask, both [rows, cols] row-major (Hugging Face's input_ids / attention_mask).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace quant::examples {

enum class padding {
    longest,     // to the longest sequence of the batch (HF padding=True)
    max_length,  // to max_length (HF padding="max_length")
};

struct token_batch {
    std::size_t rows = 0, cols = 0;
    std::vector<std::int32_t> ids;             // [rows, cols], pad id after the tokens
    std::vector<std::int32_t> attention_mask;  // [rows, cols], 1 for a token, 0 for padding

    std::span<const std::int32_t> ids_row(std::size_t r) const { return {ids.data() + r * cols, cols}; }
    std::span<const std::int32_t> mask_row(std::size_t r) const { return {attention_mask.data() + r * cols, cols}; }

    // Right padding, as the BERT and GPT-2 tokenizers of HF do.
    static token_batch pad(const std::vector<std::vector<std::int32_t>>& seqs, std::size_t cols, std::int32_t pad_id) {
        token_batch b;
        b.rows = seqs.size();
        b.cols = cols;
        b.ids.assign(b.rows * cols, pad_id);
        b.attention_mask.assign(b.rows * cols, 0);
        for (std::size_t r = 0; r < b.rows; ++r)
            for (std::size_t c = 0; c < seqs[r].size() && c < cols; ++c) {
                b.ids[r * cols + c] = seqs[r][c];
                b.attention_mask[r * cols + c] = 1;
            }
        return b;
    }
};

}  // namespace quant::examples
