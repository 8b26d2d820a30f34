// KV pool sizing: memory-size parsing, budgets (explicit, share of free memory, default cap) and
// the max_model_len checks with vLLM's wording.
#include "engine/kv_sizing.h"

#include <gtest/gtest.h>

namespace autoglm {
namespace {

TEST(KvSizing, ParsesMemorySizes) {
    EXPECT_EQ(parse_memory_size("1048576").value(), 1048576u);
    EXPECT_EQ(parse_memory_size("4GiB").value(), uint64_t{4} << 30);
    EXPECT_EQ(parse_memory_size("512mib").value(), uint64_t{512} << 20);
    EXPECT_EQ(parse_memory_size("2G").value(), 2000000000u);
    EXPECT_EQ(parse_memory_size("1.5KB").value(), 1500u);
    EXPECT_EQ(parse_memory_size("1e9").value(), 1000000000u);
    for (const char* bad : {"", "GiB", "-1G", "4X", "4GiBB", "nan", "1e30"})
        EXPECT_FALSE(parse_memory_size(bad).ok()) << bad;
    EXPECT_EQ(format_bytes(1536u << 20), "1.50 GiB");
    EXPECT_EQ(format_bytes(100), "100 B");
}

TEST(KvSizing, ExplicitBudgetGivesWholeBlocks) {
    KvSizingRequest r;
    r.bytes_per_block = 1000;
    r.block_size = 16;
    r.kv_cache_memory = 10'500;
    r.model_max_len = 65536;
    const KvCachePlan p = plan_kv_cache(r).value();
    EXPECT_EQ(p.num_blocks, 10);
    EXPECT_EQ(p.bytes, 10'000u);
    EXPECT_EQ(p.num_tokens(), 160);
    EXPECT_EQ(p.max_model_len, 160);  // not given: lowered to what fits
    EXPECT_NE(p.describe().find("10 blocks x 16 tokens = 160 tokens"), std::string::npos);
}

TEST(KvSizing, ImplicitBudgetIsAShareOfFreeMemoryUnderTheCap) {
    KvSizingRequest r;
    r.bytes_per_block = 1 << 20;
    r.available_bytes = uint64_t{100} << 20;
    r.memory_utilization = 0.5;
    r.default_cap = uint64_t{30} << 20;
    r.model_max_len = 64;
    EXPECT_EQ(plan_kv_cache(r).value().num_blocks, 30);
    r.default_cap = 0;
    const KvCachePlan p = plan_kv_cache(r).value();
    EXPECT_EQ(p.num_blocks, 50);
    EXPECT_EQ(p.max_model_len, 64);
    r.max_useful_tokens = 16 * 20 + 1;  // 20 blocks and one token
    EXPECT_EQ(plan_kv_cache(r).value().num_blocks, 21);
    r.kv_cache_memory = uint64_t{40} << 20;  // an explicit budget is taken as given
    EXPECT_EQ(plan_kv_cache(r).value().num_blocks, 40);
}

TEST(KvSizing, ExplicitMaxModelLenThatDoesNotFitIsAnError) {
    KvSizingRequest r;
    r.bytes_per_block = 1024;
    r.block_size = 16;
    r.kv_cache_memory = 4096;  // 4 blocks = 64 tokens
    r.max_model_len = 100;
    const auto p = plan_kv_cache(r);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error_message(),
              "To serve at least one request with the model's max seq len (100), 7.00 KiB KV "
              "cache is needed, which is larger than the available KV cache memory (4.00 KiB). "
              "Based on the available memory, the estimated maximum model length is 64. Try "
              "increasing --kv-cache-memory or decreasing --max-model-len.");
    r.max_model_len = 64;
    EXPECT_TRUE(plan_kv_cache(r).ok());
    r.kv_cache_memory = 1000;
    EXPECT_FALSE(plan_kv_cache(r).ok());  // not even one block
}

}  // namespace
}  // namespace autoglm
