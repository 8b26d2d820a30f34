// Hopper (sm_90a) building blocks: mbarriers, the bulk tensor copy (TMA) into shared memory,
// wgmma shared-memory matrix descriptors for 128-byte-swizzled tiles, and the two wgmma shapes
// the sm_90 attention kernel issues. Only usable inside `#if AUTOGLM_SM90A` device code.
#pragma once

#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define AUTOGLM_SM90A 1
#else
#define AUTOGLM_SM90A 0
#endif

namespace autoglm::cuda::sm90 {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// --- mbarrier ------------------------------------------------------------------------------

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
// Makes the inits visible to the async proxy (TMA completes on these barriers).
__device__ __forceinline__ void mbar_fence_init() {
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Spins until the phase with this parity has completed.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    asm volatile(
        "{\n.reg .pred done;\n"
        "WAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT;\n}\n" ::"r"(bar),
        "r"(parity)
        : "memory");
}

// --- bulk tensor copy ----------------------------------------------------------------------

__device__ __forceinline__ void tma_prefetch_map(const void* map) {
    asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}
// Copies the box at (c0 innermost, c1) of a 2-D tensor map into shared memory at dst; the bytes
// count against bar's expected transaction count. Out-of-range elements arrive as zeros.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const void* map, int c0, int c1,
                                            uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
        " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
        : "memory");
}

// The same for a 3-D tensor map, box at (c0 innermost, c1, c2).
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const void* map, int c0, int c1, int c2,
                                            uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes"
        " [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
        : "memory");
}

// --- wgmma ---------------------------------------------------------------------------------

// Descriptor of a tile of 128-byte rows written by TMA with 128B swizzle (atoms of 8 rows x 128
// bytes, 1024-byte aligned). K-major operand: sbo = 1024 (next 8 rows), lbo unused. MN-major
// operand: lbo = bytes to the next 64-element column block, sbo = 1024 (next 8 rows along K).
__device__ __forceinline__ uint64_t sw128_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(lbo >> 4) << 16) |
           (static_cast<uint64_t>(sbo >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins accumulator registers in place across a wgmma wait: the compiler may not move their
// reads or writes over this point.
template <int N>
__device__ __forceinline__ void fence_regs(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#define AUTOGLM_D8(i)                                                                           \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
        "+f"(d[i + 6]), "+f"(d[i + 7])
#define AUTOGLM_D64                                                                               \
    AUTOGLM_D8(0), AUTOGLM_D8(8), AUTOGLM_D8(16), AUTOGLM_D8(24), AUTOGLM_D8(32), AUTOGLM_D8(40), \
        AUTOGLM_D8(48), AUTOGLM_D8(56)
#define AUTOGLM_D88 AUTOGLM_D64, AUTOGLM_D8(64), AUTOGLM_D8(72), AUTOGLM_D8(80)
#define AUTOGLM_D64_REGS                                                     \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, " \
    "%30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, " \
    "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, " \
    "%58, %59, %60, %61, %62, %63"
#define AUTOGLM_D88_REGS                                      \
    AUTOGLM_D64_REGS                                          \
    ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, "    \
    "%74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, " \
    "%85, %86, %87"

// d[64 x 128] (+)= A[64 x 16] * B[16 x 128], A and B K-major in shared memory. The accumulator
// is zeroed first when accumulate == 0.
__device__ __forceinline__ void wgmma_ss(float (&d)[64], uint64_t desc_a, uint64_t desc_b,
                                         int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" AUTOGLM_D64_REGS
        "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : AUTOGLM_D64
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

// The same with N = 176 (d[88]); overloads by accumulator size.
__device__ __forceinline__ void wgmma_ss(float (&d)[88], uint64_t desc_a, uint64_t desc_b,
                                         int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %90, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n176k16.f32.bf16.bf16 {" AUTOGLM_D88_REGS
        "}, %88, %89, p, 1, 1, 0, 0;\n}\n"
        : AUTOGLM_D88
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

// d[64 x 128] += A[64 x 16] * B[16 x 128], A in registers (the mma.sync A-fragment layout per
// warp), B MN-major in shared memory.
__device__ __forceinline__ void wgmma_m64n128k16_rs_mn(float (&d)[64], const uint32_t (&a)[4],
                                                       uint64_t desc_b) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" AUTOGLM_D64_REGS
        "}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
        : AUTOGLM_D64
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}

#undef AUTOGLM_D8
#undef AUTOGLM_D64
#undef AUTOGLM_D64_REGS
#undef AUTOGLM_D88
#undef AUTOGLM_D88_REGS

}  // namespace autoglm::cuda::sm90
