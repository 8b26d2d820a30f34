// Histogram buckets (Prometheus "le" semantics) and the output channel's close/drain behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "engine/metrics.h"
#include "engine/output_channel.h"

namespace autoglm {
namespace {

TEST(Histogram, CumulativeLeBuckets) {
    Histogram h({0.1, 1.0});
    for (double v : {0.05, 0.1, 0.5, 2.0}) h.observe(v);
    const auto s = h.snapshot();
    EXPECT_EQ(s.cumulative_counts, (std::vector<uint64_t>{2, 3, 4}));  // <=0.1, <=1, +Inf
    EXPECT_EQ(s.count, 4u);
    EXPECT_DOUBLE_EQ(s.sum, 2.65);
    EXPECT_EQ(ttft_buckets().front(), 0.001);
    for (const auto& bounds : {ttft_buckets(), inter_token_buckets(), request_latency_buckets()})
        EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
}

TEST(OutputChannel, DeliversInOrderThenDrainsAfterClose) {
    OutputChannel<int> ch;
    std::thread producer([&] {
        for (int i = 0; i < 100; ++i) ch.push(i);
        ch.close();
        ch.push(1000);  // dropped after close
    });
    std::vector<int> got;
    while (auto item = ch.pop(std::chrono::milliseconds(1000))) got.push_back(*item);
    producer.join();
    ASSERT_EQ(got.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i);
    EXPECT_TRUE(ch.closed_and_drained());
    EXPECT_FALSE(ch.try_pop().has_value());
}

}  // namespace
}  // namespace autoglm
