// GPU sampling, one block per logits row: temperature, min-p, top-k, top-p and the inverse-CDF
// draw in token-id order, with the CPU Sampler's rules (engine/sampler.h). Thresholds come from
// exact selection over the values' bit patterns (counting histograms refined down to one key);
// only the few thousand candidates at a top-p cut are ever sorted.
//
// Two value spaces: x, the raw logit, and s = fl(x / t), the scaled one the CPU ranks and weighs.
// Division is monotone, so every set {s >= v} is a set {x >= w}: passes classify the raw values
// by comparison and divide only the elements whose mass or rank they need. The building blocks
// are in sampling_blocks.cuh, the top-p cut in sampling_top_p.cuh.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/sampling_blocks.cuh"
#include "kernels/cuda/sampling_top_p.cuh"
#include "kernels/cuda/smem_opt_in.h"

namespace autoglm::cuda {
namespace sampling {

// The largest raw logit (fmaxf skips NaN); scaled, it is the largest scaled one.
__device__ void row_max(const Row& r, float t, RowState& st, Scratch& sc) {
    float m = -INFINITY;
    for_each(r, [&](int, float x) { m = fmaxf(m, x); });
    for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(kFull, m, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sc.f[threadIdx.x >> 5] = m;
    __syncthreads();
    m = sc.f[threadIdx.x & 31];
    for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(kFull, m, o));
    if (threadIdx.x == 0) {
        st.t = t;
        st.xmax = m;
        st.top = m == -INFINITY ? m : scaled(m, t);
        st.bin_scale = kBinsPerUnit / t;
        st.kx_max = value_key(m);
        st.kx_min = kMinFiniteKey;
    }
    __syncthreads();
}

// argmax_first of the raw logits: the first index of the maximum.
__device__ int row_argmax(const Row& r, Scratch& sc) {
    float best = -INFINITY;
    int arg = 0x7fffffff;
    for (int i = threadIdx.x; i < r.n; i += kThreads) {
        const float v = __ldg(r.x + i);
        if (v > best || arg == 0x7fffffff) best = v, arg = i;
    }
    const auto better = [](float& bv, int& bi, float v, int i) {
        if (v > bv || (v == bv && i < bi)) bv = v, bi = i;
    };
    for (int o = 16; o > 0; o /= 2)
        better(best, arg, __shfl_xor_sync(kFull, best, o), __shfl_xor_sync(kFull, arg, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sc.f[threadIdx.x >> 5] = best, sc.i[threadIdx.x >> 5] = arg;
    __syncthreads();
    best = sc.f[threadIdx.x & 31];
    arg = sc.i[threadIdx.x & 31];
    for (int o = 16; o > 0; o /= 2)
        better(best, arg, __shfl_xor_sync(kFull, best, o), __shfl_xor_sync(kFull, arg, o));
    return arg == 0x7fffffff ? 0 : arg;
}

// min-p: drop exp(s - top) < min_p, i.e. keep the raw keys from the first one whose value passes.
__device__ void min_p_threshold(float min_p, RowState& st) {
    if (threadIdx.x < 32) {
        const double top = st.top, p = min_p;
        const float t = st.t;
        const uint32_t k = warp_first_true(st.kx_min, st.kx_max, [=](uint32_t key) {
            return exp(static_cast<double>(scaled(key_value(key), t)) - top) >= p;
        });
        if (threadIdx.x == 0) st.kx_min = k;
    }
    __syncthreads();
}

// First-level histogram of the kept values; st.n_valid counts them, *overflow those of bin kBins.
__device__ void histogram(const Row& r, int* hist, int* overflow, RowState& st, Scratch& sc) {
    zero_ints(hist, kBins);
    __syncthreads();
    const float xmin = key_value(st.kx_min);
    int valid = 0, binned = 0;
    for_each(r, [&](int, float x) {
        if (!(x >= xmin)) return;
        ++valid;
        const int b = xbin(x, st);
        if (b < kBins) atomicAdd(&hist[b], 1), ++binned;
    });
    valid = block_add(valid, sc.i);
    binned = block_add(binned, sc.i);
    if (threadIdx.x == 0) st.n_valid = valid, *overflow = valid - binned;
    __syncthreads();
}

// top-k: the k-th largest raw value (its scaled value is the k-th largest scaled one), found by
// counting sub-bins of the first-level bin bk holding it (before_bk tokens in the bins before)
// until one key is left; then kx_min moves to the first raw value scaling to the same value
// (ties at the k-th all stay). Returns whether hist and *overflow now count exactly the kept
// tokens (false: raw values below the k-th may scale to it, a new histogram must count them).
__device__ bool top_k_threshold(const Row& r, int k, int bk, int before_bk, int* hist, int* sub,
                                int* overflow, RowState& st, Scratch& sc) {
    bin_key_range(bk, bk, st);
    if (threadIdx.x == 0) {
        st.n_above = before_bk;
        st.n_range = bk < kBins ? hist[bk] : *overflow;
    }
    __syncthreads();
    while (st.xlo < st.xhi) {
        const uint32_t lo = st.xlo, hi = st.xhi;
        if (threadIdx.x == 0) set_sub_bins(lo, hi, st);
        __syncthreads();
        const int shift = st.shift;
        const float lo_f = key_value(lo), hi_f = key_value(hi + 1);
        zero_ints(sub, st.nsub);
        __syncthreads();
        for_each(r, [&](int, float x) {
            if (x >= lo_f && x < hi_f) atomicAdd(&sub[(hi - value_key(x)) >> shift], 1);
        });
        __syncthreads();
        find_crossing([&](int j) { return sub[j]; }, st.nsub, k - st.n_above, st, sc);
        if (threadIdx.x == 0) {
            const int j = min(st.found, st.nsub - 1);  // always found: the k-th is in range
            st.n_above += st.found_before;
            st.n_range = sub[j];
            uint32_t sub_lo, sub_hi;
            sub_bin_keys(lo, hi, shift, j, &sub_lo, &sub_hi);
            st.xlo = sub_lo, st.xhi = sub_hi;
        }
        __syncthreads();
    }
    const uint32_t kth = st.xlo;
    if (threadIdx.x < 32) {
        const uint32_t ks = value_key(scaled(key_value(kth), st.t));
        const uint32_t first = raw_at_least(st.kx_min, ks, st);
        if (threadIdx.x == 0) st.kx_min = first;
    }
    __syncthreads();
    if (st.kx_min < kth) return false;  // raw values below the k-th scale to its value
    const int kept = st.n_above + st.n_range;
    for (int b = threadIdx.x; b < kBins; b += kThreads) {
        if (b == bk) hist[b] = kept - before_bk;
        if (b > bk) hist[b] = 0;
    }
    if (threadIdx.x == 0) *overflow = bk == kBins ? kept - before_bk : 0;
    __syncthreads();
    return true;
}

// The draw when every kept token is in cand[0, n) (key(s) << 32 | ~id, any order): re-keyed
// and sorted by id, exact masses, a scan, the first id whose running mass exceeds u * total.
__device__ int draw_candidates(uint64_t* cand, int n, double u, RowState& st, Scratch& sc) {
    for (int j = threadIdx.x; j < n; j += kThreads) {
        const uint64_t c = cand[j];  // -> (~id << 32) | key(s): descending is ascending id
        cand[j] = (c << 32) | (c >> 32);
    }
    __syncthreads();
    sort_desc(cand, n);
    const float top = st.top;
    const auto m_of = [&](int j) { return mass(key_value(static_cast<uint32_t>(cand[j])), top); };
    const auto id_of = [&](int j) {
        return static_cast<int>(~static_cast<uint32_t>(cand[j] >> 32));
    };
    const int per = (n + kThreads - 1) / kThreads;
    const int b = threadIdx.x * per, e = min(n, b + per);
    double local = 0;
    for (int j = b; j < e; ++j) local += m_of(j);
    double total;
    double m = block_exclusive(local, sc.d, &total);
    const double target = u * total;
    if (threadIdx.x == 0) st.id = id_of(n - 1);  // rounding left target at the very end
    __syncthreads();
    for (int j = b; j < e; ++j) {
        const double next = m + m_of(j);
        if (m <= target && next > target) {
            st.id = id_of(j);
            break;
        }
        m = next;
    }
    __syncthreads();
    return st.id;
}

// top-k (then top-p) when bins [0, max_bin] hold at most kWork tokens and every token top-k
// keeps (ties of the k-th scaled value included): all of them sorted by rank in shared memory.
// Returns how many of cand[0, ...) are kept.
__device__ int small_top_k(const Row& r, int k, float top_p, int max_bin, uint64_t* cand,
                           RowState& st, Scratch& sc) {
    if (threadIdx.x == 0) st.ncand = 0;
    __syncthreads();
    const float xmin = key_value(st.kx_min), t = st.t;
    for_each(r, [&](int i, float x) {
        if (!(x >= xmin) || xbin(x, st) > max_bin) return;
        const int slot = atomicAdd(&st.ncand, 1);
        if (slot < kWork) cand[slot] = candidate(value_key(scaled(x, t)), i);
    });
    __syncthreads();
    const int n = min(st.ncand, kWork);
    sort_desc(cand, n);
    const auto kth = static_cast<uint32_t>(cand[k - 1] >> 32);
    if (threadIdx.x == 0) st.found = n;
    __syncthreads();
    for (int j = threadIdx.x; j < n; j += kThreads) {  // the first below the k-th value
        if (static_cast<uint32_t>(cand[j] >> 32) < kth &&
            (j == 0 || static_cast<uint32_t>(cand[j - 1] >> 32) >= kth))
            st.found = j;
    }
    __syncthreads();
    const int n_k = st.found;
    if (top_p >= 1.0f || n_k == 1) return n_k;
    const float top = st.top;
    double local = 0;
    for (int j = threadIdx.x; j < n_k; j += kThreads) local += candidate_mass(cand[j], top);
    const double total = block_add(local, sc.d);
    return keep_prefix(cand, n_k, 0.0, 0, static_cast<double>(top_p) * total, st, sc);
}

// The inverse-CDF draw in id order over the kept tokens (raw value >= val(keep_all), or >=
// val(keep_low_ids) with ~id >= cut_lo): segment sums, a scan, then the one segment that holds
// u * total walked by one warp.
__device__ int draw(const Row& r, double u, uint32_t keep_all, uint32_t keep_low_ids,
                    uint32_t cut_lo, double* seg, RowState& st, Scratch& sc) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const float all_f = key_value(keep_all), low_f = key_value(keep_low_ids);
    const float top = st.top, t = st.t;
    const auto kept = [&](int i, float x) {
        return x >= all_f || (x >= low_f && ~static_cast<uint32_t>(i) >= cut_lo);
    };
    const int nseg = (r.n + kSegment - 1) / kSegment;
    int last = -1;
    for (int g = warp; g < nseg; g += kWarps) {
        double acc = 0;
#pragma unroll
        for (int k = 0; k < kSegment / 32; ++k) {
            const int i = g * kSegment + k * 32 + lane;
            if (i >= r.n) break;
            const float x = __ldg(r.x + i);
            if (kept(i, x)) acc += mass(scaled(x, t), top), last = i;
        }
        acc = warp_add(acc);
        if (lane == 0) seg[g] = acc;
    }
    for (int o = 16; o > 0; o /= 2) last = ::max(last, __shfl_xor_sync(kFull, last, o));
    __syncthreads();
    if (lane == 0) sc.i[warp] = last;
    __syncthreads();
    last = sc.i[lane];
    for (int o = 16; o > 0; o /= 2) last = ::max(last, __shfl_xor_sync(kFull, last, o));
    const int per = (nseg + kThreads - 1) / kThreads;
    const int b = threadIdx.x * per, e = min(nseg, b + per);
    double local = 0;
    for (int g = b; g < e; ++g) local += seg[g];
    double total;
    double m = block_exclusive(local, sc.d, &total);
    const double target = u * total;
    if (threadIdx.x == 0) st.seg = nseg, st.id = last;
    __syncthreads();
    for (int g = b; g < e; ++g) {
        if (m <= target && m + seg[g] > target) {
            st.seg = g, st.seg_prefix = m;
            break;
        }
        m += seg[g];
    }
    __syncthreads();
    if (warp == 0 && st.seg < nseg) {
        const int g = st.seg;
        double run = st.seg_prefix;
        int found = -1, last_kept = -1;
        for (int k = 0; k < kSegment / 32 && found < 0; ++k) {
            const int i = g * kSegment + k * 32 + lane;
            const float x = __ldg(r.x + min(i, r.n - 1));
            const bool in = i < r.n && kept(i, x);
            double incl = in ? mass(scaled(x, t), top) : 0.0;
            for (int o = 1; o < 32; o *= 2) {
                const double v = __shfl_up_sync(kFull, incl, o);
                if (lane >= o) incl += v;
            }
            const unsigned hit = __ballot_sync(kFull, in && run + incl > target);
            const unsigned any = __ballot_sync(kFull, in);
            if (hit) found = g * kSegment + k * 32 + __ffs(static_cast<int>(hit)) - 1;
            if (any) last_kept = g * kSegment + k * 32 + 31 - __clz(static_cast<int>(any));
            run += __shfl_sync(kFull, incl, 31);
        }
        // NOTE: rounding (segment sums vs the walk) can leave target past the segment's end.
        if (lane == 0 && (found >= 0 || last_kept >= 0)) st.id = found >= 0 ? found : last_kept;
    }
    __syncthreads();
    return st.id;
}

__global__ void __launch_bounds__(kThreads, 1)
    sample_rows_kernel(const float* __restrict__ logits, int64_t vocab,
                       const SampleRowParams* __restrict__ params, int32_t* __restrict__ ids) {
    extern __shared__ __align__(16) unsigned char smem[];
    int* hist = reinterpret_cast<int*>(smem);
    void* work = smem + kBins * sizeof(int);
    int* sub = static_cast<int*>(work);
    __shared__ RowState st;
    __shared__ Scratch sc;
    __shared__ int overflow;  // kept tokens of the overflow bin
    const SampleRowParams p = params[blockIdx.x];
    const float* x = logits + blockIdx.x * vocab;
    const Row r{x, static_cast<int>(vocab), (reinterpret_cast<uintptr_t>(x) & 15) == 0};
    if (p.temperature == 0.0f) {
        const int id = row_argmax(r, sc);
        if (threadIdx.x == 0) ids[blockIdx.x] = id;
        return;
    }
    row_max(r, p.temperature, st, sc);
    if (st.xmax == -INFINITY) {  // nothing to draw from (the CPU Sampler refuses such a row)
        if (threadIdx.x == 0) ids[blockIdx.x] = 0;
        return;
    }
    if (p.min_p > 0.0f) min_p_threshold(p.min_p, st);
    const bool top_k = p.top_k > 0 && p.top_k < vocab;
    const bool top_p = p.top_p < 1.0f;
    auto* cand = static_cast<uint64_t*>(work);
    uint32_t keep_all = st.kx_min, keep_low_ids = st.kx_min, cut_lo = 0;
    if (top_k || top_p) {
        histogram(r, hist, &overflow, st, sc);
        const auto count = [&](int b) { return b < kBins ? hist[b] : overflow; };
        bool hist_kept = true;  // hist (and overflow) count exactly the kept tokens
        if (top_k && st.n_valid > p.top_k) {
            find_crossing(count, kBins + 1, p.top_k, st, sc);
            const int bk = st.found, before_bk = st.found_before;
            // Ties of the k-th scaled value lie within a bin of it while |top| < 2^14.
            const int max_bin = min(bk + 1, kBins);
            const int num_small = before_bk + count(bk) + (max_bin > bk ? count(max_bin) : 0);
            if (num_small <= kWork && fabsf(st.top) < 16384.0f) {
                const int n = small_top_k(r, p.top_k, p.top_p, max_bin, cand, st, sc);
                const int id = draw_candidates(cand, n, p.u, st, sc);
                if (threadIdx.x == 0) ids[blockIdx.x] = id;
                return;
            }
            hist_kept = top_k_threshold(r, p.top_k, bk, before_bk, hist, sub, &overflow, st, sc);
        }
        keep_all = keep_low_ids = st.kx_min;
        if (top_p) {
            if (!hist_kept) histogram(r, hist, &overflow, st, sc);
            int n_kept = 0;
            for (int b = threadIdx.x; b < kBins; b += kThreads) n_kept += hist[b];
            n_kept = block_add(n_kept, sc.i) + overflow;
            if (n_kept > 1) {
                if (top_p_cut(r, p.top_p, hist, overflow, cand, sub, st, sc)) {
                    const int id = draw_candidates(cand, st.found, p.u, st, sc);
                    if (threadIdx.x == 0) ids[blockIdx.x] = id;
                    return;
                }
                const auto cut_hi = static_cast<uint32_t>(st.cut >> 32);
                if (threadIdx.x < 32) {
                    const uint32_t low = raw_at_least(st.kx_min, cut_hi, st);
                    const uint32_t all = raw_at_least(low, cut_hi + 1, st);
                    if (threadIdx.x == 0) st.xlo = low, st.xhi = all;
                }
                __syncthreads();
                keep_low_ids = st.xlo;
                keep_all = st.xhi;
                cut_lo = static_cast<uint32_t>(st.cut);
                if (cut_lo == 0) keep_all = keep_low_ids;
            }
        }
    }
    const int id = draw(r, p.u, keep_all, keep_low_ids, cut_lo, static_cast<double*>(work), st, sc);
    if (threadIdx.x == 0) ids[blockIdx.x] = id;
}

__global__ void apply_logit_edits_kernel(float* logits, int64_t vocab, const LogitEdit* edits,
                                         int64_t n) {
    const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const LogitEdit e = edits[i];
    float* p = logits + e.row * vocab + e.token;
    float x = *p;
    // The _rn intrinsics are never fused into an FMA: the host reference's exact bits.
    if (e.ops & 1u) x = __fadd_rn(x, e.bias);
    if (e.ops & 2u) x = x > 0.0f ? __fdiv_rn(x, e.repetition) : __fmul_rn(x, e.repetition);
    if (e.ops & 4u) x = __fsub_rn(x, e.frequency);
    if (e.ops & 8u) x = __fsub_rn(x, e.presence);
    if (e.ops & 16u) x = -INFINITY;
    *p = x;
}

}  // namespace sampling

void apply_logit_edits(float* logits, int64_t vocab, const LogitEdit* edits, int64_t n,
                       cudaStream_t stream) {
    if (n == 0) return;
    constexpr int kThreads = 256;
    sampling::apply_logit_edits_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads),
                                         kThreads, 0, stream>>>(logits, vocab, edits, n);
    AUTOGLM_LAUNCH_CHECK();
}

void sample_rows(const float* logits, int64_t rows, int64_t vocab, const SampleRowParams* params,
                 int32_t* ids, cudaStream_t stream) {
    if (rows == 0) return;
    CHECK(vocab > 0 && vocab <= int64_t{sampling::kWork} * sampling::kSegment)
        << "sample_rows handles vocabularies up to " << sampling::kWork * sampling::kSegment
        << ", not " << vocab;
    static SmemOptIn opt_in;
    CUDA_CHECK(opt_in.ensure(sampling::sample_rows_kernel, static_cast<int>(sampling::kSmemBytes)));
    sampling::sample_rows_kernel<<<static_cast<unsigned>(rows), sampling::kThreads,
                                   sampling::kSmemBytes, stream>>>(logits, vocab, params, ids);
    AUTOGLM_LAUNCH_CHECK();
}

}  // namespace autoglm::cuda
