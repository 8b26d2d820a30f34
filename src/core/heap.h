// Giving freed heap memory back to the OS. glibc keeps the memory of freed blocks in its arenas
// (one per busy thread), so a server that decoded many large images keeps its peak RSS long after
// the load is gone; malloc_trim returns every whole free page of every arena.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stop_token>
#include <thread>

namespace autoglm {

// malloc_trim(0) where the C library has it; true when memory was returned.
bool release_free_heap();

// Calls `trim` once the process has been idle for `settle` after some activity, and again
// each `settle` while it stays idle, `repeats` times in all (memory freed a little later, as
// connections close, goes back too): a thread polls `idle()` (nothing queued or running) and
// `activity()` (a counter that moves with work, e.g. tokens processed) every `poll`.
class IdleHeapTrimmer {
  public:
    struct Options {
        std::chrono::milliseconds poll{250};
        std::chrono::milliseconds settle{500};
        int repeats = 3;
    };
    IdleHeapTrimmer(std::function<bool()> idle, std::function<uint64_t()> activity, Options options,
                    std::function<bool()> trim = release_free_heap);
    ~IdleHeapTrimmer();
    IdleHeapTrimmer(const IdleHeapTrimmer&) = delete;
    IdleHeapTrimmer& operator=(const IdleHeapTrimmer&) = delete;

    int64_t num_trims() const { return num_trims_.load(); }

  private:
    void run(std::stop_token stop);

    std::function<bool()> idle_;
    std::function<uint64_t()> activity_;
    Options options_;
    std::function<bool()> trim_;
    uint64_t seen_ = 0;  // activity() last seen (the thread's alone once started)
    std::atomic<int64_t> num_trims_{0};
    std::jthread thread_;
};

}  // namespace autoglm
