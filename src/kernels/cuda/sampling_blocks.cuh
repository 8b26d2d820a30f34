// Building blocks of the sampling kernel (sampling.cu): its constants and per-row state,
// order-preserving value keys, block reductions and scans, warp searches over keys, the
// first-level bins and a shared-memory sort. Included by sampling.cu only.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace autoglm::cuda::sampling {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;
// First-level bins of the raw values: bin = round((xmax - x) * 256 / t), so 1/256 of s each,
// d = top - s in [0, 32). Larger d (each token's mass below e^-32 of the top one's) share an
// overflow bin kBins that is never incremented atomically (it may hold most of the vocabulary).
constexpr int kBins = 8192;
constexpr float kBinsPerUnit = 256.0f;
constexpr float kRoundMagic = 8388608.0f;  // 2^23: t + 2^23 holds round(t) in its low bits
// The work area: refinement sub-bins (int), top-p candidates (uint64) or draw segment sums
// (double). 13 bits of key per refinement level.
constexpr int kWork = 8192;
constexpr int kSubBits = 13;
constexpr int kSegment = 256;  // ids per draw segment: 8 per lane of one warp
constexpr size_t kSmemBytes = kBins * sizeof(int) + kWork * sizeof(uint64_t);  // 96 KiB
// A sub-bin's mass bounds are exp of its end values: off only by exp's own rounding.
constexpr double kSubSlack = 1e-9;
constexpr int kMaxLevels = 8;
// The smallest key of a non-NaN value above -inf (-FLT_MAX).
constexpr uint32_t kMinFiniteKey = 0x00800000u;

// Order-preserving map of a float to uint32 (larger value -> larger key), -0 as +0.
__device__ __forceinline__ uint32_t value_key(float v) {
    const uint32_t u = __float_as_uint(v == 0.0f ? 0.0f : v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}
// NOTE: ranges of keys [lo, hi] are tested on floats as x >= key_value(lo) && x <
// key_value(hi + 1): that keeps -0 and +0 together and fails for NaN.

// The CPU's apply_temperature (IEEE division in float), with -0 turned into +0.
__device__ __forceinline__ float scaled(float x, float t) {
    const float s = t == 1.0f ? x : __fdiv_rn(x, t);
    return s == 0.0f ? 0.0f : s;
}

__device__ __forceinline__ double mass(float s, float top) {
    return exp(static_cast<double>(s) - static_cast<double>(top));
}

template <typename T>
__device__ __forceinline__ T warp_add(T v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(kFull, v, o);
    return v;
}

// Sum over the block; every thread gets it. scratch: [32].
template <typename T>
__device__ T block_add(T v, T* scratch) {
    v = warp_add(v);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    return warp_add(scratch[threadIdx.x & 31]);
}

// Exclusive prefix over the threads in index order; *total gets the block's sum. scratch: [32].
template <typename T>
__device__ T block_exclusive(T v, T* scratch, T* total) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    T incl = v;
    for (int o = 1; o < 32; o *= 2) {
        const T t = __shfl_up_sync(kFull, incl, o);
        if (lane >= o) incl += t;
    }
    T excl = __shfl_up_sync(kFull, incl, 1);
    if (lane == 0) excl = T(0);
    __syncthreads();
    if (lane == 31) scratch[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        T w = scratch[lane];
        for (int o = 1; o < 32; o *= 2) {
            const T t = __shfl_up_sync(kFull, w, o);
            if (lane >= o) w += t;
        }
        scratch[lane] = w;
    }
    __syncthreads();
    *total = scratch[kWarps - 1];
    return (warp > 0 ? scratch[warp - 1] : T(0)) + excl;
}

// Smallest k in [lo, hi] with pred(k), for pred monotone with pred(hi) true: 32 probes a round
// (one per lane), so 32 bits take 7 rounds. Called by one whole warp.
template <typename Pred>
__device__ inline uint32_t warp_first_true(uint32_t lo, uint32_t hi, Pred pred) {
    const int lane = threadIdx.x & 31;
    while (lo < hi) {
        const uint64_t span = hi - lo;
        const auto probe = [&](int j) { return lo + static_cast<uint32_t>((span * j) >> 5); };
        const unsigned ball = __ballot_sync(kFull, pred(probe(lane)));
        if (ball & 1u) return lo;
        if (ball == 0) {
            lo = probe(31) + 1;
            continue;
        }
        const int f = __ffs(static_cast<int>(ball)) - 1;  // first probe found true, >= 1
        const uint32_t t = probe(f);
        lo = probe(f - 1) + 1;
        hi = t;
    }
    return lo;
}

// Per-row state, shared by the block.
struct RowState {
    float t;          // temperature
    float xmax;       // largest raw logit
    float top;        // scaled(xmax), the largest scaled logit
    float bin_scale;  // kBinsPerUnit / t
    uint32_t kx_min;  // kept raw values: value_key(x) >= kx_min (min-p, then top-k)
    uint32_t kx_max;  // value_key(xmax)
    // The range being refined: raw keys [xlo, xhi], exactly the raw values whose scaled keys
    // lie in [slo, shi] (top-p), or only the raw range (top-k).
    uint32_t xlo, xhi, slo, shi;
    int shift, nsub;  // sub-bin j of the range: (hi - key) >> shift == j
    int n_valid;      // values kept by min-p
    int n_above;      // kept tokens above the range
    int n_range;      // kept tokens in the range
    int found, found_before;
    int j_lo, j_hi;
    int ncand;
    int first_drop;
    int seg;
    int id;
    double above;   // exact mass (relative to the top token) of the tokens above the range
    double budget;  // top_p * total mass
    double seg_prefix;
    uint64_t cut;  // top-p, on scaled keys: keep (key(s) << 32 | ~id) >= cut
};

struct Scratch {
    double d[32];
    double d2[32];
    float f[32];
    int i[32];
};

struct Row {
    const float* x;
    int n;
    bool vec;  // 16-byte aligned: float4 loads
};

// f(i, x) for each raw logit of the row (in no particular order).
template <typename F>
__device__ __forceinline__ void for_each(const Row& r, F f) {
    int i = threadIdx.x;
    if (r.vec) {
        const auto* x4 = reinterpret_cast<const float4*>(r.x);
        const int n4 = r.n / 4;
        for (int j = threadIdx.x; j < n4; j += kThreads) {
            const float4 v = __ldg(x4 + j);
            f(4 * j, v.x);
            f(4 * j + 1, v.y);
            f(4 * j + 2, v.z);
            f(4 * j + 3, v.w);
        }
        i += 4 * n4;
    }
    for (; i < r.n; i += kThreads) f(i, __ldg(r.x + i));
}

// First j < n with sum(count(0..j]) >= target: st.found (n when none) and st.found_before.
template <typename Count>
__device__ inline void find_crossing(Count count, int n, int target, RowState& st, Scratch& sc) {
    const int per = (n + kThreads - 1) / kThreads;
    const int b = threadIdx.x * per, e = min(n, b + per);
    int local = 0;
    for (int j = b; j < e; ++j) local += count(j);
    int total = 0;
    const int before = block_exclusive(local, sc.i, &total);
    if (threadIdx.x == 0) st.found = n, st.found_before = total;
    __syncthreads();
    if (before < target && before + local >= target) {
        int run = before;
        for (int j = b; j < e; ++j) {
            const int c = count(j);
            if (run + c >= target) {
                st.found = j, st.found_before = run;
                break;
            }
            run += c;
        }
    }
    __syncthreads();
}

// First-level bin of a raw value: monotone (non-increasing), so a set of bins is a key range.
__device__ __forceinline__ int xbin(float x, const RowState& st) {
    const float t = fminf((st.xmax - x) * st.bin_scale, static_cast<float>(kBins));
    return __float_as_int(t + kRoundMagic) - __float_as_int(kRoundMagic);
}

// The raw keys of first-level bins [b_lo, b_hi] within [kx_min, kx_max] -> st.xlo, st.xhi; an
// empty set gives the one key where it would be (a window may always hold more).
__device__ inline void bin_key_range(int b_lo, int b_hi, RowState& st) {
    if (threadIdx.x < 32) {
        const auto at_most = [&](int b) {
            return [&st, b](uint32_t k) { return xbin(key_value(k), st) <= b; };
        };
        const uint32_t lo = warp_first_true(st.kx_min, st.kx_max, at_most(b_hi));
        uint32_t hi =
            b_lo == 0 ? st.kx_max : warp_first_true(st.kx_min, st.kx_max, at_most(b_lo - 1)) - 1;
        if (hi < lo || hi + 1 == 0) hi = lo;
        if (threadIdx.x == 0) st.xlo = lo, st.xhi = hi;
    }
    __syncthreads();
}

// The smallest raw key (from `lo`) whose scaled key is >= ks; kx_max + 1 when there is none.
// Called by one whole warp.
__device__ inline uint32_t raw_at_least(uint32_t lo, uint32_t ks, const RowState& st) {
    const uint32_t end = st.kx_max + 1;
    const float t = st.t;
    return warp_first_true(
        lo, end, [=](uint32_t k) { return k >= end || value_key(scaled(key_value(k), t)) >= ks; });
}

// Sets st.xlo, st.xhi to the raw keys of the scaled keys [st.slo, st.shi].
__device__ inline void raw_range_of_scaled(RowState& st) {
    if (threadIdx.x < 32) {
        const uint32_t lo = raw_at_least(st.kx_min, st.slo, st);
        const uint32_t hi = raw_at_least(lo, st.shi + 1, st) - 1;
        if (threadIdx.x == 0) st.xlo = lo, st.xhi = hi;
    }
    __syncthreads();
}

// Sub-bins for the key range [lo, hi]: at most kWork of them.
__device__ __forceinline__ void set_sub_bins(uint32_t lo, uint32_t hi, RowState& st) {
    const uint32_t span = hi - lo;
    const int bits = span == 0 ? 0 : 32 - __clz(static_cast<int>(span));
    st.shift = max(0, bits - kSubBits);
    st.nsub = static_cast<int>(span >> st.shift) + 1;
}

// Keys of sub-bin j of [lo, hi].
__device__ __forceinline__ void sub_bin_keys(uint32_t lo, uint32_t hi, int shift, int j,
                                             uint32_t* sub_lo, uint32_t* sub_hi) {
    const int64_t h = static_cast<int64_t>(hi) - (static_cast<int64_t>(j) << shift);
    const int64_t l = h - ((int64_t{1} << shift) - 1);
    *sub_hi = static_cast<uint32_t>(h);
    *sub_lo = static_cast<uint32_t>(max(l, static_cast<int64_t>(lo)));
}

__device__ inline void zero_ints(int* a, int n) {
    for (int j = threadIdx.x; j < n; j += kThreads) a[j] = 0;
}

__device__ __forceinline__ uint64_t candidate(uint32_t ks, int i) {
    return (static_cast<uint64_t>(ks) << 32) | ~static_cast<uint32_t>(i);
}

// Sorts cand[0, n) descending (n <= kWork; padded to a power of two with zeros, which sort last).
__device__ inline void sort_desc(uint64_t* cand, int n) {
    int size = 2;
    while (size < n) size *= 2;
    for (int j = n + threadIdx.x; j < size; j += kThreads) cand[j] = 0;
    __syncthreads();
    for (int k = 2; k <= size; k *= 2) {
        for (int j = k / 2; j > 0; j /= 2) {
            for (int i = threadIdx.x; i < size; i += kThreads) {
                const int o = i ^ j;
                if (o <= i) continue;
                const uint64_t a = cand[i], b = cand[o];
                if ((i & k) == 0 ? a < b : a > b) cand[i] = b, cand[o] = a;
            }
            __syncthreads();
        }
    }
}

__device__ __forceinline__ double candidate_mass(uint64_t c, float top) {
    return mass(key_value(static_cast<uint32_t>(c >> 32)), top);
}

}  // namespace autoglm::cuda::sampling
