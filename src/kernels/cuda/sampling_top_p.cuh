// The top-p cut of the sampling kernel (sampling.cu): guaranteed mass bounds of bins locate
// the cut, exact masses resolve it among collected candidates, sub-bins or one tied value.
// Included by sampling.cu only.
#pragma once

#include "kernels/cuda/sampling_blocks.cuh"

namespace autoglm::cuda::sampling {

// The bins a top-p cut may lie in, from guaranteed bounds of each bin's mass (count * [lo, hi]):
// those neither surely fully kept (mass up to their end < budget) nor surely dropped (mass before
// them >= budget). bounds(j, &lo, &hi) gives a token's mass bounds in bin j, count(j) its kept
// tokens. Writes st.j_lo, st.j_hi (st.j_lo == n: everything stays), adds the counts before
// j_lo to st.n_above and sets st.n_range.
template <typename Count, typename Bounds>
__device__ inline void cut_window(int n, double above, double budget_lo, double budget_hi,
                                  Count count, Bounds bounds, RowState& st, Scratch& sc) {
    const int per = (n + kThreads - 1) / kThreads;
    const int b = threadIdx.x * per, e = min(n, b + per);
    double sum_lo = 0, sum_hi = 0;
    for (int j = b; j < e; ++j) {
        const int c = count(j);
        if (c == 0) continue;
        double lo, hi;
        bounds(j, &lo, &hi);
        sum_lo += c * lo, sum_hi += c * hi;
    }
    double total_lo, total_hi;
    double a_lo = above + block_exclusive(sum_lo, sc.d, &total_lo);
    double a_hi = above + block_exclusive(sum_hi, sc.d2, &total_hi);
    if (threadIdx.x == 0) st.j_lo = n, st.j_hi = -1;
    __syncthreads();
    int first = n, last = -1;
    for (int j = b; j < e; ++j) {
        const int c = count(j);
        double lo = 0, hi = 0;
        if (c > 0) bounds(j, &lo, &hi);
        const double next_hi = a_hi + c * hi;
        if (next_hi >= budget_lo && first == n) first = j;
        if (a_lo < budget_hi) last = j;
        a_lo += c * lo, a_hi = next_hi;
    }
    if (first < n) atomicMin(&st.j_lo, first);
    if (last >= 0) atomicMax(&st.j_hi, last);
    __syncthreads();
    const int j_lo = st.j_lo, j_hi = max(st.j_hi, st.j_lo);
    int before = 0, inside = 0;
    for (int j = b; j < e; ++j) {
        if (j < j_lo) before += count(j);
        if (j >= j_lo && j <= j_hi) inside += count(j);
    }
    before = block_add(before, sc.i);
    inside = block_add(inside, sc.i);
    if (threadIdx.x == 0) st.j_hi = j_hi, st.n_above += before, st.n_range = inside;
    __syncthreads();
}

// top-p over candidates sorted by rank after tokens of mass `above` (n_above of them): the
// number of candidates kept, each whose preceding mass is < budget (the first token always).
__device__ inline int keep_prefix(const uint64_t* cand, int n, double above, int n_above,
                                  double budget, RowState& st, Scratch& sc) {
    const float top = st.top;
    const int per = (n + kThreads - 1) / kThreads;
    const int b = threadIdx.x * per, e = min(n, b + per);
    double local = 0;
    for (int j = b; j < e; ++j) local += candidate_mass(cand[j], top);
    double total;
    double m = above + block_exclusive(local, sc.d, &total);
    if (threadIdx.x == 0) st.first_drop = n;
    __syncthreads();
    for (int j = b; j < e; ++j) {
        if (m >= budget && !(j == 0 && n_above == 0)) {
            atomicMin(&st.first_drop, j);
            break;
        }
        m += candidate_mass(cand[j], top);
    }
    __syncthreads();
    return st.first_drop;
}

// Collected candidates (key(s) << 32 | ~id) of the range: sorted by rank (value descending, then
// id ascending), top-p keeps a prefix. Sets st.cut and st.found (the number kept).
__device__ inline void resolve_candidates(uint64_t* cand, RowState& st, Scratch& sc) {
    const int n = min(st.ncand, kWork);
    sort_desc(cand, n);
    const int keep = keep_prefix(cand, n, st.above, st.n_above, st.budget, st, sc);
    if (threadIdx.x == 0) {
        st.found = keep;
        st.cut = keep == 0 ? static_cast<uint64_t>(st.shi + 1) << 32 : cand[keep - 1];
    }
    __syncthreads();
}

// The range is one scaled value held by more tokens than the work area: tokens of equal value
// have equal mass p, so the i-th of them (by id) stays iff above + i * p < budget.
__device__ inline void resolve_ties(const Row& r, RowState& st, Scratch& sc) {
    const uint32_t key = st.slo;
    const int n = st.n_range;
    if (threadIdx.x == 0) {
        const double p = mass(key_value(key), st.top);
        int64_t keep;
        if (st.n_above > 0 && st.above >= st.budget) {
            keep = 0;
        } else {
            const double q = (st.budget - st.above) / p;
            keep = q >= n ? n : max(int64_t{1}, static_cast<int64_t>(ceil(q)));
        }
        st.found = static_cast<int>(keep);
        st.cut = static_cast<uint64_t>(keep == 0 ? key + 1 : key) << 32;
    }
    __syncthreads();
    const int keep = st.found;
    if (keep == n || keep == 0) return;
    // The keep-th smallest id holding the value: 1024 ids a round.
    const float lo_f = key_value(st.xlo), hi_f = key_value(st.xhi + 1);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int seen = 0;
    for (int base = 0; base < r.n; base += kThreads) {
        const int i = base + threadIdx.x;
        const float x = i < r.n ? __ldg(r.x + i) : NAN;
        const bool hit = x >= lo_f && x < hi_f;
        const unsigned ball = __ballot_sync(kFull, hit);
        __syncthreads();
        if (lane == 0) sc.i[warp] = __popc(ball);
        __syncthreads();
        int before = 0, total = 0;
        for (int w = 0; w < kWarps; ++w) {
            before += w < warp ? sc.i[w] : 0;
            total += sc.i[w];
        }
        if (seen + total >= keep) {
            const int rank = seen + before + __popc(ball & ((1u << lane) - 1)) + 1;
            if (hit && rank == keep) st.cut = candidate(key, i);
            break;
        }
        seen += total;
    }
    __syncthreads();
}

// One pass of the kept tokens in the raw range [lo, hi]: scaled, those above the scaled range
// [st.slo, st.shi] add their exact mass to st.above, those inside are collected (collect) or
// counted per sub-bin of it. With `everything`, every kept token is weighed: st.above and
// st.n_above cover all above, and the total mass sets st.budget.
__device__ inline void range_pass(const Row& r, uint32_t lo, uint32_t hi, bool collect,
                                  bool everything, float top_p, uint64_t* cand, int* sub,
                                  RowState& st, Scratch& sc) {
    const uint32_t slo = st.slo, shi = st.shi;
    const int shift = st.shift;
    const float top = st.top, t = st.t;
    const float lo_f = key_value(lo), hi_f = key_value(hi + 1);
    double above = 0, rest = 0;
    int n_above = 0;
    for_each(r, [&](int i, float x) {
        if (!(x >= lo_f && x < hi_f)) return;
        const float s = scaled(x, t);
        const uint32_t ks = value_key(s);
        if (ks > shi) {
            above += mass(s, top), ++n_above;
            return;
        }
        if (everything) rest += mass(s, top);
        if (ks < slo) return;
        if (collect) {
            const int slot = atomicAdd(&st.ncand, 1);
            if (slot < kWork) cand[slot] = candidate(ks, i);
        } else {
            atomicAdd(&sub[(shi - ks) >> shift], 1);
        }
    });
    above = block_add(above, sc.d);
    if (everything) {
        rest = block_add(rest, sc.d);
        n_above = block_add(n_above, sc.i);
    }
    if (threadIdx.x == 0) {
        if (everything) {
            st.above = above, st.n_above = n_above;
            st.budget = static_cast<double>(top_p) * (above + rest);
        } else {
            st.above += above;
        }
    }
    __syncthreads();
}

// Starts a level on the scaled range [st.slo, st.shi] (its raw range already set): collect
// when its tokens fit the work area, else sub-bins over it.
__device__ inline bool start_level(int* sub, RowState& st) {
    const bool collect = st.n_range <= kWork;
    if (threadIdx.x == 0) {
        st.ncand = 0;
        set_sub_bins(st.slo, st.shi, st);
    }
    __syncthreads();
    if (!collect) zero_ints(sub, st.nsub);
    __syncthreads();
    return collect;
}

// top-p after top-k: st.cut such that the kept tokens are those with (key(s) << 32 | ~id) >=
// cut. hist holds the kept counts per first-level bin, overflow those of bin kBins. Returns
// true when the kept tokens are exactly cand[0, st.found).
__device__ inline bool top_p_cut(const Row& r, float top_p, const int* hist, int overflow,
                                 uint64_t* cand, int* sub, RowState& st, Scratch& sc) {
    // Level 0: bounds from the first-level bins (and an unknown total). A raw value in bin b
    // has round(t) == b with t = fl(fl(xmax - x) * fl(256 / temperature)), so d = top - s is
    // within (b +- 0.5) / 256 up to relative rounding `rel` and the absolute error `err` of
    // rounding x / t and xmax / t; expf is within 2 ulp.
    {
        const double rel = 0x1p-21, err = 0x1p-22 * (fabs(static_cast<double>(st.top)) + 1.0);
        const auto count = [&](int b) { return b < kBins ? hist[b] : overflow; };
        const auto bounds = [&](int b, double* lo, double* hi) {
            const double d_lo = (b - 0.5) / kBinsPerUnit * (1 - rel) - err;
            const double d_hi = (b + 0.5) / kBinsPerUnit * (1 + rel) + err;
            *lo = b < kBins ? expf(static_cast<float>(-d_hi)) * (1 - 1e-6) : 0.0;
            *hi = expf(static_cast<float>(-fmax(d_lo, 0.0))) * (1 + 1e-6);
        };
        double t_lo = 0, t_hi = 0;
        for (int b = threadIdx.x; b <= kBins; b += kThreads) {
            const int c = count(b);
            if (c == 0) continue;
            double lo, hi;
            bounds(b, &lo, &hi);
            t_lo += c * lo, t_hi += c * hi;
        }
        t_lo = block_add(t_lo, sc.d);
        t_hi = block_add(t_hi, sc.d);
        if (threadIdx.x == 0) st.n_above = 0;
        __syncthreads();
        cut_window(kBins + 1, 0.0, top_p * t_lo, top_p * t_hi, count, bounds, st, sc);
        if (threadIdx.x == 0 && st.n_above + st.n_range <= kWork) {
            st.n_range += st.n_above;  // the tokens above fit too: all candidates, no draw pass
            st.n_above = 0, st.j_lo = 0;
        }
        __syncthreads();
        bin_key_range(st.j_lo, st.j_hi, st);
        // Widen to whole scaled values: raw values outside that scale like the ends join.
        if (threadIdx.x == 0) {
            st.slo = value_key(scaled(key_value(st.xlo), st.t));
            st.shi = value_key(scaled(key_value(st.xhi), st.t));
        }
        __syncthreads();
        raw_range_of_scaled(st);
    }
    // Level 1: one pass over every kept token for the exact total, then the window's tokens.
    // The window's count is the first-level bins' plus any that joined by widening.
    bool collect = start_level(sub, st);
    range_pass(r, st.kx_min, st.kx_max, collect, true, top_p, cand, sub, st, sc);
    if (collect && st.ncand > kWork) {  // widening brought too many: count sub-bins instead
        if (threadIdx.x == 0) st.n_range = st.ncand;
        __syncthreads();
        collect = start_level(sub, st);
        const double above = st.above;
        range_pass(r, st.xlo, st.xhi, false, false, top_p, cand, sub, st, sc);
        if (threadIdx.x == 0) st.above = above;
        __syncthreads();
    }
    // Further levels: exact budget and mass above; sub-bin bounds narrow the range.
    for (int level = 1;; ++level) {
        if (collect) {
            resolve_candidates(cand, st, sc);
            return st.n_above == 0;
        }
        if (st.slo == st.shi) {
            resolve_ties(r, st, sc);
            return false;
        }
        const float top = st.top;
        const uint32_t slo = st.slo, shi = st.shi, xlo = st.xlo, xhi = st.xhi;
        const int shift = st.shift;
        const auto count = [&](int j) { return sub[j]; };
        const auto bounds = [&](int j, double* lo, double* hi) {
            uint32_t kl, kh;
            sub_bin_keys(slo, shi, shift, j, &kl, &kh);
            *lo = mass(key_value(kl), top) * (1 - kSubSlack);
            *hi = mass(key_value(kh), top) * (1 + kSubSlack);
        };
        cut_window(st.nsub, st.above, st.budget, st.budget, count, bounds, st, sc);
        if (threadIdx.x == 0) {
            uint32_t kl, kh, unused;
            if (st.j_lo >= st.nsub) {  // the whole range stays (bounds say the cut is below it)
                st.cut = static_cast<uint64_t>(slo) << 32;
                st.found = 1;
            } else if (level >= kMaxLevels) {
                // NOTE: never seen; a last resort that keeps the window's upper sub-bin whole.
                sub_bin_keys(slo, shi, shift, st.j_lo, &kl, &kh);
                st.cut = static_cast<uint64_t>(kl) << 32;
                st.found = 1;
            } else {
                sub_bin_keys(slo, shi, shift, st.j_hi, &kl, &unused);
                sub_bin_keys(slo, shi, shift, st.j_lo, &unused, &kh);
                st.slo = kl, st.shi = kh;
                st.found = 0;
            }
        }
        __syncthreads();
        if (st.found) return false;
        raw_range_of_scaled(st);
        collect = start_level(sub, st);
        range_pass(r, xlo, xhi, collect, false, top_p, cand, sub, st, sc);
    }
}

}  // namespace autoglm::cuda::sampling
