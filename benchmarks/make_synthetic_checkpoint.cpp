// Writes a synthetic fp32 safetensors checkpoint of about SIZE_GB gigabytes: one embedding
// [32000, 1024] and then [4096, 4096] Linear weights with N(0, 0.02)-like values (sum of
// uniforms), streamed straight to disk. Used by stream_quantize.sh.
//   make_synthetic_checkpoint OUT.safetensors SIZE_GB
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s OUT.safetensors SIZE_GB\n", argv[0]);
        return 1;
    }
    const double gb = std::atof(argv[2]);
    const std::uint64_t side = 4096, per = side * side * 4, emb_rows = 32000, emb_cols = 1024;
    const std::uint64_t emb_bytes = emb_rows * emb_cols * 4;
    const auto target = static_cast<std::uint64_t>(gb * 1024 * 1024 * 1024);
    const std::uint64_t layers = target > emb_bytes ? (target - emb_bytes) / per : 0;
    nlohmann::ordered_json h;
    std::uint64_t at = 0;
    h["model.embeddings.weight"] = {{"dtype", "F32"}, {"shape", {emb_rows, emb_cols}}, {"data_offsets", {at, at + emb_bytes}}};
    at += emb_bytes;
    for (std::uint64_t i = 0; i < layers; ++i) {
        h["model.layers." + std::to_string(i) + ".proj.weight"] = {{"dtype", "F32"}, {"shape", {side, side}}, {"data_offsets", {at, at + per}}};
        at += per;
    }
    std::string text = h.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::FILE* f = std::fopen(argv[1], "wb");
    if (!f) return std::perror(argv[1]), 1;
    const std::uint64_t n = text.size();
    std::fwrite(&n, 8, 1, f);  // little-endian host
    std::fwrite(text.data(), 1, text.size(), f);
    std::uint64_t s = 0x9e3779b97f4a7c15ull;
    std::vector<float> buf(1 << 20);
    for (std::uint64_t left = at / 4; left > 0;) {
        const std::size_t k = left < buf.size() ? left : buf.size();
        for (std::size_t i = 0; i < k; ++i) {
            float acc = 0;  // Irwin-Hall(4): roughly normal, cheap
            for (int j = 0; j < 4; ++j) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                acc += static_cast<float>(s >> 40) * (1.0f / 16777216.0f);
            }
            buf[i] = (acc - 2.0f) * 0.035f;
        }
        if (std::fwrite(buf.data(), 4, k, f) != k) return std::perror(argv[1]), 1;
        left -= k;
    }
    std::fclose(f);
    std::printf("%s: %llu Linear weights [4096, 4096] + embedding, %.2f GB\n", argv[1],
                static_cast<unsigned long long>(layers), double(8 + n + at) / (1024.0 * 1024 * 1024));
    return 0;
}
