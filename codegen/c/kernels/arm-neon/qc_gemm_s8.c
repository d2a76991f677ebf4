/* qc_gemm_s8, AArch64 NEON: bit-identical to kernels/reference/qc_gemm_s8.c.
 *
 * Dot-product form (a and w are both K-contiguous), tiles of 4 rows x 4 columns with 16
 * accumulators of 4 int32 lanes, 16 values of K per step:
 * - with __ARM_FEATURE_DOTPROD (-march=armv8.2-a+dotprod): SDOT (vdotq_s32), 4 products per lane;
 * - otherwise: SMULL/SMULL2 (int8 x int8 -> exact int16) then SADALP (pairwise add into the
 *   int32 lanes). Summing two products in int16 first would overflow at (-128)(-128) * 2.
 * Both are exact in int32. The K tail (K % 16) reads the next 16 bytes when they lie inside
 * the operand (the next row) and zeroes the weights' extra bytes; only the last rows copy into
 * a zeroed buffer. Sums are reduced with ADDP and requantized with qc_requant, so both output
 * layouts (sm = 1 for conv, sn = 1 for fully connected) cost the same.
 * Without NEON on AArch64 this file is the portable reference loop. */
#include "qc_kernels.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>

#if defined(__GNUC__)
#define QC_FORCE_INLINE static inline __attribute__((always_inline))
#define QC_UNROLL _Pragma("GCC unroll 16") /* tile loops must unroll to keep tiles in registers */
#else
#define QC_FORCE_INLINE static inline
#define QC_UNROLL
#endif

/* 16 int8 at p; reads past p + rem only inside [p, end). */
QC_FORCE_INLINE int8x16_t qc_ld16(const int8_t *p, const int8_t *end, int32_t rem) {
    if (end - p >= 16) return vld1q_s8(p);
    {
        int8_t buf[16] = {0};
        memcpy(buf, p, (size_t)rem);
        return vld1q_s8(buf);
    }
}

/* acc += products of x and y, 4 int32 lanes, exact */
QC_FORCE_INLINE int32x4_t qc_mac(int32x4_t acc, int8x16_t x, int8x16_t y) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, x, y);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    return vpadalq_s16(acc, vmull_high_s8(x, y));
#endif
}

/* One MR x NR tile (MR, NR <= 4): s[i * 4 + j] = a[i] . w[j] over K. */
QC_FORCE_INLINE void qc_tile(const int8_t *a, const int8_t *w, int32_t K, const int8_t *a_end,
                             const int8_t *w_end, int8x16_t tmask, int MR, int NR, int32_t *s) {
    int32x4_t acc[4][4];
    int8x16_t va[4];
    int i, j;
    int32_t k = 0;
    QC_UNROLL
    for (i = 0; i < 4; ++i)
        QC_UNROLL
        for (j = 0; j < 4; ++j) acc[i][j] = vdupq_n_s32(0);
    for (; k + 16 <= K; k += 16) {
        QC_UNROLL
        for (i = 0; i < MR; ++i) va[i] = vld1q_s8(a + (size_t)i * K + k);
        QC_UNROLL
        for (j = 0; j < NR; ++j) {
            int8x16_t vw = vld1q_s8(w + (size_t)j * K + k);
            QC_UNROLL
            for (i = 0; i < MR; ++i) acc[i][j] = qc_mac(acc[i][j], va[i], vw);
        }
    }
    if (k < K) {
        int32_t rem = K - k;
        QC_UNROLL
        for (i = 0; i < MR; ++i) va[i] = qc_ld16(a + (size_t)i * K + k, a_end, rem);
        QC_UNROLL
        for (j = 0; j < NR; ++j) {
            int8x16_t vw = vandq_s8(qc_ld16(w + (size_t)j * K + k, w_end, rem), tmask);
            QC_UNROLL
            for (i = 0; i < MR; ++i) acc[i][j] = qc_mac(acc[i][j], va[i], vw);
        }
    }
    QC_UNROLL
    for (i = 0; i < MR; ++i)
        vst1q_s32(s + 4 * i, vpaddq_s32(vpaddq_s32(acc[i][0], acc[i][1]),
                                        vpaddq_s32(acc[i][2], acc[i][3])));
}

QC_FORCE_INLINE void qc_store(const int32_t *s, const int32_t *bias, int32_t m, int32_t n, int MR,
                              int NR, const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn) {
    int i, j;
    for (j = 0; j < NR; ++j) {
        int32_t b = bias ? bias[n + j] : 0;
        int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
        for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = qc_requant(s[i * 4 + j] + b, n + j, rq);
    }
}

#define QC_TILE(MR, NR)                                                                          \
    do {                                                                                         \
        qc_tile(a + (size_t)m * K, w + (size_t)n * K, K, a_end, w_end, tmask, MR, NR, s);      \
        qc_store(s, bias, m, n, MR, NR, rq, out, sm, sn);                                        \
    } while (0)

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    static const int8_t iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const int8_t *a_end = a + (size_t)M * K;
    const int8_t *w_end = w + (size_t)N * K;
    /* bytes below K % 16 kept in the tail step */
    const int8x16_t tmask =
        vreinterpretq_s8_u8(vcltq_s8(vld1q_s8(iota), vdupq_n_s8((int8_t)(K & 15))));
    int32_t s[16];
    int32_t m = 0, n;
    for (; m + 4 <= M; m += 4) {
        for (n = 0; n + 4 <= N; n += 4) QC_TILE(4, 4);
        for (; n < N; ++n) QC_TILE(4, 1);
    }
    for (; m < M; ++m) {
        for (n = 0; n + 4 <= N; n += 4) QC_TILE(1, 4);
        for (; n < N; ++n) QC_TILE(1, 1);
    }
}

#else /* portable */

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    int32_t m, n, k;
    for (m = 0; m < M; ++m) {
        const int8_t *ar = a + (size_t)m * K;
        for (n = 0; n < N; ++n) {
            const int8_t *wr = w + (size_t)n * K;
            int32_t acc = bias ? bias[n] : 0;
            for (k = 0; k < K; ++k) acc += (int32_t)ar[k] * (int32_t)wr[k];
            out[(ptrdiff_t)m * sm + (ptrdiff_t)n * sn] = qc_requant(acc, n, rq);
        }
    }
}

#endif
