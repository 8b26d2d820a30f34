// hash_bytes: XXH3-64 from xxHash (Debian's libxxhash-dev), compiled inline here so the binary
// needs no xxHash library at run time.
#include "core/hash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace autoglm {

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
    const uint64_t h = XXH3_64bits_withSeed(data, size, seed);
    return h == 0 ? 1 : h;
}

}  // namespace autoglm
