#pragma once

#define QUANT_VERSION_MAJOR 0
#define QUANT_VERSION_MINOR 1
#define QUANT_VERSION_PATCH 0

namespace quant {
inline constexpr int version_major = QUANT_VERSION_MAJOR;
inline constexpr int version_minor = QUANT_VERSION_MINOR;
inline constexpr int version_patch = QUANT_VERSION_PATCH;
}  // namespace quant
