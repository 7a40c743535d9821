// Any bytes as a whole safetensors file: parse_safetensors must either accept them or throw
// quant::error; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include <quant/io/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto h = quant::io::parse_safetensors(std::as_bytes(std::span(data, size)), "fuzz");
        (void)h;
    } catch (const quant::error&) {
    }
    return 0;
}
