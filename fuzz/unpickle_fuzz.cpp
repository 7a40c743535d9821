// Any bytes as the data.pkl of a torch .bin: the restricted unpickler must return tensors or
// throw quant::error; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include <quant/io/pickle.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto tensors = quant::io::unpickle_state_dict(std::as_bytes(std::span(data, size)), "fuzz");
        (void)tensors;
    } catch (const quant::error&) {
    }
    return 0;
}
