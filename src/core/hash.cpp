// hash_bytes: one multiply-xorshift round per 8-byte word.
#include "core/hash.h"

#include <cstring>

namespace autoglm {

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    uint64_t h = seed ^ (static_cast<uint64_t>(size) * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t w;
        std::memcpy(&w, bytes + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; i < size; ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    return h == 0 ? 1 : h;
}

}  // namespace autoglm
