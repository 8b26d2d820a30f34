// A process-wide worker pool for the CPU backend: parallel_for splits [0, n) into contiguous
// chunks run on every core. Calls are serialized (one engine thread drives the model).
#pragma once

#include <cstdint>
#include <functional>

namespace autoglm {

// Runs fn(begin, end) over disjoint chunks covering [0, n); returns when all are done.
// `min_chunk` keeps tiny loops on the calling thread.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                  int64_t min_chunk = 1);

int num_worker_threads();
// Sets the pool size (>= 1) before first use, e.g. from --threads; later calls are ignored.
void set_num_worker_threads(int num_threads);

}  // namespace autoglm
