// hash_bytes is XXH3-64: the published test vector of the empty input, seeds and every byte matter,
// and 0 is never returned.
#include "core/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace autoglm {
namespace {

TEST(HashBytes, IsXxh3) {
    // XXH3_64bits("") with seed 0, the reference implementation's value.
    EXPECT_EQ(hash_bytes("", 0, 0), 0x2D06800538D394C2ULL);
}

TEST(HashBytes, SeedAndEveryByteMatter) {
    std::string s(1000, 'x');
    const uint64_t h = hash_bytes(s.data(), s.size());
    EXPECT_EQ(h, hash_bytes(s.data(), s.size()));
    EXPECT_NE(h, hash_bytes(s.data(), s.size(), 1));
    EXPECT_NE(h, hash_bytes(s.data(), s.size() - 1));
    for (size_t i : {size_t{0}, size_t{511}, size_t{999}}) {
        std::string t = s;
        t[i] = 'y';
        EXPECT_NE(h, hash_bytes(t.data(), t.size())) << "byte " << i;
    }
    EXPECT_NE(hash_bytes(nullptr, 0, 0x9e3779b97f4a7c15ull), 0u);
}

}  // namespace
}  // namespace autoglm
