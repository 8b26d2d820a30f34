// OutputChannel: the per-request stream of incremental results from the engine thread to the
// HTTP side. Unbounded, thread-safe; the engine pushes, one consumer pops (blocking, with a
// timeout, or polling); closing wakes the consumer after the queued items are drained.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace autoglm {

template <typename T>
class OutputChannel {
  public:
    void push(T item) {
        std::function<void()> listener;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (closed_) return;
            items_.push_back(std::move(item));
            listener = listener_;
        }
        ready_.notify_one();
        if (listener) listener();
    }
    // After close, pushes are dropped and pop returns nullopt once the queue is empty.
    void close() {
        std::function<void()> listener;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            closed_ = true;
            listener = listener_;
        }
        ready_.notify_all();
        if (listener) listener();
    }
    // Called (on the pushing thread, outside the lock) after every push and on close: lets an
    // event loop wait for items without blocking a thread. Items pushed earlier are not signalled.
    void set_listener(std::function<void()> listener) {
        std::lock_guard<std::mutex> lock(mutex_);
        listener_ = std::move(listener);
    }
    // Waits up to `timeout` for an item; nullopt on timeout or when closed and drained.
    std::optional<T> pop(std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait_for(lock, timeout, [&] { return !items_.empty() || closed_; });
        return take(lock);
    }
    std::optional<T> try_pop() {
        std::unique_lock<std::mutex> lock(mutex_);
        return take(lock);
    }
    bool closed_and_drained() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return closed_ && items_.empty();
    }

  private:
    std::optional<T> take(std::unique_lock<std::mutex>&) {
        if (items_.empty()) return std::nullopt;
        T item = std::move(items_.front());
        items_.pop_front();
        return item;
    }
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<T> items_;
    bool closed_ = false;
    std::function<void()> listener_;
};

}  // namespace autoglm
