// A fast 64-bit hash of bytes (not cryptographic): prefix-cache keys of images.
#pragma once

#include <cstddef>
#include <cstdint>

namespace autoglm {

// Mixes 8 bytes at a time (multiply-xorshift), the tail byte by byte; never returns 0 (callers
// use 0 for "not computed").
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0x9e3779b97f4a7c15ull);

}  // namespace autoglm
