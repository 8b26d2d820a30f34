// parallel_for covers [0, n) exactly once, for any n, repeatedly.
#include "core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace autoglm {
namespace {

TEST(Parallel, CoversEveryIndexOnce) {
    for (int64_t n : {0, 1, 2, 3, 17, 1000, 4097}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        parallel_for(n, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << n;
    }
}

TEST(Parallel, ManyCallsInARow) {
    std::atomic<int64_t> total{0};
    for (int round = 0; round < 2000; ++round)
        parallel_for(64, [&](int64_t b, int64_t e) { total += e - b; });
    EXPECT_EQ(total.load(), 2000 * 64);
    EXPECT_GE(num_worker_threads(), 1);
}

}  // namespace
}  // namespace autoglm
