/* qc_gemm_s8, Cortex-M with the DSP extension (Armv7E-M: M4, M7, M33/M55 with DSP):
 * bit-identical to kernels/reference/qc_gemm_s8.c.
 *
 * Tiles of 2 rows x 2 columns, 4 values of K per 32-bit load: SXTB16 splits a word of 4 int8
 * into int16 pairs (bytes 0,2 and, rotated by 8, bytes 1,3); a and w split the same way, so
 * SMLAD (two 16x16 products added to an int32) pairs them up without re-ordering. Per 4
 * values of K: 4 loads, 8 SXTB16, 8 SMLAD for 16 MACs (1.25 instructions per MAC plus the
 * loop). The K % 4 tail is scalar. The requantization, when every channel's shift is in
 * [33, 54] and there is no float activation, is SMMLA (rounding and zero point folded into its
 * addend), ASR, SSAT per output with the per-channel constants in a stack table; otherwise
 * qc_requant's arithmetic out of line. Without
 * __ARM_FEATURE_DSP (Cortex-M0/M3, a host) this file is the portable reference loop. */
#include "qc_kernels.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#include <arm_acle.h>

#define QC_FORCE_INLINE static inline __attribute__((always_inline))

/* 4 int8 as one word (unaligned loads are fine on Armv7E-M; LDR, never LDRD/LDM). */
QC_FORCE_INLINE int8x4_t qc_ld4(const int8_t *p) {
    int8x4_t v;
    memcpy(&v, p, 4);
    return v;
}

/* bytes 1 and 3 as int16 pairs: SXTB16 with its rotation (__sxtb16(__ror(x, 8)) is two
 * instructions with GCC 12) */
QC_FORCE_INLINE int16x2_t qc_sxtb16_ror8(int8x4_t x) {
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

#if defined(__OPTIMIZE__) && !defined(QC_NO_ASM)
#define QC_SMLAD_ASM 1
/* 4 values of K of a 2 x 2 tile, 20 instructions for 16 MACs: rows a, a + K and w, w + K,
 * both pointers post-incremented by 4. 13 registers (GCC's C version of the same spills). */
QC_FORCE_INLINE void qc_step2x2(const int8_t **pa, const int8_t **pw, int32_t K, int32_t *c00,
                                int32_t *c01, int32_t *c10, int32_t *c11) {
    int32_t t0, t1, t2, t3, t4, t5;
    __asm__("ldr %[t0], [%[pa], %[K]]\n\t"      /* a1 */
            "ldr %[t1], [%[pa]], #4\n\t"        /* a0 */
            "sxtb16 %[t2], %[t0]\n\t"           /* a1 bytes 0, 2 */
            "sxtb16 %[t0], %[t0], ror #8\n\t"   /* a1 bytes 1, 3 */
            "sxtb16 %[t3], %[t1]\n\t"           /* a0 bytes 0, 2 */
            "sxtb16 %[t1], %[t1], ror #8\n\t"   /* a0 bytes 1, 3 */
            "ldr %[t4], [%[pw], %[K]]\n\t"      /* w1 */
            "sxtb16 %[t5], %[t4]\n\t"
            "sxtb16 %[t4], %[t4], ror #8\n\t"
            "smlad %[c01], %[t3], %[t5], %[c01]\n\t"
            "smlad %[c01], %[t1], %[t4], %[c01]\n\t"
            "smlad %[c11], %[t2], %[t5], %[c11]\n\t"
            "smlad %[c11], %[t0], %[t4], %[c11]\n\t"
            "ldr %[t4], [%[pw]], #4\n\t"        /* w0 */
            "sxtb16 %[t5], %[t4]\n\t"
            "sxtb16 %[t4], %[t4], ror #8\n\t"
            "smlad %[c00], %[t3], %[t5], %[c00]\n\t"
            "smlad %[c00], %[t1], %[t4], %[c00]\n\t"
            "smlad %[c10], %[t2], %[t5], %[c10]\n\t"
            "smlad %[c10], %[t0], %[t4], %[c10]"
            : [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4),
              [t5] "=&r"(t5), [c00] "+r"(*c00), [c01] "+r"(*c01), [c10] "+r"(*c10),
              [c11] "+r"(*c11), [pa] "+r"(*pa), [pw] "+r"(*pw)
            : [K] "r"(K)
            : "memory");
}
#endif

/* One MR x NR tile (MR, NR in 1, 2): s[i * 2 + j] = a[i] . w[j] over K. The second row of each
 * operand is addressed as [first + K] so that two pointers, K and the end stay in registers. */
QC_FORCE_INLINE void qc_tile(const int8_t *a, const int8_t *w, int32_t K, int MR, int NR,
                             int32_t *s) {
    const int8_t *pa = a, *pw = w, *pend = a + (K & ~3);
    int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0, k;
#if defined(QC_SMLAD_ASM)
    if (MR == 2 && NR == 2) {
        while (pend - pa >= 8) {
            qc_step2x2(&pa, &pw, K, &c00, &c01, &c10, &c11);
            qc_step2x2(&pa, &pw, K, &c00, &c01, &c10, &c11);
        }
        if (pa != pend) qc_step2x2(&pa, &pw, K, &c00, &c01, &c10, &c11);
    } else
#endif
    while (pa != pend) {
        int8x4_t x0 = qc_ld4(pa), y;
        int16x2_t a0e = __sxtb16(x0), a0o = qc_sxtb16_ror8(x0), a1e = 0, a1o = 0, we, wo;
        if (MR == 2) {
            int8x4_t x1 = qc_ld4(pa + K);
            a1e = __sxtb16(x1);
            a1o = qc_sxtb16_ror8(x1);
        }
        pa += 4;
        y = qc_ld4(pw);
        we = __sxtb16(y);
        wo = qc_sxtb16_ror8(y);
        c00 = __smlad(a0o, wo, __smlad(a0e, we, c00));
        if (MR == 2) c10 = __smlad(a1o, wo, __smlad(a1e, we, c10));
        if (NR == 2) {
            y = qc_ld4(pw + K);
            we = __sxtb16(y);
            wo = qc_sxtb16_ror8(y);
            c01 = __smlad(a0o, wo, __smlad(a0e, we, c01));
            if (MR == 2) c11 = __smlad(a1o, wo, __smlad(a1e, we, c11));
        }
        pw += 4;
    }
    for (k = K & ~3; k < K; ++k) {
        c00 += a[k] * w[k];
        if (NR == 2) c01 += a[k] * w[K + k];
        if (MR == 2) c10 += a[K + k] * w[k];
        if (MR == 2 && NR == 2) c11 += a[K + k] * w[K + k];
    }
    s[0] = c00;
    s[1] = c01;
    s[2] = c10;
    s[3] = c11;
}

/* Requantization of a tile, out of line so that the tile loop keeps its registers; the
 * parameters are copied out of *rq once per call (stores through int8_t * may alias it).
 * Same arithmetic as qc_requant. */
typedef struct {
    const int32_t *bias, *mult, *shift;
    int32_t per_channel, fixed, zp, qmin, qmax, sm, sn;
    int8_t *out;
    const qc_requant_t *rq;
} qc_epi_t;

/* qc_mulq(x, mult, shift) with shift > 32 from the high word of x * mult alone (SMULL):
 * with x * mult = H * 2^32 + L, (x * mult + 2^(shift-1)) >> shift = (H + 2^(shift-33)) >> (shift-32)
 * since L < 2^32 never carries past a multiple of 2^(shift-32) once divided. H + 2^(shift-33)
 * stays below 2^31 (|H| <= 2^30, shift <= 62). */
QC_FORCE_INLINE int32_t qc_mulq_hi(int32_t x, int32_t mult, int32_t rnd, int32_t s) {
    return ((int32_t)(((int64_t)x * mult) >> 32) + rnd) >> s;
}

/* qc_requant's fixed-point path */
QC_FORCE_INLINE int8_t qc_rq_fixed(int32_t x, int32_t mult, int32_t shift, int32_t zp, int32_t qmin,
                                   int32_t qmax) {
    int32_t v = shift > 32 ? qc_mulq_hi(x, mult, (int32_t)1 << (shift - 33), shift - 32)
                           : qc_mulq(x, mult, shift);
    return (int8_t)qc_clamp_i32(v + zp, qmin, qmax);
}

/* Float epilogues: qc_requant per output. */
__attribute__((noinline)) static void qc_store_float(const qc_epi_t *e, const int32_t *s, int32_t m,
                                                     int32_t n, int32_t MR, int32_t NR) {
    int32_t i, j;
    for (j = 0; j < NR; ++j) {
        int32_t b = e->bias ? e->bias[n + j] : 0;
        for (i = 0; i < MR; ++i)
            e->out[(ptrdiff_t)(m + i) * e->sm + (ptrdiff_t)(n + j) * e->sn] =
                qc_requant(s[i * 2 + j] + b, n + j, e->rq);
    }
}

/* One tile's outputs, out of line (the tile loop keeps its registers), every field read into
 * a local before the first store (int8_t stores may alias *e). */
QC_FORCE_INLINE void qc_store_tile(const qc_epi_t *e, const int32_t *s, int32_t m, int32_t n,
                                   int MR, int NR) {
    int8_t *o;
    int32_t sm, zp, qmin, qmax, c0, c1, b0, b1;
    if (!e->fixed) {
        qc_store_float(e, s, m, n, MR, NR);
        return;
    }
    o = e->out + (ptrdiff_t)m * e->sm + (ptrdiff_t)n * e->sn;
    sm = e->sm;
    zp = e->zp;
    qmin = e->qmin;
    qmax = e->qmax;
    c0 = e->per_channel ? n : 0;
    c1 = e->per_channel ? n + 1 : 0;
    b0 = e->bias ? e->bias[n] : 0;
    b1 = e->bias && NR == 2 ? e->bias[n + 1] : 0;
    {
        const int32_t m0 = e->mult[c0], s0 = e->shift[c0];
        const int32_t m1 = NR == 2 ? e->mult[c1] : 0, s1 = NR == 2 ? e->shift[c1] : 0;
        int8_t *o1 = o + e->sn;
        o[0] = qc_rq_fixed(s[0] + b0, m0, s0, zp, qmin, qmax);
        if (MR == 2) o[sm] = qc_rq_fixed(s[2] + b0, m0, s0, zp, qmin, qmax);
        if (NR == 2) {
            o1[0] = qc_rq_fixed(s[1] + b1, m1, s1, zp, qmin, qmax);
            if (MR == 2) o1[sm] = qc_rq_fixed(s[3] + b1, m1, s1, zp, qmin, qmax);
        }
    }
}

/* out of line, one per tile shape */
__attribute__((noinline)) static void qc_store22(const qc_epi_t *e, const int32_t *s, int32_t m, int32_t n) {
    qc_store_tile(e, s, m, n, 2, 2);
}
__attribute__((noinline)) static void qc_store21(const qc_epi_t *e, const int32_t *s, int32_t m, int32_t n) {
    qc_store_tile(e, s, m, n, 2, 1);
}
__attribute__((noinline)) static void qc_store12(const qc_epi_t *e, const int32_t *s, int32_t m, int32_t n) {
    qc_store_tile(e, s, m, n, 1, 2);
}
__attribute__((noinline)) static void qc_store11(const qc_epi_t *e, const int32_t *s, int32_t m, int32_t n) {
    qc_store_tile(e, s, m, n, 1, 1);
}

/* The fast epilogue (fixed point, every channel's shift in [33, 54], i.e. s = shift - 32 in
 * [1, 22]): with x * mult = H * 2^32 + L, qc_mulq(x, mult, shift) + zp
 *   = (H + 2^(s-1)) >> s + zp = (H + ra) >> s with ra = 2^(s-1) + zp * 2^s
 * (adding a multiple of 2^s commutes with the floor); H + ra is one SMMLA (high word of x * mult
 * plus ra) and cannot overflow: |H| <= 2^30, |ra| < 2^30 for s <= 22. SSAT #8 then clamps to
 * [-128, 127], and a fused ReLU/Clip clamps again to [qmin, qmax]. The bias starts the sums.
 * Per channel {mult, ra, s, bias} in a table of QC_NB channels on the stack. */
#define QC_NB 32
typedef struct {
    int32_t mult, ra, sh, bias;
} qc_chq_t;

/* 1 when every channel takes the fast epilogue */
static int qc_fast_ok(const qc_requant_t *rq, int32_t N) {
    int32_t c, nc = rq->per_channel ? N : 1;
    if (rq->act != QC_ACT_NONE) return 0;
    for (c = 0; c < nc; ++c) {
        int32_t s = rq->shift[c] - 32;
        if (s < 1 || s > 22) return 0;
    }
    return 1;
}

static void qc_fast_prep(const qc_requant_t *rq, const int32_t *bias, int32_t n0, int32_t nb,
                         qc_chq_t *t) {
    int32_t j;
    for (j = 0; j < nb; ++j) {
        int32_t c = rq->per_channel ? n0 + j : 0, s = rq->shift[c] - 32;
        t[j].mult = rq->mult[c];
        t[j].sh = s;
        t[j].ra = (int32_t)(((uint32_t)1 << (s - 1)) + ((uint32_t)rq->out_zp << s));
        t[j].bias = bias ? bias[n0 + j] : 0;
    }
}

QC_FORCE_INLINE int32_t qc_smmla(int32_t acc, int32_t mult, int32_t ra) {
    int32_t v;
    __asm__("smmla %0, %1, %2, %3" : "=r"(v) : "r"(acc), "r"(mult), "r"(ra));
    return v;
}

QC_FORCE_INLINE int32_t qc_rq_fast(int32_t acc, const qc_chq_t *q) {
    int32_t v;
    __asm__("smmla %0, %1, %2, %3" : "=r"(v) : "r"(acc), "r"(q->mult), "r"(q->ra));
    return __ssat(v >> q->sh, 8);
}

QC_FORCE_INLINE int32_t qc_clamp2(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* One MR x NR tile with the fast epilogue; o = &out[m * sm + n * sn], q = the table at n. */
QC_FORCE_INLINE void qc_fast_tile(const int8_t *a, const int8_t *w, int32_t K, int MR, int NR,
                                  const qc_chq_t *q, int8_t *o, int32_t sm, int32_t sn, int clamp,
                                  int32_t qmin, int32_t qmax) {
    int32_t s[4], v0, v1, v2, v3;
    qc_tile(a, w, K, MR, NR, s);
    v0 = qc_rq_fast(s[0] + q[0].bias, &q[0]);
    v1 = NR == 2 ? qc_rq_fast(s[1] + q[1].bias, &q[1]) : 0;
    v2 = MR == 2 ? qc_rq_fast(s[2] + q[0].bias, &q[0]) : 0;
    v3 = MR == 2 && NR == 2 ? qc_rq_fast(s[3] + q[1].bias, &q[1]) : 0;
    if (clamp) {
        v0 = qc_clamp2(v0, qmin, qmax);
        v1 = qc_clamp2(v1, qmin, qmax);
        v2 = qc_clamp2(v2, qmin, qmax);
        v3 = qc_clamp2(v3, qmin, qmax);
    }
    o[0] = (int8_t)v0;
    if (NR == 2) o[sn] = (int8_t)v1;
    if (MR == 2) o[sm] = (int8_t)v2;
    if (MR == 2 && NR == 2) o[sm + sn] = (int8_t)v3;
}

__attribute__((noinline)) static void qc_gemm_fast(const int8_t *a, const int8_t *w,
                                                   const int32_t *bias, int32_t M, int32_t N,
                                                   int32_t K, const qc_requant_t *rq, int8_t *out,
                                                   int32_t sm, int32_t sn) {
    qc_chq_t t[QC_NB];
    const int32_t qmin = rq->qmin, qmax = rq->qmax;
    const int clamp = qmin > -128 || qmax < 127;
    int32_t n0, m, j;
    for (n0 = 0; n0 < N; n0 += QC_NB) {
        const int32_t nb = N - n0 < QC_NB ? N - n0 : QC_NB;
        const int8_t *wb = w + (ptrdiff_t)n0 * K;
        int8_t *ob = out + (ptrdiff_t)n0 * sn;
        qc_fast_prep(rq, bias, n0, nb, t);
        for (m = 0; m + 2 <= M; m += 2) {
            const int8_t *am = a + (ptrdiff_t)m * K;
            int8_t *om = ob + (ptrdiff_t)m * sm;
            for (j = 0; j + 2 <= nb; j += 2)
                qc_fast_tile(am, wb + (ptrdiff_t)j * K, K, 2, 2, t + j, om + (ptrdiff_t)j * sn, sm, sn,
                             clamp, qmin, qmax);
            if (j < nb)
                qc_fast_tile(am, wb + (ptrdiff_t)j * K, K, 2, 1, t + j, om + (ptrdiff_t)j * sn, sm, sn,
                             clamp, qmin, qmax);
        }
        if (m < M) {
            const int8_t *am = a + (ptrdiff_t)m * K;
            int8_t *om = ob + (ptrdiff_t)m * sm;
            for (j = 0; j + 2 <= nb; j += 2)
                qc_fast_tile(am, wb + (ptrdiff_t)j * K, K, 1, 2, t + j, om + (ptrdiff_t)j * sn, sm, sn,
                             clamp, qmin, qmax);
            if (j < nb)
                qc_fast_tile(am, wb + (ptrdiff_t)j * K, K, 1, 1, t + j, om + (ptrdiff_t)j * sn, sm, sn,
                             clamp, qmin, qmax);
        }
    }
}


#if defined(QC_SMLAD_ASM)
/* The pre-extended-weight path (fast epilogue, M >= 4, 4 <= K <= QC_WX_K): one channel pair at
 * a time, its weights sign-extended once into a stack table in SMLAD pair order, per 4 values of
 * K the words {w0 (k, k+2), w0 (k+1, k+3), w1 (k, k+2), w1 (k+1, k+3)}; then every pixel pair of
 * a takes 16 instructions per 4 values of K (2 LDR, 4 SXTB16, 2 LDRD, 8 SMLAD) with the
 * accumulators started at the bias and the constants of the two channels held across the
 * pixels. A K % 4 tail: the second group of 4 starts at k = K % 4, overlapping the first, against
 * weights where the k of the first group are 0 (see qc_wx_prep), the others follow on: no
 * branch per tile, every row read within its K bytes.
 * An odd last pixel reads its own row
 * twice (row offset 0), an odd last channel has zero weights; neither is stored. */
#define QC_WX_K 256

QC_FORCE_INLINE void qc_step_wx(const int8_t **pa, const int32_t **pw, int32_t ko, int32_t *c00,
                                int32_t *c01, int32_t *c10, int32_t *c11) {
    int32_t t0, t1, t2, t3, t4, t5;
    __asm__("ldr %[t0], [%[pa], %[ko]]\n\t"        /* a1 */
            "ldr %[t1], [%[pa]], #4\n\t"          /* a0 */
            "sxtb16 %[t2], %[t0]\n\t"             /* a1 k, k+2 */
            "sxtb16 %[t0], %[t0], ror #8\n\t"     /* a1 k+1, k+3 */
            "sxtb16 %[t3], %[t1]\n\t"             /* a0 k, k+2 */
            "sxtb16 %[t1], %[t1], ror #8\n\t"     /* a0 k+1, k+3 */
            "ldrd %[t4], %[t5], [%[pw]], #8\n\t"  /* w0 */
            "smlad %[c00], %[t3], %[t4], %[c00]\n\t"
            "smlad %[c00], %[t1], %[t5], %[c00]\n\t"
            "smlad %[c10], %[t2], %[t4], %[c10]\n\t"
            "smlad %[c10], %[t0], %[t5], %[c10]\n\t"
            "ldrd %[t4], %[t5], [%[pw]], #8\n\t"  /* w1 */
            "smlad %[c01], %[t3], %[t4], %[c01]\n\t"
            "smlad %[c01], %[t1], %[t5], %[c01]\n\t"
            "smlad %[c11], %[t2], %[t4], %[c11]\n\t"
            "smlad %[c11], %[t0], %[t5], %[c11]"
            : [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4),
              [t5] "=&r"(t5), [c00] "+r"(*c00), [c01] "+r"(*c01), [c10] "+r"(*c10),
              [c11] "+r"(*c11), [pa] "+r"(*pa), [pw] "+r"(*pw)
            : [ko] "r"(ko)
            : "memory");
}

/* Weights of channels w0, w1 (w1 NULL: zeros) into x, G = ceil(K / 4) groups: group 0 is k 0..3,
 * group i >= 1 is k 4i + adj .. 4i + adj + 3 with adj = K % 4 ? K % 4 - 4 : 0 (so the last one
 * ends at K - 1), where group 1's k below 4 (already in group 0) have weight 0. */
static void qc_wx_prep(const int8_t *w0, const int8_t *w1, int32_t K, int32_t adj, int32_t *x) {
    const int32_t G = (K + 3) >> 2;
    const uint32_t keep1 = adj ? ~0u << (8 * -adj) : ~0u; /* group 1: bytes with k >= 4 */
    int32_t i;
    for (i = 0; i < G; ++i, x += 4) {
        const int32_t off = i ? 4 * i + adj : 0;
        int8x4_t v0 = qc_ld4(w0 + off), v1 = w1 ? qc_ld4(w1 + off) : 0;
        if (i == 1) {
            v0 = (int8x4_t)((uint32_t)v0 & keep1);
            v1 = (int8x4_t)((uint32_t)v1 & keep1);
        }
        x[0] = __sxtb16(v0);
        x[1] = qc_sxtb16_ror8(v0);
        x[2] = __sxtb16(v1);
        x[3] = qc_sxtb16_ror8(v1);
    }
}

/* the 4 sums of pixels pa (row 0) and pa + ko (row 1) against the table [x, xend), started at
 * b0, b1 */
QC_FORCE_INLINE void qc_wx_tile(const int8_t *pa, int32_t ko, const int32_t *x, const int32_t *xend,
                                int32_t adj, int32_t b0, int32_t b1, int32_t *s) {
    int32_t c00 = b0, c01 = b1, c10 = b0, c11 = b1;
    const int32_t *pw = x;
    qc_step_wx(&pa, &pw, ko, &c00, &c01, &c10, &c11);
    pa += adj;
    if (((xend - pw) >> 2) & 1) qc_step_wx(&pa, &pw, ko, &c00, &c01, &c10, &c11);
    while (pw != xend) { /* two groups per iteration */
        qc_step_wx(&pa, &pw, ko, &c00, &c01, &c10, &c11);
        qc_step_wx(&pa, &pw, ko, &c00, &c01, &c10, &c11);
    }
    s[0] = c00;
    s[1] = c01;
    s[2] = c10;
    s[3] = c11;
}

/* the pixels of one channel pair (NR = 2) or of the odd last channel (NR = 1); SM1: sm == 1 */
QC_FORCE_INLINE void qc_wx_pixels(const int8_t *a, const int32_t *x, int32_t M, int32_t K,
                                  int32_t adj, const qc_chq_t *q, int8_t *o, int32_t sm, int32_t sn,
                                  int NR, int SM1, int clamp, int32_t qmin, int32_t qmax) {
    const int32_t b0 = q[0].bias, b1 = NR == 2 ? q[1].bias : 0;
    const int32_t m0 = q[0].mult, ra0 = q[0].ra, s0 = q[0].sh;
    const int32_t m1 = NR == 2 ? q[1].mult : 0, ra1 = NR == 2 ? q[1].ra : 0, s1 = NR == 2 ? q[1].sh : 0;
    const int32_t *xend = x + 4 * ((K + 3) >> 2);
    const ptrdiff_t K2 = 2 * (ptrdiff_t)K, smv = SM1 ? 1 : sm;
    int32_t m, s[4], v0, v1, v2, v3;
    for (m = 0; m + 2 <= M; m += 2, a += K2, o += 2 * smv) {
        qc_wx_tile(a, K, x, xend, adj, b0, b1, s);
        v0 = __ssat(qc_smmla(s[0], m0, ra0) >> s0, 8);
        v2 = __ssat(qc_smmla(s[2], m0, ra0) >> s0, 8);
        v1 = NR == 2 ? __ssat(qc_smmla(s[1], m1, ra1) >> s1, 8) : 0;
        v3 = NR == 2 ? __ssat(qc_smmla(s[3], m1, ra1) >> s1, 8) : 0;
        if (clamp) {
            v0 = qc_clamp2(v0, qmin, qmax);
            v1 = qc_clamp2(v1, qmin, qmax);
            v2 = qc_clamp2(v2, qmin, qmax);
            v3 = qc_clamp2(v3, qmin, qmax);
        }
        o[0] = (int8_t)v0;
        o[smv] = (int8_t)v2;
        if (NR == 2) {
            o[sn] = (int8_t)v1;
            o[sn + smv] = (int8_t)v3;
        }
    }
    if (m < M) { /* the odd last pixel: its row twice */
        qc_wx_tile(a, 0, x, xend, adj, b0, b1, s);
        v0 = __ssat(qc_smmla(s[0], m0, ra0) >> s0, 8);
        v1 = NR == 2 ? __ssat(qc_smmla(s[1], m1, ra1) >> s1, 8) : 0;
        if (clamp) {
            v0 = qc_clamp2(v0, qmin, qmax);
            v1 = qc_clamp2(v1, qmin, qmax);
        }
        o[0] = (int8_t)v0;
        if (NR == 2) o[sn] = (int8_t)v1;
    }
}

/* a fused clamp applied afterwards to n outputs of the fast epilogue (its SSAT 8 made them int8;
 * clamping that to [qmin, qmax] is qc_requant's clamp): 4 at a time by SSUB8/SEL */
static void qc_clamp8(int8_t *y, int32_t n, int32_t qmin, int32_t qmax) {
    const uint32_t lo = (uint8_t)qmin * 0x01010101u, hi = (uint8_t)qmax * 0x01010101u;
    for (; n >= 4; n -= 4, y += 4) {
        uint32_t v, t;
        memcpy(&v, y, 4);
        __asm__("ssub8 %[t], %[v], %[lo]\n\t"
                "sel %[v], %[v], %[lo]\n\t"
                "ssub8 %[t], %[hi], %[v]\n\t"
                "sel %[v], %[v], %[hi]"
                : [v] "+r"(v), [t] "=&r"(t)
                : [lo] "r"(lo), [hi] "r"(hi)
                : "cc");
        memcpy(y, &v, 4);
    }
    for (; n > 0; --n, ++y) *y = (int8_t)qc_clamp2(*y, qmin, qmax);
}

/* qc_wx_pixels for a channel pair with sm == 1 (the convolutions' case; a fused clamp applied after it): the
 * pixel pairs' loop in one assembly block with fixed registers, the 13 that GCC may give an asm
 * statement and r7 (the frame pointer of Thumb code built with one), saved and restored inside:
 * r0 row 0 of the pair (r0 + K row 1; after the K values r0 is at row 1, so + K is the next
 * pair), r1 K, r2 the table Q that follows the weight groups (the K loop ends when the weight
 * pointer r3 reaches it), r4 r5 r6 r8 the sums c00 c01 c10 c11, r9-r12, lr, r7 the
 * temporaries. Q: bias0, bias1, mult0, ra0, mult1, ra1, s0, s1, output pointer, sn, end of the
 * pair rows, adj, x (the weights). Group 0 alone, then the row pointer moves by adj and, when
 * the groups after it are odd in number, one more group, then pairs of groups while any
 * remain; K % 4 == 0 with an even number of groups: pairs of groups only. 16 instructions per
 * group of 4 K, 34 per pixel pair besides. */
#define QC_WX_STEP                                                                               \
    "ldr r9, [r0, r1]\n\t"                                                                       \
    "ldr r10, [r0], #4\n\t"                                                                      \
    "sxtb16 r11, r9\n\t"                                                                         \
    "sxtb16 r9, r9, ror #8\n\t"                                                                  \
    "sxtb16 r12, r10\n\t"                                                                        \
    "sxtb16 r10, r10, ror #8\n\t"                                                                \
    "ldrd lr, r7, [r3], #8\n\t"                                                                  \
    "smlad r4, r12, lr, r4\n\t"                                                                  \
    "smlad r4, r10, r7, r4\n\t"                                                                  \
    "smlad r6, r11, lr, r6\n\t"                                                                  \
    "smlad r6, r9, r7, r6\n\t"                                                                   \
    "ldrd lr, r7, [r3], #8\n\t"                                                                  \
    "smlad r5, r12, lr, r5\n\t"                                                                  \
    "smlad r5, r10, r7, r5\n\t"                                                                  \
    "smlad r8, r11, lr, r8\n\t"                                                                  \
    "smlad r8, r9, r7, r8\n\t"

#define QC_WX_HEAD                                                                               \
    "push {r7}\n"                                                                                \
    "0:\n\t"                                                                                     \
    "ldrd r4, r5, [r2]\n\t"                                                                      \
    "mov r6, r4\n\t"                                                                             \
    "mov r8, r5\n\t"                                                                             \
    "ldr r3, [r2, #48]\n\t"

#define QC_WX_FIRST                                                                              \
    QC_WX_STEP                                                                                   \
    "ldr r9, [r2, #44]\n\t"                                                                      \
    "add r0, r0, r9\n\t"

#define QC_WX_PAIRS                                                                              \
    "2:\n\t"                                                                                     \
    QC_WX_STEP                                                                                   \
    QC_WX_STEP                                                                                   \
    "cmp r3, r2\n\t"                                                                             \
    "bne 2b\n"

#define QC_WX_TAIL                                                                               \
    "3:\n\t"                                                                                     \
    "ldrd r9, r10, [r2, #8]\n\t"                                                                 \
    "ldrd r11, r12, [r2, #16]\n\t"                                                               \
    "ldrd r7, lr, [r2, #24]\n\t"                                                                 \
    "smmla r4, r4, r9, r10\n\t"                                                                  \
    "smmla r6, r6, r9, r10\n\t"                                                                  \
    "smmla r5, r5, r11, r12\n\t"                                                                 \
    "smmla r8, r8, r11, r12\n\t"                                                                 \
    "asr r4, r4, r7\n\t"                                                                         \
    "asr r6, r6, r7\n\t"                                                                         \
    "asr r5, r5, lr\n\t"                                                                         \
    "asr r8, r8, lr\n\t"                                                                         \
    "ssat r4, #8, r4\n\t"                                                                        \
    "ssat r6, #8, r6\n\t"                                                                        \
    "ssat r5, #8, r5\n\t"                                                                        \
    "ssat r8, #8, r8\n\t"                                                                        \
    "ldrd r9, r10, [r2, #32]\n\t"                                                                \
    "strb r4, [r9]\n\t"                                                                          \
    "strb r6, [r9, #1]\n\t"                                                                      \
    "strb r5, [r9, r10]\n\t"                                                                     \
    "add r10, r10, r9\n\t"                                                                       \
    "strb r8, [r10, #1]\n\t"                                                                     \
    "add r9, r9, #2\n\t"                                                                         \
    "str r9, [r2, #32]\n\t"                                                                      \
    "add r0, r0, r1\n\t"                                                                         \
    "ldr r9, [r2, #40]\n\t"                                                                      \
    "cmp r0, r9\n\t"                                                                             \
    "bne 0b\n\t"                                                                                 \
    "pop {r7}"

#define QC_WX_ASM(text)                                                                          \
    __asm__ volatile(text                                                                        \
                     : "+r"(r0)                                                                  \
                     : "r"(r1), "r"(r2)                                                          \
                     : "r3", "r4", "r5", "r6", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory")

/* M >= 2; returns the row of the odd last pixel (a + (M & ~1) * K). x has 13 words of room
 * after its groups. */
static const int8_t *qc_wx_pairs_asm(const int8_t *a, int32_t *x, int32_t M, int32_t K, int32_t adj,
                                     const qc_chq_t *q, int8_t *o, int32_t sn) {
    const int32_t G = (K + 3) >> 2;
    int32_t *const Q = x + 4 * G;
    Q[0] = q[0].bias;
    Q[1] = q[1].bias;
    Q[2] = q[0].mult;
    Q[3] = q[0].ra;
    Q[4] = q[1].mult;
    Q[5] = q[1].ra;
    Q[6] = q[0].sh;
    Q[7] = q[1].sh;
    Q[8] = (int32_t)(uintptr_t)o;
    Q[9] = sn;
    Q[10] = (int32_t)(uintptr_t)(a + (ptrdiff_t)(M & ~1) * K);
    Q[11] = adj;
    Q[12] = (int32_t)(uintptr_t)x;
    {
        register const int8_t *r0 __asm__("r0") = a;
        register int32_t r1 __asm__("r1") = K;
        register int32_t *r2 __asm__("r2") = Q;
        if ((K & 3) == 0 && (G & 1) == 0)
            QC_WX_ASM(QC_WX_HEAD QC_WX_PAIRS QC_WX_TAIL);
        else if ((G - 1) & 1)
            QC_WX_ASM(QC_WX_HEAD QC_WX_FIRST QC_WX_STEP "cmp r3, r2\n\tbeq 3f\n" QC_WX_PAIRS QC_WX_TAIL);
        else
            QC_WX_ASM(QC_WX_HEAD QC_WX_FIRST "cmp r3, r2\n\tbeq 3f\n" QC_WX_PAIRS QC_WX_TAIL);
        return r0;
    }
}

__attribute__((noinline)) static void qc_gemm_wx(const int8_t *a, const int8_t *w,
                                                 const int32_t *bias, int32_t M, int32_t N,
                                                 int32_t K, const qc_requant_t *rq, int8_t *out,
                                                 int32_t sm, int32_t sn) {
    int32_t x[QC_WX_K + 16] __attribute__((aligned(8))); /* + qc_wx_pairs_asm's table */
    qc_chq_t q[2];
    const int32_t qmin = rq->qmin, qmax = rq->qmax;
    const int clamp = qmin > -128 || qmax < 127;
    const int32_t adj = K & 3 ? (K & 3) - 4 : 0;
    int32_t n;
    for (n = 0; n < N; n += 2) {
        const int8_t *w0 = w + (ptrdiff_t)n * K;
        int8_t *o = out + (ptrdiff_t)n * sn;
        if (n + 1 < N) {
            qc_wx_prep(w0, w0 + K, K, adj, x);
            qc_fast_prep(rq, bias, n, 2, q);
            if (sm == 1) {
                const int8_t *pa = qc_wx_pairs_asm(a, x, M, K, adj, q, o, sn);
                if (M & 1) qc_wx_pixels(pa, x, 1, K, adj, q, o + (M & ~1), 1, sn, 2, 1, 0, -128, 127);
                if (clamp) { /* the two channels' rows of M outputs */
                    qc_clamp8(o, M, qmin, qmax);
                    qc_clamp8(o + sn, M, qmin, qmax);
                }
            } else if (clamp)
                qc_wx_pixels(a, x, M, K, adj, q, o, sm, sn, 2, 0, 1, qmin, qmax);
            else
                qc_wx_pixels(a, x, M, K, adj, q, o, sm, sn, 2, 0, 0, -128, 127);
        } else {
            qc_wx_prep(w0, NULL, K, adj, x);
            qc_fast_prep(rq, bias, n, 1, q);
            qc_wx_pixels(a, x, M, K, adj, q, o, sm, sn, 1, 0, clamp, qmin, qmax);
        }
    }
}
#endif

#define QC_TILE(MR, NR)                                                                          \
    do {                                                                                         \
        qc_tile(a + (size_t)m * K, w + (size_t)n * K, K, MR, NR, s);                             \
        qc_store##MR##NR(&e, s, m, n);                                                           \
    } while (0)

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    int32_t s[4];
    int32_t m = 0, n;
    qc_epi_t e;
    if (qc_fast_ok(rq, N)) {
#if defined(QC_SMLAD_ASM)
        if (M >= 4 && K >= 4 && K <= QC_WX_K) {
            qc_gemm_wx(a, w, bias, M, N, K, rq, out, sm, sn);
            return;
        }
#endif
        qc_gemm_fast(a, w, bias, M, N, K, rq, out, sm, sn);
        return;
    }
    e.bias = bias;
    e.mult = rq->mult;
    e.shift = rq->shift;
    e.per_channel = rq->per_channel;
    e.fixed = rq->act == QC_ACT_NONE;
    e.zp = rq->out_zp;
    e.qmin = rq->qmin;
    e.qmax = rq->qmax;
    e.sm = sm;
    e.sn = sn;
    e.out = out;
    e.rq = rq;
    for (; m + 2 <= M; m += 2) {
        for (n = 0; n + 2 <= N; n += 2) QC_TILE(2, 2);
        if (n < N) QC_TILE(2, 1);
    }
    if (m < M) {
        for (n = 0; n + 2 <= N; n += 2) QC_TILE(1, 2);
        if (n < N) QC_TILE(1, 1);
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
