// Worker pool behind parallel_for: persistent threads woken per call through a generation counter.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace autoglm {
namespace {

std::atomic<int> g_requested_threads{0};

class Pool {
  public:
    explicit Pool(int num_threads) : num_threads_(num_threads) {
        for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
    }
    ~Pool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    int size() const { return num_threads_; }

    void run(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
        std::lock_guard<std::mutex> call_lock(call_mutex_);
        const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
        const int64_t num_chunks = std::min<int64_t>(num_threads_, max_chunks);
        if (num_chunks <= 1) {
            fn(0, n);
            return;
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            fn_ = &fn;
            n_ = n;
            num_chunks_ = num_chunks;
            next_chunk_.store(0);
            workers_done_ = 0;
            ++generation_;
        }
        wake_.notify_all();
        do_chunks();
        std::unique_lock<std::mutex> lock(mutex_);
        // Every worker checks in for every call, so none can run late into the next one.
        done_.wait(lock, [this] { return workers_done_ == workers_.size(); });
        fn_ = nullptr;
    }

  private:
    void do_chunks() {
        for (;;) {
            const int64_t c = next_chunk_.fetch_add(1);
            if (c >= num_chunks_) return;
            const int64_t begin = n_ * c / num_chunks_;
            const int64_t end = n_ * (c + 1) / num_chunks_;
            (*fn_)(begin, end);
        }
    }

    void worker_loop() {
        uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
                if (stopping_) return;
                seen = generation_;
            }
            do_chunks();
            std::lock_guard<std::mutex> lock(mutex_);
            if (++workers_done_ == workers_.size()) done_.notify_all();
        }
    }

    const int num_threads_;
    std::vector<std::thread> workers_;
    std::mutex call_mutex_;  // one parallel_for at a time
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
    int64_t n_ = 0;
    int64_t num_chunks_ = 0;
    std::atomic<int64_t> next_chunk_{0};
    size_t workers_done_ = 0;
    uint64_t generation_ = 0;
    bool stopping_ = false;
};

Pool& pool() {
    static Pool instance([] {
        const int requested = g_requested_threads.load();
        if (requested > 0) return requested;
        return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    }());
    return instance;
}

}  // namespace

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
    if (n <= 0) return;
    pool().run(n, min_chunk, fn);
}

int num_worker_threads() {
    return pool().size();
}

void set_num_worker_threads(int num_threads) {
    if (num_threads > 0) g_requested_threads.store(num_threads);
}

}  // namespace autoglm
