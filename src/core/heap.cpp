// IdleHeapTrimmer: a polling thread that waits on a stop token between looks.
#include "core/heap.h"

#include <condition_variable>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace autoglm {

bool release_free_heap() {
#if defined(__GLIBC__)
    return malloc_trim(0) != 0;
#else
    return false;
#endif
}

IdleHeapTrimmer::IdleHeapTrimmer(std::function<bool()> idle, std::function<uint64_t()> activity,
                                 Options options, std::function<bool()> trim)
    : idle_(std::move(idle)),
      activity_(std::move(activity)),
      options_(options),
      trim_(std::move(trim)),
      seen_(activity_()) {
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

IdleHeapTrimmer::~IdleHeapTrimmer() {
    thread_.request_stop();
}

void IdleHeapTrimmer::run(std::stop_token stop) {
    using Clock = std::chrono::steady_clock;
    std::mutex mutex;
    std::condition_variable_any wake;
    auto idle_since = Clock::time_point::max();
    int pending = 0;  // trims still due since the last activity
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
        // Returns early only when stop is requested (the predicate never holds).
        wake.wait_for(lock, stop, options_.poll, [] { return false; });
        if (stop.stop_requested()) return;
        const auto now = Clock::now();
        if (const uint64_t seen = activity_(); seen != seen_) {
            seen_ = seen;
            pending = options_.repeats;
            idle_since = Clock::time_point::max();
        }
        if (!idle_()) {
            idle_since = Clock::time_point::max();
            continue;
        }
        if (pending == 0) continue;
        if (idle_since == Clock::time_point::max()) idle_since = now;
        if (now - idle_since < options_.settle) continue;
        trim_();
        --pending;
        num_trims_.fetch_add(1);
        idle_since = now;  // the next one (memory freed late, e.g. by closing connections)
                           // a settle time later
    }
}

}  // namespace autoglm
