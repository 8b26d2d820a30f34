// A fast 64-bit hash of bytes (not cryptographic): XXH3-64 of xxHash. Prefix-cache block keys and
// image keys (over the encoded image bytes) use it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace autoglm {

// XXH3-64 of the bytes under `seed`; never returns 0 (callers use 0 for "not computed").
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0x9e3779b97f4a7c15ull);

}  // namespace autoglm
