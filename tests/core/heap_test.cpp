#include "core/heap.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

namespace autoglm {
namespace {

using namespace std::chrono_literals;

// Waits up to 2 s for `trimmer` to reach `n` trims.
bool reaches(const IdleHeapTrimmer& trimmer, int64_t n) {
    for (int i = 0; i < 400 && trimmer.num_trims() < n; ++i) std::this_thread::sleep_for(5ms);
    return trimmer.num_trims() >= n;
}

struct Fake {
    std::atomic<bool> idle{true};
    std::atomic<uint64_t> activity{0};
    std::atomic<int> trims{0};
};

TEST(IdleHeapTrimmer, TrimsAfterWorkWhenIdleAndNotBefore) {
    Fake f;
    IdleHeapTrimmer trimmer([&] { return f.idle.load(); }, [&] { return f.activity.load(); },
                            {5ms, 20ms, 3}, [&] { return ++f.trims > 0; });
    std::this_thread::sleep_for(80ms);  // idle but nothing happened since start
    EXPECT_EQ(trimmer.num_trims(), 0);

    f.idle = false;
    f.activity = 10;
    std::this_thread::sleep_for(80ms);  // busy: never trims under load
    EXPECT_EQ(trimmer.num_trims(), 0);

    f.idle = true;
    ASSERT_TRUE(reaches(trimmer, 3));   // once, then twice more a settle time apart
    std::this_thread::sleep_for(80ms);  // still idle, no new work: no more
    EXPECT_EQ(trimmer.num_trims(), 3);
    EXPECT_EQ(f.trims.load(), 3);

    f.activity = 11;  // more work, idle again
    ASSERT_TRUE(reaches(trimmer, 6));
    std::this_thread::sleep_for(80ms);
    EXPECT_EQ(f.trims.load(), 6);
}

TEST(IdleHeapTrimmer, WaitsForTheSettleTime) {
    Fake f;
    IdleHeapTrimmer trimmer([&] { return f.idle.load(); }, [&] { return f.activity.load(); },
                            {5ms, 300ms, 1}, [&] { return ++f.trims > 0; });
    f.activity = 1;
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(trimmer.num_trims(), 0);  // idle for less than 300 ms
    ASSERT_TRUE(reaches(trimmer, 1));
}

TEST(ReleaseFreeHeap, ReturnsFreedPagesOnGlibc) {
#if defined(__GLIBC__) && !defined(AUTOGLM_SANITIZE_BUILD)
    // Many mid-sized blocks (below the mmap threshold) freed out of order leave free pages
    // inside the arena that only a trim returns.
    std::vector<void*> blocks;
    for (int i = 0; i < 2000; ++i) blocks.push_back(std::malloc(64 * 1024));
    for (size_t i = 0; i < blocks.size(); i += 2) std::free(blocks[i]);
    EXPECT_TRUE(release_free_heap());
    for (size_t i = 1; i < blocks.size(); i += 2) std::free(blocks[i]);
#else
    GTEST_SKIP() << "malloc_trim is glibc's, and sanitizers replace the allocator";
#endif
}

}  // namespace
}  // namespace autoglm
