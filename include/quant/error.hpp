// quant::error: the one exception type of the library. Every message says what went wrong
// and where (tensor, index, file), so a caller can print e.what() and be done.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace quant {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

// Builds the message from any streamable pieces: fail("block size ", b, " is not ...").
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
    std::ostringstream os;
    (os << ... << std::forward<Parts>(parts));
    throw error(os.str());
}

template <class... Parts>
void check(bool ok, Parts&&... parts) {
    if (!ok) fail(std::forward<Parts>(parts)...);
}

}  // namespace detail
}  // namespace quant
