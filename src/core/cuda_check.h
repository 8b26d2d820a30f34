// CUDA_CHECK: aborts with file:line and the CUDA error string when a runtime call fails.
#pragma once

#include <cuda_runtime.h>

#include "core/check.h"

#define CUDA_CHECK(expr)                                                  \
    do {                                                                  \
        const cudaError_t autoglm_cuda_status_ = (expr);                  \
        CHECK(autoglm_cuda_status_ == cudaSuccess)                        \
            << #expr << ": " << cudaGetErrorString(autoglm_cuda_status_); \
    } while (0)
