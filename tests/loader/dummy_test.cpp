// Dummy weights: deterministic per (seed, name), different across seeds and names, sane scales.
#include "loader/dummy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace autoglm {
namespace {

std::vector<float> values(DummyWeights& src, const TensorRequest& req) {
    auto view = src.get(req);
    EXPECT_TRUE(view.ok());
    std::vector<float> out(static_cast<size_t>(view.value().numel()));
    to_f32(view.value().dtype, view.value().data, out.data(), out.size());
    return out;
}

TEST(Dummy, SameSeedSameValues) {
    DummyWeights a(7), b(7), c(8);
    const TensorRequest req{"layers.0.w", {64, 256}, WeightInit::kLinear};
    EXPECT_EQ(values(a, req), values(b, req));
    EXPECT_NE(values(a, req), values(c, req));
    EXPECT_NE(values(a, req), values(a, {"layers.1.w", {64, 256}, WeightInit::kLinear}));
}

TEST(Dummy, ScalesFollowInitKind) {
    DummyWeights src(1);
    const auto w = values(src, {"w", {128, 300}, WeightInit::kLinear});
    double sum_sq = 0;
    for (float v : w) sum_sq += v * v;
    EXPECT_NEAR(sum_sq / static_cast<double>(w.size()), 1.0 / 300.0, 0.1 / 300.0);  // var 1/fan_in
    for (float v : values(src, {"n", {512}, WeightInit::kNorm})) {
        EXPECT_GE(v, 0.89f);
        EXPECT_LE(v, 1.11f);
    }
}

TEST(Dummy, HostMemoryIsKnown) {
    EXPECT_GT(host_memory_available(), 0u);
}

}  // namespace
}  // namespace autoglm
