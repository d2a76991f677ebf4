/* qc_gemm_s8, AArch64 NEON: bit-identical to kernels/reference/qc_gemm_s8.c.
 *
 * Dot-product form (a and w are both K-contiguous), tiles of 4 rows x 4 columns with 16
 * accumulators of 4 int32 lanes, 16 values of K per step:
 * - with __ARM_FEATURE_DOTPROD (-march=armv8.2-a+dotprod): SDOT (vdotq_s32), 4 products per lane;
 * - otherwise: SMULL/SMULL2 (int8 x int8 -> exact int16) then SADALP (pairwise add into the
 *   int32 lanes). Summing two products in int16 first would overflow at (-128)(-128) * 2.
 * Both are exact in int32. The K tail (K % 16) reads the next 16 bytes when they lie inside
 * the operand (the next row) and zeroes the weights' extra bytes; the last rows take the
 * operand's last 16 bytes through a table lookup (operands under 16 bytes use the plain loop).
 * Sums are reduced with ADDP and requantized 4 at a time (SMULL, SRSHL, XTN: qc_requant's
 * arithmetic); a 4x4 tile is stored as 4 words in either layout (sm = 1 for conv, transposed
 * with TBL; sn = 1 for fully connected). Without NEON on AArch64 this file is the portable
 * reference loop. */
#include "qc_kernels.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

/* The reference loop: the whole kernel without NEON, tiny operands with it. */
static void qc_gemm_s8_plain(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
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

#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>

#if defined(__GNUC__)
#define QC_FORCE_INLINE static inline __attribute__((always_inline))
#define QC_UNROLL _Pragma("GCC unroll 16") /* tile loops must unroll to keep tiles in registers */
#else
#define QC_FORCE_INLINE static inline
#define QC_UNROLL
#endif

static const uint8_t qc_iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* The K tail at p: lanes below rem (`keep` set) hold p[lane]. Reads 16 bytes inside the
 * operand [end - size, end), size >= 16: at p, or the operand's last 16 bytes moved down. */
QC_FORCE_INLINE int8x16_t qc_ld16(const int8_t *p, const int8_t *end, uint8x16_t keep) {
    uint8x16_t idx;
    if (end - p >= 16) return vld1q_s8(p);
    idx = vaddq_u8(vld1q_u8(qc_iota), vdupq_n_u8((uint8_t)(16 - (end - p))));
    return vqtbl1q_s8(vld1q_s8(end - 16), vorrq_u8(idx, vmvnq_u8(keep))); /* 0xff lanes: 0 */
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

/* One MR x NR tile (MR, NR <= 4): lane j of r[i] = a[i] . w[j] over K. */
QC_FORCE_INLINE void qc_tile(const int8_t *a, const int8_t *w, int32_t K, const int8_t *a_end,
                             const int8_t *w_end, uint8x16_t tmask, int MR, int NR, int32x4_t *r) {
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
        QC_UNROLL
        for (i = 0; i < MR; ++i) va[i] = qc_ld16(a + (size_t)i * K + k, a_end, tmask);
        QC_UNROLL
        for (j = 0; j < NR; ++j) {
            int8x16_t vw = vandq_s8(qc_ld16(w + (size_t)j * K + k, w_end, tmask),
                                    vreinterpretq_s8_u8(tmask));
            QC_UNROLL
            for (i = 0; i < MR; ++i) acc[i][j] = qc_mac(acc[i][j], va[i], vw);
        }
    }
    QC_UNROLL
    for (i = 0; i < MR; ++i)
        r[i] = vpaddq_s32(vpaddq_s32(acc[i][0], acc[i][1]), vpaddq_s32(acc[i][2], acc[i][3]));
}

/* Lanes j < NR of p[n + j] (NR in 1, 4) */
QC_FORCE_INLINE int32x4_t qc_chan(const int32_t *p, int32_t n, int NR) {
    return NR == 4 ? vld1q_s32(p + n) : vdupq_n_s32(p[n]);
}

/* The tile's requantization (qc_requant exactly: SMULL then SRSHL by -shift is
 * (x * mult + 2^(shift-1)) >> shift in 64 bits, XTN keeps the low 32 bits) and stores. */
QC_FORCE_INLINE void qc_store(const int32x4_t *r, const int32_t *bias, int32_t m, int32_t n,
                              int MR, int NR, const qc_requant_t *rq, int8_t *out, int32_t sm,
                              int32_t sn) {
    int32_t s[16];
    int i, j;
    const int32x4_t b = bias ? qc_chan(bias, n, NR) : vdupq_n_s32(0);
    if (rq->act == QC_ACT_NONE) {
        const int32x4_t mult = rq->per_channel ? qc_chan(rq->mult, n, NR) : vdupq_n_s32(rq->mult[0]);
        const int32x4_t nsh =
            vnegq_s32(rq->per_channel ? qc_chan(rq->shift, n, NR) : vdupq_n_s32(rq->shift[0]));
        const int64x2_t nlo = vmovl_s32(vget_low_s32(nsh)), nhi = vmovl_high_s32(nsh);
        const int32x4_t zp = vdupq_n_s32(rq->out_zp);
        const int32x4_t qmin = vdupq_n_s32(rq->qmin), qmax = vdupq_n_s32(rq->qmax);
        int32x4_t y[4];
        for (i = 0; i < MR; ++i) {
            int32x4_t x = vaddq_s32(r[i], b);
            int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(x), vget_low_s32(mult)), nlo);
            int64x2_t hi = vrshlq_s64(vmull_high_s32(x, mult), nhi);
            x = vaddq_s32(vcombine_s32(vmovn_s64(lo), vmovn_s64(hi)), zp);
            y[i] = vminq_s32(vmaxq_s32(x, qmin), qmax);
        }
        if (MR == 4 && NR == 4 && (sm == 1 || sn == 1)) {
            /* 16 bytes, row-major; transposed for sm == 1; 4 at a time */
            static const uint8_t tr[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
            int8x16_t v = vcombine_s8(
                vmovn_s16(vcombine_s16(vmovn_s32(y[0]), vmovn_s32(y[1]))),
                vmovn_s16(vcombine_s16(vmovn_s32(y[2]), vmovn_s32(y[3]))));
            int32_t step = sm == 1 ? sn : sm;
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)n * sn;
            uint32_t t;
            if (sm == 1) v = vqtbl1q_s8(v, vld1q_u8(tr));
            t = vgetq_lane_u32(vreinterpretq_u32_s8(v), 0);
            memcpy(o, &t, 4);
            t = vgetq_lane_u32(vreinterpretq_u32_s8(v), 1);
            memcpy(o + step, &t, 4);
            t = vgetq_lane_u32(vreinterpretq_u32_s8(v), 2);
            memcpy(o + 2 * (ptrdiff_t)step, &t, 4);
            t = vgetq_lane_u32(vreinterpretq_u32_s8(v), 3);
            memcpy(o + 3 * (ptrdiff_t)step, &t, 4);
            return;
        }
        for (i = 0; i < MR; ++i) vst1q_s32(s + 4 * i, y[i]);
        for (j = 0; j < NR; ++j) {
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
            for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = (int8_t)s[i * 4 + j];
        }
    } else {
        for (i = 0; i < MR; ++i) vst1q_s32(s + 4 * i, vaddq_s32(r[i], b));
        for (j = 0; j < NR; ++j) {
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
            for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = qc_requant(s[i * 4 + j], n + j, rq);
        }
    }
}

#define QC_TILE(MR, NR)                                                                          \
    do {                                                                                         \
        qc_tile(a + (size_t)m * K, w + (size_t)n * K, K, a_end, w_end, tmask, MR, NR, r);      \
        qc_store(r, bias, m, n, MR, NR, rq, out, sm, sn);                                        \
    } while (0)

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    const int8_t *a_end = a + (size_t)M * K;
    const int8_t *w_end = w + (size_t)N * K;
    /* bytes below K % 16 kept in the tail step */
    const uint8x16_t tmask = vcltq_u8(vld1q_u8(qc_iota), vdupq_n_u8((uint8_t)(K & 15)));
    int32x4_t r[4];
    int32_t m = 0, n;
    if ((int64_t)M * K < 16 || (int64_t)N * K < 16) {
        qc_gemm_s8_plain(a, w, bias, M, N, K, rq, out, sm, sn);
        return;
    }
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
    qc_gemm_s8_plain(a, w, bias, M, N, K, rq, out, sm, sn);
}

#endif
