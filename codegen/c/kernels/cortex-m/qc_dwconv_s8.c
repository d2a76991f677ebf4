/* qc_dwconv_s8, Cortex-M with the DSP extension: bit-identical to
 * kernels/reference/qc_dwconv_s8.c.
 *
 * Each output row uses the kernel rows that fall inside the input. Its columns whose taps all
 * lie inside horizontally compute acc = bias - x_zp * sum(w of those rows) + sum x * w, the
 * reference's int32 value; the other columns compute as the reference does (in-bounds taps of
 * (x - x_zp) * w). 3-wide kernels with horizontal stride and dilation 1 take two columns per
 * step: one word of 4 inputs x0..x3 split by SXTB16 into (x0, x2) and (x1, x3), then per
 * kernel row
 *   out0 += SMLAD((x0, x2), (w0, w2)) + SMLAD((x1, x3), (w1, 0))
 *   out1 += SMLAD((x1, x3), (w0, w2)) + SMLAD((x0, x2), (0, w1))
 * (7 instructions for 6 MACs). The requantization keeps its parameters in locals
 * (qc_requant's arithmetic). Before all that, 3-wide kernels of up to 3 rows (stride 1 or 2,
 * horizontal dilation 1, padded rows up to 260 bytes)
 * take the padded-row path below (qc_dw_padded: no edge columns at all). Without
 * __ARM_FEATURE_DSP the same split runs in plain C. */
#include "qc_kernels.h"
#include "qc_dwconv_util.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#include <arm_acle.h>
#define QC_DW_DSP 1
#define QC_DW_MAX_ROWS 16 /* 3-wide kernels up to 16 rows use the pairs */

static inline int16x2_t qc_sxtb16_ror8(int8x4_t x) {
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* Two interior outputs of a 3-wide kernel at x0 (first tap of the first output): rows of
 * (w0, w2), (w1, 0), (0, w1) pairs in wp[3 * ky ...]. */
static inline void qc_dw_pair(const int8_t *x0, const int32_t *wp, int32_t kh, int32_t rstride,
                              int32_t *acc0, int32_t *acc1) {
    int32_t a0 = *acc0, a1 = *acc1, ky;
    for (ky = 0; ky < kh; ++ky, x0 += rstride, wp += 3) {
        int8x4_t v;
        int16x2_t e, o;
        memcpy(&v, x0, 4);
        e = __sxtb16(v);
        o = qc_sxtb16_ror8(v);
        a0 = __smlad(o, wp[1], __smlad(e, wp[0], a0));
        a1 = __smlad(e, wp[2], __smlad(o, wp[0], a1));
    }
    *acc0 = a0;
    *acc1 = a1;
}
#endif

/* qc_floordiv, qc_interior, qc_dw_edge, qc_dw_inner: qc_dwconv_util.h */


typedef struct {
    int32_t fixed, mult, shift, zp, qmin, qmax;
} qc_dw_rq_t;

/* qc_requant with the channel's parameters in locals */
static inline int8_t qc_dw_rq(int32_t acc, const qc_dw_rq_t *q, int32_t c, const qc_requant_t *rq) {
    if (q->fixed) {
        int32_t v;
        if (q->shift >= 32) { /* the high word alone: SMLAL + ASR, same value as qc_mulq */
            int64_t prod = (int64_t)acc * q->mult + ((int64_t)1 << (q->shift - 1));
            v = (int32_t)(prod >> 32) >> (q->shift - 32);
        } else {
            v = qc_mulq(acc, q->mult, q->shift);
        }
        return (int8_t)qc_clamp_i32(v + q->zp, q->qmin, q->qmax);
    }
    return qc_requant(acc, c, rq);
}

#if defined(QC_DW_DSP)
/* The padded-row path (3-wide kernels, horizontal dilation 1, stride 1 or 2, the fixed-point
 * epilogue with shifts 33..54): each input row a channel needs is copied once into a ring of
 * stack rows with x_zp around it (a row above or below the input is all x_zp), so every output
 * takes the same taps; x_zp taps add x_zp * w, which acc = bias - x_zp * sum(w) + sum x * w
 * cancels: the reference's value. Requantization, for a channel whose shift is in 33..54 and
 * no float epilogue, as the cortex-m qc_gemm_s8's fast epilogue: SMMLA with addend
 * 2^(s-1) + zp * 2^s, ASR s, SSAT 8 (then qmin/qmax for a fused clamp); qc_requant otherwise. */
#define QC_DW_RW 260 /* padded row bytes: (ow - 1) * sw + 4 */
#define QC_DW_RING 5 /* rows spanned by the kernel: (kh - 1) * dh + 1 (3 rows, dilation 2) */

static inline int32_t qc_dw_smmla(int32_t acc, int32_t mult, int32_t ra) {
    int32_t v;
    __asm__("smmla %0, %1, %2, %3" : "=r"(v) : "r"(acc), "r"(mult), "r"(ra));
    return v;
}

/* columns [-pl, -pl + len) of input row xr (NULL: above/below the input) into d, x_zp outside */
static void qc_dw_padrow(int8_t *d, const int8_t *xr, int32_t w, int32_t pl, int32_t len, int8_t zp) {
    int32_t c = 0, lo = pl < len ? pl : len, hi;
    uint32_t z4 = (uint8_t)zp * 0x01010101u;
    if (!xr) lo = len;
    for (; c < lo; ++c) d[c] = zp;
    if (xr) {
        hi = pl + w < len ? pl + w : len;
        xr -= pl;
        for (; c + 4 <= hi; c += 4) {
            uint32_t v;
            memcpy(&v, xr + c, 4);
            memcpy(d + c, &v, 4);
        }
        for (; c < hi; ++c) d[c] = xr[c];
    }
    for (; c + 4 <= len; c += 4) memcpy(d + c, &z4, 4);
    for (; c < len; ++c) d[c] = zp;
}

/* one kernel row of one stride-2 output at ox */
#define QC_DW_ROW1(rp, t)                                                                        \
    do {                                                                                         \
        int8x4_t v_;                                                                             \
        memcpy(&v_, (rp) + 2 * ox, 4);                                                           \
        a0 = __smlad(qc_sxtb16_ror8(v_), w1l[t], __smlad(__sxtb16(v_), w02[t], a0));             \
    } while (0)

/* qc_requant of the float epilogue without an activation (QC_ACT_LINEAR) with its constants in
 * locals, the same float operations: v = acc * fs / os, q = rintf(v) + zp clamped to
 * [qmin, qmax]. Here v is clamped first to [qmin - zp, qmax - zp] (integers: rintf of a value
 * beyond them is beyond them too, NaN goes to qmin - zp as the reference's NaN goes to qmin),
 * then rintf is the sum and difference with 1.5 * 2^23 (round half to even in the default
 * rounding mode, exact for |v| < 2^22) and q needs no clamp. */
typedef struct {
    float fs, os, zp, lo, hi; /* lo, hi: qmin - zp, qmax - zp */
} qc_dw_lin_t;

static inline int8_t qc_dw_lin(int32_t acc, const qc_dw_lin_t *g) {
    float v = (float)acc * g->fs / g->os;
    if (!(v >= g->lo)) v = g->lo;
    if (v > g->hi) v = g->hi;
    v = (v + 12582912.0f) - 12582912.0f;
    return (int8_t)(int32_t)(v + g->zp);
}

/* the epilogues of gen rows: qc_dw_lin for QC_ACT_LINEAR, else qc_requant */
#define QC_DW_GEN(acc) (lin ? qc_dw_lin((acc), &gl) : qc_requant((acc), c, rq))

/* one output row from the padded input rows r[0..2] */
static inline __attribute__((always_inline)) void qc_dw_row(
    const int8_t *const *r, int8_t *yr, int32_t ow, int32_t sw, int32_t bz, const int32_t *w02,
    const int32_t *w1l, int32_t m, int32_t ra, int32_t s, int clamp, int32_t qmin, int32_t qmax,
    int gen, int32_t c, const qc_requant_t *rq) {
    const int8_t *r0 = r[0], *r1 = r[1], *r2 = r[2];
    int32_t ox;
    const int lin = gen && rq->act == QC_ACT_LINEAR;
    qc_dw_lin_t gl = {0.0f, 1.0f, 0.0f, 0.0f, 0.0f};
    if (lin) {
        gl.fs = rq->fscale[rq->per_channel ? c : 0];
        gl.os = rq->out_scale;
        gl.zp = (float)rq->out_zp;
        gl.lo = (float)(rq->qmin - rq->out_zp);
        gl.hi = (float)(rq->qmax - rq->out_zp);
    }
    if (sw == 1) {
        /* (w1 of rows 0 and 1) in one word, taken by SMLAxy: fewer live registers in the loop */
        const int32_t a02 = w02[0], b02 = w02[1], c02 = w02[2];
        const int32_t w1ab = (int32_t)(((uint32_t)w1l[0] & 0xffffu) | ((uint32_t)w1l[1] << 16)), c1l = w1l[2];
        const int8_t *p0 = r0, *const pend = r0 + (ow & ~1);
        const ptrdiff_t d1 = r1 - r0, d2 = r2 - r0;
        for (; p0 != pend; p0 += 2, yr += 2) {
            int32_t a0 = bz, a1 = bz, v0, v1;
            int8x4_t v_;
            int16x2_t e_, o_;
            memcpy(&v_, p0, 4);
            e_ = __sxtb16(v_);
            o_ = qc_sxtb16_ror8(v_);
            a0 = __smlabb(o_, w1ab, __smlad(e_, a02, a0));
            a1 = __smlatb(e_, w1ab, __smlad(o_, a02, a1));
            memcpy(&v_, p0 + d1, 4);
            e_ = __sxtb16(v_);
            o_ = qc_sxtb16_ror8(v_);
            a0 = __smlabt(o_, w1ab, __smlad(e_, b02, a0));
            a1 = __smlatt(e_, w1ab, __smlad(o_, b02, a1));
            memcpy(&v_, p0 + d2, 4);
            e_ = __sxtb16(v_);
            o_ = qc_sxtb16_ror8(v_);
            a0 = __smlabb(o_, c1l, __smlad(e_, c02, a0));
            a1 = __smlatb(e_, c1l, __smlad(o_, c02, a1));
            if (gen) { /* shift outside 33..54 or a float epilogue */
                yr[0] = QC_DW_GEN(a0);
                yr[1] = QC_DW_GEN(a1);
                continue;
            }
            v0 = __ssat(qc_dw_smmla(a0, m, ra) >> s, 8);
            v1 = __ssat(qc_dw_smmla(a1, m, ra) >> s, 8);
            if (clamp) {
                v0 = qc_clamp_i32(v0, qmin, qmax);
                v1 = qc_clamp_i32(v1, qmin, qmax);
            }
            yr[0] = (int8_t)v0;
            yr[1] = (int8_t)v1;
        }
        if (ow & 1) { /* the last column: one output (taps x0..x2 of the word at p0) */
            int32_t a0 = bz, v0;
            const int32_t w1[3] = {w1l[0], w1l[1], c1l};
            for (ox = 0; ox < 3; ++ox) {
                int8x4_t v_;
                memcpy(&v_, p0 + (ox == 0 ? 0 : ox == 1 ? d1 : d2), 4);
                a0 = __smlabb(qc_sxtb16_ror8(v_), w1[ox], __smlad(__sxtb16(v_), w02[ox], a0));
            }
            if (gen) {
                yr[0] = QC_DW_GEN(a0);
                return;
            }
            v0 = __ssat(qc_dw_smmla(a0, m, ra) >> s, 8);
            if (clamp) v0 = qc_clamp_i32(v0, qmin, qmax);
            yr[0] = (int8_t)v0;
        }
    } else {
        for (ox = 0; ox < ow; ++ox) {
            int32_t a0 = bz, v0;
            QC_DW_ROW1(r0, 0);
            QC_DW_ROW1(r1, 1);
            QC_DW_ROW1(r2, 2);
            if (gen) {
                yr[ox] = QC_DW_GEN(a0);
                continue;
            }
            v0 = __ssat(qc_dw_smmla(a0, m, ra) >> s, 8);
            if (clamp) v0 = qc_clamp_i32(v0, qmin, qmax);
            yr[ox] = (int8_t)v0;
        }
    }
}

__attribute__((noinline)) static int qc_dw_padded(const int8_t *x, const int8_t *wt, const int32_t *bias,
                        const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, kh = p->kh, sw = p->sw;
    const int32_t len = (p->ow - 1) * sw + 4, span = (kh - 1) * p->dh + 1;
    const int32_t qmin = rq->qmin, qmax = rq->qmax, ow = p->ow;
    const int clamp = qmin > -128 || qmax < 127;
    int8_t rows[QC_DW_RING][QC_DW_RW];
    int32_t tag[QC_DW_RING];
    int32_t n, c, oy, t;
    if (p->kw != 3 || p->dw != 1 || (sw != 1 && sw != 2) || kh > 3 || span > QC_DW_RING ||
        len > QC_DW_RW)
        return 0;
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            const int8_t *wc = wt + (ptrdiff_t)c * kh * 3;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * p->oh * p->ow;
            const int32_t k = rq->per_channel ? c : 0, m = rq->mult[k];
            const int gen = rq->act != QC_ACT_NONE || rq->shift[k] < 33 || rq->shift[k] > 54;
            const int32_t s = gen ? 1 : rq->shift[k] - 32;
            const int32_t ra = (int32_t)(((uint32_t)1 << (s - 1)) + ((uint32_t)rq->out_zp << s));
            int32_t bz = bias ? bias[c] : 0;
            int32_t w02[3], w1l[3];
            for (t = 0; t < 3 * kh; ++t) bz -= p->x_zp * wc[t];
            for (t = 0; t < 3; ++t) {
                const int8_t *r = wc + 3 * (t < kh ? t : 0);
                w02[t] = t < kh ? (int32_t)(((uint32_t)(uint16_t)r[0]) | ((uint32_t)(uint16_t)r[2] << 16)) : 0;
                w1l[t] = t < kh ? (int32_t)(uint32_t)(uint16_t)r[1] : 0;
            }
            for (t = 0; t < QC_DW_RING; ++t) tag[t] = -0x7fffffff;
            for (oy = 0; oy < p->oh; ++oy) {
                const int8_t *r[3];
                int8_t *yr = yc + (ptrdiff_t)oy * p->ow;
                for (t = 0; t < 3; ++t) {
                    int32_t iy = oy * p->sh - p->pt + (t < kh ? t : 0) * p->dh;
                    int32_t slot = (iy % span + span) % span;
                    if (tag[slot] != iy) {
                        qc_dw_padrow(rows[slot], iy >= 0 && iy < p->h ? xc + (ptrdiff_t)iy * p->w : NULL,
                                     p->w, p->pl, len, (int8_t)p->x_zp);
                        tag[slot] = iy;
                    }
                    r[t] = rows[slot];
                }
                if (gen)
                    qc_dw_row(r, yr, ow, sw, bz, w02, w1l, m, ra, s, 0, -128, 127, 1, c, rq);
                else if (clamp)
                    qc_dw_row(r, yr, ow, sw, bz, w02, w1l, m, ra, s, 1, qmin, qmax, 0, c, rq);
                else
                    qc_dw_row(r, yr, ow, sw, bz, w02, w1l, m, ra, s, 0, -128, 127, 0, c, rq);
            }
        }
    }
    return 1;
}
#if defined(__OPTIMIZE__) && !defined(QC_NO_ASM)
#define QC_DW_ASM 1
#endif

/* The 3-row path (3-wide kernels of up to 3 rows, dilation 1, horizontal stride 1 or 2, padded
 * rows up to QC_DW_RW bytes): the input rows of a channel are copied into stack rows with x_zp
 * around them, so that the 3 rows of every output row are one pointer p with the others at
 * p + RW and p + 2 * RW for a compile-time RW (immediate offsets: the loops below need no
 * register for the row stride). Three layouts:
 *  - plane: the whole padded plane in rows of QC_DW_PW bytes, when its rows ((oh - 1) * sh + 3,
 *    sh == sw) fit in QC_DW_PH: the borders are filled once per call and never written again,
 *    each channel copies its h x w values into the middle, then one assembly loop takes every
 *    output row of the channel (even ow) or one row at a time;
 *  - strips: rows of QC_DW_SW bytes, QC_DW_SH of them, for planes too tall or too wide for the
 *    plane layout (sh == sw): the output rows in strips of as many as the rows hold, each strip
 *    copying its input rows (x_zp for rows outside the input; the borders filled once per call),
 *    then the assembly loop over the strip's output rows;
 *  - ring: 3 rows of QC_DW_RW bytes, rows 0 and 1 also written to slots 3 and 4 so that every
 *    output row's 3 rows follow each other; a row above or below the input is a copy of slot 5,
 *    all x_zp; one assembly loop per output row.
 * Kernel rows past kh have zero weights. Per channel: A, B, C = (w0, w2) of kernel rows 0, 1, 2,
 * W = (w1 row 0, w1 row 1), S = (s, w1 row 2) (ASR takes the low byte of S as the shift),
 * T = {bz, mult, ra, advance to the next row's p, p end of the last row}, bz = bias - x_zp * sum(w).
 * The fast epilogue (SMMLA with ra = 2^(s-1) + zp * 2^s, ASR s, SSAT 8) for shifts 33..54, and
 * 29..32 with the weights and bz times 2^(33 - shift) (then shift 33 gives the same value) when
 * the accumulator stays in int32, a fused clamp applied afterwards (qc_dw_clamp8); qc_dw_row (C)
 * for other epilogues. */
#define QC_DW_RING3 6 /* slots 0..2, the copies 3..4 of slots 0..1, slot 5 all x_zp */
#define QC_DW_PW 20   /* plane layout: row bytes, rows */
#define QC_DW_PH 20

#if defined(QC_DW_ASM)
/* Every output row from p (row 0 of the first pair) to the one ending at T[4]: after a row
 * (p == pend) p += T[3], pend += RWSH (the input rows of the next output row). */
#define QC_DW3_NEXT                                                                              \
    "cmp %[p], %[pend]\n\t"                                                                      \
    "bne 1b\n\t"                                                                                 \
    "ldr %[a1], [%[T], #16]\n\t"                                                                 \
    "cmp %[pend], %[a1]\n\t"                                                                     \
    "beq 2f\n\t"                                                                                 \
    "ldr %[a0], [%[T], #12]\n\t"                                                                 \
    "add %[p], %[p], %[a0]\n\t"                                                                  \
    "add %[pend], %[pend], %[rwsh]\n\t"                                                          \
    "b 1b\n"                                                                                     \
    "2:"

#define QC_DW3_EPI                                                                               \
    "ldrd %[v], %[o], [%[T], #4]\n\t"                                                            \
    "smmla %[a0], %[a0], %[v], %[o]\n\t"                                                         \
    "smmla %[a1], %[a1], %[v], %[o]\n\t"                                                         \
    "asr %[a0], %[a0], %[S]\n\t"                                                                 \
    "asr %[a1], %[a1], %[S]\n\t"                                                                 \
    "ssat %[a0], #8, %[a0]\n\t"                                                                  \
    "ssat %[a1], #8, %[a1]\n\t"                                                                  \
    "strb %[a0], [%[yr]], #1\n\t"                                                                \
    "strb %[a1], [%[yr]], #1\n\t"

/* stride 1, output pairs: per pair and kernel row one word x0..x3 split into (x0, x2), (x1, x3):
 * out0 += (x0, x2) . (w0, w2) + x1 * w1, out1 += (x1, x3) . (w0, w2) + x2 * w1; then
 * SMMLA, ASR, SSAT, STRB per output. 33 instructions per 18 MACs, 13 registers.
 * pend: p + 2 * pairs (pairs >= 1); rows RW apart, output rows contiguous. */
static inline __attribute__((always_inline)) void qc_dw3_s1(const int8_t *p, int8_t *yr, const int8_t *pend,
                                                           int32_t A, int32_t B, int32_t C, int32_t W,
                                                           int32_t S, const int32_t *T, const int RW) {
    int32_t a0, a1, v, o;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[a0], [%[T]]\n\t"
        "ldr %[v], [%[p]], #2\n\t"
        "sxtb16 %[o], %[v], ror #8\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlad %[a1], %[o], %[A], %[a0]\n\t"
        "smlad %[a0], %[v], %[A], %[a0]\n\t"
        "smlabb %[a0], %[o], %[W], %[a0]\n\t"
        "smlatb %[a1], %[v], %[W], %[a1]\n\t"
        "ldr %[v], [%[p], %[r1]]\n\t"
        "sxtb16 %[o], %[v], ror #8\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlad %[a0], %[v], %[B], %[a0]\n\t"
        "smlad %[a1], %[o], %[B], %[a1]\n\t"
        "smlabt %[a0], %[o], %[W], %[a0]\n\t"
        "smlatt %[a1], %[v], %[W], %[a1]\n\t"
        "ldr %[v], [%[p], %[r2]]\n\t"
        "sxtb16 %[o], %[v], ror #8\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlad %[a0], %[v], %[C], %[a0]\n\t"
        "smlad %[a1], %[o], %[C], %[a1]\n\t"
        "smlabt %[a0], %[o], %[S], %[a0]\n\t"
        "smlatt %[a1], %[v], %[S], %[a1]\n\t"
        QC_DW3_EPI
        QC_DW3_NEXT
        : [p] "+r"(p), [yr] "+r"(yr), [pend] "+r"(pend), [a0] "=&r"(a0), [a1] "=&r"(a1), [v] "=&r"(v),
          [o] "=&r"(o)
        : [A] "r"(A), [B] "r"(B), [C] "r"(C), [W] "r"(W), [S] "r"(S), [T] "r"(T),
          [r1] "i"(RW - 2), [r2] "i"(2 * RW - 2), [rwsh] "i"(RW)
        : "cc", "memory");
}

/* stride 2, output pairs at p (row 0 of the first pair) + 4j: word x0..x3 gives (x0, x2) and
 * (x1, x3), the word at + 2 gives (x2, x4): out0 += (x0, x2) . (w0, w2) + x1 * w1, out1 +=
 * (x2, x4) . (w0, w2) + x3 * w1 (9 instructions per kernel row and pair, 39 per 18 MACs).
 * pend: p + 4 * pairs (pairs >= 1); rows RW apart, the next output row 2 rows down. */
static inline __attribute__((always_inline)) void qc_dw3_s2(const int8_t *p, int8_t *yr, const int8_t *pend,
                                                           int32_t A, int32_t B, int32_t C, int32_t W,
                                                           int32_t S, const int32_t *T, const int RW) {
    int32_t a0, a1, v, o;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[a0], [%[T]]\n\t"
        "ldr %[v], [%[p]], #4\n\t"
        "sxtb16 %[o], %[v], ror #8\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlatb %[a1], %[o], %[W], %[a0]\n\t"
        "smlabb %[a0], %[o], %[W], %[a0]\n\t"
        "smlad %[a0], %[v], %[A], %[a0]\n\t"
        "ldr %[v], [%[p], #-2]\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlad %[a1], %[v], %[A], %[a1]\n\t"
        "ldr %[v], [%[p], %[q1]]\n\t"
        "sxtb16 %[o], %[v], ror #8\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlatt %[a1], %[o], %[W], %[a1]\n\t"
        "smlabt %[a0], %[o], %[W], %[a0]\n\t"
        "smlad %[a0], %[v], %[B], %[a0]\n\t"
        "ldr %[v], [%[p], %[q2]]\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlad %[a1], %[v], %[B], %[a1]\n\t"
        "ldr %[v], [%[p], %[q3]]\n\t"
        "sxtb16 %[o], %[v], ror #8\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlatt %[a1], %[o], %[S], %[a1]\n\t"
        "smlabt %[a0], %[o], %[S], %[a0]\n\t"
        "smlad %[a0], %[v], %[C], %[a0]\n\t"
        "ldr %[v], [%[p], %[q4]]\n\t"
        "sxtb16 %[v], %[v]\n\t"
        "smlad %[a1], %[v], %[C], %[a1]\n\t"
        QC_DW3_EPI
        QC_DW3_NEXT
        : [p] "+r"(p), [yr] "+r"(yr), [pend] "+r"(pend), [a0] "=&r"(a0), [a1] "=&r"(a1), [v] "=&r"(v),
          [o] "=&r"(o)
        : [A] "r"(A), [B] "r"(B), [C] "r"(C), [W] "r"(W), [S] "r"(S), [T] "r"(T),
          [q1] "i"(RW - 4), [q2] "i"(RW - 2), [q3] "i"(2 * RW - 4), [q4] "i"(2 * RW - 2),
          [rwsh] "i"(2 * RW)
        : "cc", "memory");
}

/* one output of the fast epilogue whose taps start at q (rows RW apart) */
static inline __attribute__((always_inline)) int8_t qc_dw3_one(const int8_t *q, int32_t A, int32_t B,
                                                               int32_t C, int32_t W, int32_t S,
                                                               const int32_t *T, const int RW) {
    int8x4_t v0, v1, v2;
    int32_t a;
    memcpy(&v0, q, 4);
    memcpy(&v1, q + RW, 4);
    memcpy(&v2, q + 2 * RW, 4);
    a = __smlad(__sxtb16(v0), A, T[0]);
    a = __smlabb(qc_sxtb16_ror8(v0), W, a);
    a = __smlad(__sxtb16(v1), B, a);
    a = __smlabt(qc_sxtb16_ror8(v1), W, a);
    a = __smlad(__sxtb16(v2), C, a);
    a = __smlabt(qc_sxtb16_ror8(v2), S, a);
    return (int8_t)__ssat(qc_dw_smmla(a, T[1], T[2]) >> (S & 0xff), 8);
}
#endif

/* Per channel constants of the 3-row path */
typedef struct {
    int32_t w02[3], w1l[3]; /* (w0, w2) and (w1, 0) of kernel rows 0..2 (0 past kh) */
    int32_t T[5];           /* bz, mult, ra, and the assembly loop's row advance and end */
    int32_t s, gen;         /* the ASR shift; gen: qc_requant per output */
} qc_dw3_ch_t;

static void qc_dw3_prep(const int8_t *wc, const int32_t *bias, int32_t c, int32_t kh, int32_t x_zp,
                        const qc_requant_t *rq, qc_dw3_ch_t *q) {
    const int32_t k = rq->per_channel ? c : 0, sh0 = rq->shift[k];
    int32_t bz = bias ? bias[c] : 0, j = 0, s, t, sw = 0;
    int gen = rq->act != QC_ACT_NONE || sh0 < 29 || sh0 > 54;
    int16x2_t e0 = 0, o0 = 0, e1 = 0, o1 = 0, o2 = 0, r2 = 0;
    if (kh == 3) { /* words w0..w3, w3..w6, w5..w8: (w0, w2) (w1, w3) (w3, w5) (w4, w6) (w6, w8) (w7, w5) */
        const int16x2_t ones = 0x10001;
        int8x4_t v;
        memcpy(&v, wc, 4);
        e0 = __sxtb16(v);
        o0 = qc_sxtb16_ror8(v);
        memcpy(&v, wc + 3, 4);
        e1 = __sxtb16(v);
        o1 = qc_sxtb16_ror8(v);
        memcpy(&v, wc + 5, 4);
        o2 = qc_sxtb16_ror8(v);
        __asm__("sxtb16 %0, %1, ror #16" : "=r"(r2) : "r"(v));
        sw = __smlabb(r2, ones, __smlabb(o1, ones, __smlabb(o0, ones, __smlad(o2, ones, __smlad(e1, ones, __smuad(e0, ones))))));
    } else {
        for (t = 0; t < 3 * kh; ++t) sw += wc[t];
    }
    bz -= x_zp * sw;
    if (!gen && sh0 < 33) {
        /* shift 29..32: the weights and bz times 2^j, j = 33 - shift, make acc * 2^j whose
         * qc_mulq by shift 33 is the same value, when |acc| * 2^j stays below 2^31 */
        const int32_t lim = (0x7fffffff >> (33 - sh0)) - 3 * 16384 * kh;
        if (bz > lim || bz < -lim)
            gen = 1;
        else
            j = 33 - sh0;
    }
    s = gen ? 1 : sh0 + j - 32;
    q->s = s;
    q->gen = gen;
    q->T[0] = bz * (1 << j);
    q->T[1] = rq->mult[k];
    q->T[2] = (int32_t)(((uint32_t)1 << (s - 1)) + ((uint32_t)rq->out_zp << s));
    if (kh == 3 && j == 0) {
        q->w02[0] = e0;
        q->w02[1] = e1;
        q->w02[2] = o2;
        q->w1l[0] = (int32_t)((uint32_t)o0 & 0xffffu);
        q->w1l[1] = (int32_t)((uint32_t)o1 & 0xffffu);
        q->w1l[2] = (int32_t)((uint32_t)r2 & 0xffffu);
        return;
    }
    for (t = 0; t < 3; ++t) {
        const int8_t *r = wc + 3 * (t < kh ? t : 0);
        q->w02[t] = t < kh ? (int32_t)((uint32_t)(uint16_t)(r[0] * (1 << j)) |
                                       ((uint32_t)(uint16_t)(r[2] * (1 << j)) << 16))
                           : 0;
        q->w1l[t] = t < kh ? (int32_t)(uint32_t)(uint16_t)(r[1] * (1 << j)) : 0;
    }
}

#if defined(QC_DW_ASM)
/* a fused clamp applied afterwards to n outputs of the fast epilogue (SSAT 8 already made them
 * int8; clamping that to [qmin, qmax] is the reference's clamp): 4 at a time by SSUB8/SEL */
static void qc_dw_clamp8(int8_t *y, int32_t n, int32_t qmin, int32_t qmax) {
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
    for (; n > 0; --n, ++y) *y = (int8_t)qc_clamp_i32(*y, qmin, qmax);
}
#endif

/* qc_dw3_rows in C (qc_dw_row): other epilogues, builds without the assembly; out of line, one
 * copy for the three layouts */
__attribute__((noinline)) static void qc_dw3_rows_c(const int8_t *pr, int8_t *yr, int32_t nrows, int32_t ow,
                                                   int32_t sw, const qc_dw3_ch_t *q, int clamp, int32_t qmin,
                                                   int32_t qmax, int32_t c, const qc_requant_t *rq, int32_t RW) {
    int32_t oy;
    for (oy = 0; oy < nrows; ++oy, pr += sw * RW, yr += ow) {
        const int8_t *r[3];
        r[0] = pr;
        r[1] = pr + RW;
        r[2] = pr + 2 * RW;
        if (q->gen)
            qc_dw_row(r, yr, ow, sw, q->T[0], q->w02, q->w1l, q->T[1], q->T[2], q->s, 0, -128, 127, 1, c, rq);
        else if (clamp)
            qc_dw_row(r, yr, ow, sw, q->T[0], q->w02, q->w1l, q->T[1], q->T[2], q->s, 1, qmin, qmax, 0, c, rq);
        else
            qc_dw_row(r, yr, ow, sw, q->T[0], q->w02, q->w1l, q->T[1], q->T[2], q->s, 0, -128, 127, 0, c, rq);
    }
}

/* output rows [oy0, oy1) of one channel from padded rows RW apart, row oy's first at
 * pr + (oy - oy0) * sh * RW; ALL: the rows in one assembly loop (even ow, output rows
 * contiguous) */
static inline __attribute__((always_inline)) void qc_dw3_rows(
    const int8_t *pr, int8_t *yr, int32_t nrows, int32_t ow, int32_t sw, qc_dw3_ch_t *q, int clamp,
    int32_t qmin, int32_t qmax, int32_t c, const qc_requant_t *rq, const int RW, int ALL) {
    int32_t oy;
#if defined(QC_DW_ASM)
    if (!q->gen) {
        const int32_t A = q->w02[0], B = q->w02[1], C = q->w02[2];
        const int32_t W = (int32_t)(((uint32_t)q->w1l[0] & 0xffffu) | ((uint32_t)q->w1l[1] << 16));
        const int32_t S = (int32_t)((uint32_t)q->s | ((uint32_t)q->w1l[2] << 16));
        const int32_t pairs = ow >> 1, step = 2 * sw * pairs;
        int8_t *const y0 = yr;
        if (ALL) { /* ow even */
            q->T[3] = sw * RW - step;
            q->T[4] = (int32_t)(intptr_t)(pr + (ptrdiff_t)(nrows - 1) * sw * RW + step);
            if (sw == 1)
                qc_dw3_s1(pr, yr, pr + step, A, B, C, W, S, q->T, RW);
            else
                qc_dw3_s2(pr, yr, pr + step, A, B, C, W, S, q->T, RW);
        } else {
            for (oy = 0; oy < nrows; ++oy, pr += sw * RW, yr += ow) {
                if (pairs) {
                    q->T[4] = (int32_t)(intptr_t)(pr + step);
                    if (sw == 1)
                        qc_dw3_s1(pr, yr, pr + step, A, B, C, W, S, q->T, RW);
                    else
                        qc_dw3_s2(pr, yr, pr + step, A, B, C, W, S, q->T, RW);
                }
                if (ow & 1) yr[ow - 1] = qc_dw3_one(pr + (ptrdiff_t)(ow - 1) * sw, A, B, C, W, S, q->T, RW);
            }
        }
        if (clamp) qc_dw_clamp8(y0, nrows * ow, qmin, qmax);
        return;
    }
#endif
    (void)ALL;
    (void)oy;
    qc_dw3_rows_c(pr, yr, nrows, ow, sw, q, clamp, qmin, qmax, c, rq, RW);
}

/* n bytes from s to d and d2 (the same when the slot has no copy), word at a time */
static inline void qc_dw_cp2(int8_t *d, int8_t *d2, const int8_t *s, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v;
        memcpy(&v, s + i, 4);
        __asm__("" : "+r"(v)); /* keeps GCC from turning the loop into memcpy calls */
        memcpy(d + i, &v, 4);
        memcpy(d2 + i, &v, 4);
    }
    for (; i < n; ++i) {
        d[i] = s[i];
        d2[i] = s[i];
    }
}

/* the plane layout (see above): 1 when taken */
__attribute__((noinline)) static int qc_dw3_plane(const int8_t *x, const int8_t *wt, const int32_t *bias,
                                                  const qc_conv_params_t *p, const qc_requant_t *rq,
                                                  int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, kh = p->kh, sw = p->sw;
    const int32_t ow = p->ow, oh = p->oh, h = p->h, w = p->w, pt = p->pt, pl = p->pl;
    const int32_t len = (ow - 1) * sw + 4, rows = (oh - 1) * sw + 3;
    const int32_t cnt = w < len - pl ? w : len - pl; /* bytes of an input row in a padded row */
    const int32_t iy1 = h < rows - pt ? h : rows - pt; /* input rows [0, iy1) are used */
    const int32_t qmin = rq->qmin, qmax = rq->qmax;
    const int clamp = qmin > -128 || qmax < 127;
    const uint32_t z4 = (uint8_t)p->x_zp * 0x01010101u;
    int8_t buf[QC_DW_PH * QC_DW_PW] __attribute__((aligned(8)));
    int32_t n, c, t;
    if (p->sh != sw || len > QC_DW_PW || rows > QC_DW_PH) return 0;
    for (t = 0; t < rows * QC_DW_PW; t += 4) memcpy(buf + t, &z4, 4);
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * oh * ow;
            qc_dw3_ch_t q;
            int32_t iy;
            if (cnt == w && (w == 16 || w == 8 || w == 4)) { /* whole rows of 1, 2, 4 words */
                const int8_t *s = xc;
                int8_t *d = buf + pt * QC_DW_PW + pl;
                for (iy = 0; iy < iy1; ++iy, s += w, d += QC_DW_PW) {
                    uint32_t v0, v1, v2, v3;
                    memcpy(&v0, s, 4);
                    if (w >= 8) memcpy(&v1, s + 4, 4);
                    if (w == 16) {
                        memcpy(&v2, s + 8, 4);
                        memcpy(&v3, s + 12, 4);
                    }
                    memcpy(d, &v0, 4);
                    if (w >= 8) memcpy(d + 4, &v1, 4);
                    if (w == 16) {
                        memcpy(d + 8, &v2, 4);
                        memcpy(d + 12, &v3, 4);
                    }
                }
            } else {
                for (iy = 0; iy < iy1; ++iy) {
                    const int8_t *s = xc + (ptrdiff_t)iy * w;
                    int8_t *d = buf + (iy + pt) * QC_DW_PW + pl;
                    int32_t i = 0;
                    for (; i + 4 <= cnt; i += 4) {
                        uint32_t v;
                        memcpy(&v, s + i, 4);
                        __asm__("" : "+r"(v)); /* no memcpy calls */
                        memcpy(d + i, &v, 4);
                    }
                    for (; i < cnt; ++i) d[i] = s[i];
                }
            }
            qc_dw3_prep(wt + (ptrdiff_t)c * kh * 3, bias, c, kh, p->x_zp, rq, &q);
            if (ow & 1)
                qc_dw3_rows(buf, yc, oh, ow, sw, &q, clamp, qmin, qmax, c, rq, QC_DW_PW, 0);
            else
                qc_dw3_rows(buf, yc, oh, ow, sw, &q, clamp, qmin, qmax, c, rq, QC_DW_PW, 1);
        }
    }
    return 1;
}

/* input rows iy0 .. iy0 + n - 1 of plane xc (h rows of w) into buffer rows d, d + RW, ... at
 * column pl: cnt bytes of each (x_zp for rows outside the input) */
__attribute__((noinline)) static void qc_dw3_fill(int8_t *d, const int8_t *xc, int32_t iy0, int32_t n, int32_t h, int32_t w,
                        int32_t cnt, int32_t RW, uint32_t z4) {
    int32_t t = 0, i;
    for (; t < n && iy0 + t < 0; ++t, d += RW) { /* above the input */
        for (i = 0; i + 4 <= cnt; i += 4) memcpy(d + i, &z4, 4);
        for (; i < cnt; ++i) d[i] = (int8_t)z4;
    }
    if (t < n && iy0 + t < h) {
        const int32_t t1 = n < h - iy0 ? n : h - iy0; /* rows [t, t1) are inside */
        const int8_t *s = xc + (ptrdiff_t)(iy0 + t) * w;
        if (cnt == w && (w == 16 || w == 8 || w == 4)) { /* whole rows of 1, 2, 4 words */
            for (; t < t1; ++t, s += w, d += RW) {
                uint32_t v0, v1, v2, v3;
                memcpy(&v0, s, 4);
                if (w >= 8) memcpy(&v1, s + 4, 4);
                if (w == 16) {
                    memcpy(&v2, s + 8, 4);
                    memcpy(&v3, s + 12, 4);
                }
                memcpy(d, &v0, 4);
                if (w >= 8) memcpy(d + 4, &v1, 4);
                if (w == 16) {
                    memcpy(d + 8, &v2, 4);
                    memcpy(d + 12, &v3, 4);
                }
            }
        } else {
            for (; t < t1; ++t, s += w, d += RW) {
                for (i = 0; i + 8 <= cnt; i += 8) {
                    uint32_t v0, v1;
                    memcpy(&v0, s + i, 4);
                    memcpy(&v1, s + i + 4, 4);
                    __asm__("" : "+r"(v0), "+r"(v1)); /* no memcpy calls */
                    memcpy(d + i, &v0, 4);
                    memcpy(d + i + 4, &v1, 4);
                }
                for (; i < cnt; ++i) d[i] = s[i];
            }
        }
    }
    for (; t < n; ++t, d += RW) { /* below the input */
        for (i = 0; i + 4 <= cnt; i += 4) memcpy(d + i, &z4, 4);
        for (; i < cnt; ++i) d[i] = (int8_t)z4;
    }
}

/* the strip layout (see above): 1 when taken */
#define QC_DW_SW 68 /* strip layout: row bytes, rows */
#define QC_DW_SH 22
__attribute__((noinline)) static int qc_dw3_strips(const int8_t *x, const int8_t *wt, const int32_t *bias,
                                                  const qc_conv_params_t *p, const qc_requant_t *rq,
                                                  int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, kh = p->kh, sw = p->sw;
    const int32_t ow = p->ow, oh = p->oh, pt = p->pt, pl = p->pl;
    const int32_t len = (ow - 1) * sw + 4, R = (QC_DW_SH - 3) / sw + 1; /* output rows per strip */
    const int32_t used = QC_DW_SH < (oh - 1) * sw + 3 ? QC_DW_SH : (oh - 1) * sw + 3;
    const int32_t cnt = p->w < len - pl ? p->w : len - pl; /* bytes of an input row in a buffer row */
    const int32_t qmin = rq->qmin, qmax = rq->qmax;
    const int clamp = qmin > -128 || qmax < 127;
    const uint32_t z4 = (uint8_t)p->x_zp * 0x01010101u;
    int8_t buf[QC_DW_SH * QC_DW_SW] __attribute__((aligned(8)));
    int32_t n, c, t, oy;
    if (p->sh != sw || len > QC_DW_SW) return 0;
    for (t = 0; t < used; ++t) {
        int32_t i;
        for (i = 0; i < len; i += 4) memcpy(buf + t * QC_DW_SW + i, &z4, 4);
    }
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * oh * ow;
            qc_dw3_ch_t q;
            qc_dw3_prep(wt + (ptrdiff_t)c * kh * 3, bias, c, kh, p->x_zp, rq, &q);
            for (oy = 0; oy < oh; oy += R) {
                const int32_t nr = oh - oy < R ? oh - oy : R;
                int8_t *yr = yc + (ptrdiff_t)oy * ow;
                if (cnt > 0) qc_dw3_fill(buf + pl, xc, oy * sw - pt, (nr - 1) * sw + 3, p->h, p->w, cnt, QC_DW_SW, z4);
                if (ow & 1)
                    qc_dw3_rows(buf, yr, nr, ow, sw, &q, clamp, qmin, qmax, c, rq, QC_DW_SW, 0);
                else
                    qc_dw3_rows(buf, yr, nr, ow, sw, &q, clamp, qmin, qmax, c, rq, QC_DW_SW, 1);
            }
        }
    }
    return 1;
}

/* the ring layout (see above) */
__attribute__((noinline)) static void qc_dw3_ring(const int8_t *x, const int8_t *wt, const int32_t *bias,
                                                  const qc_conv_params_t *p, const qc_requant_t *rq,
                                                  int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, kh = p->kh, sh = p->sh, sw = p->sw;
    const int32_t ow = p->ow, oh = p->oh, h = p->h, w = p->w, pt = p->pt, pl = p->pl;
    const int32_t len = (ow - 1) * sw + 4;
    const int32_t cnt = w < len - pl ? w : len - pl; /* bytes of an input row in a slot */
    const int32_t qmin = rq->qmin, qmax = rq->qmax;
    const int clamp = qmin > -128 || qmax < 127;
    const uint32_t z4 = (uint8_t)p->x_zp * 0x01010101u;
    int8_t ring[QC_DW_RING3 * QC_DW_RW] __attribute__((aligned(8)));
    int32_t n, c, oy, t;
    for (t = 0; t < QC_DW_RING3; ++t) {
        int32_t i;
        for (i = 0; i < len; i += 4) memcpy(ring + t * QC_DW_RW + i, &z4, 4);
    }
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * oh * ow;
            int32_t loaded = 0, ls = 0, top = 0;
            qc_dw3_ch_t q;
            qc_dw3_prep(wt + (ptrdiff_t)c * kh * 3, bias, c, kh, p->x_zp, rq, &q);
            for (oy = 0; oy < oh; ++oy) {
                const int32_t base = oy * sh;
                const int8_t *pr;
                for (; loaded < base; ++loaded) ls = ls == 2 ? 0 : ls + 1; /* rows skipped (sh > 3) */
                for (; loaded < base + 3; ++loaded, ls = ls == 2 ? 0 : ls + 1) {
                    const int32_t iy = loaded - pt;
                    int8_t *d = ring + ls * QC_DW_RW + pl;
                    const int8_t *src = iy >= 0 && iy < h ? xc + (ptrdiff_t)iy * w : ring + 5 * QC_DW_RW;
                    qc_dw_cp2(d, ls < 2 ? d + 3 * QC_DW_RW : d, src, cnt);
                }
                pr = ring + top * QC_DW_RW;
                top += sh;
                while (top >= 3) top -= 3;
                qc_dw3_rows(pr, yc + (ptrdiff_t)oy * ow, 1, ow, sw, &q, clamp, qmin, qmax, c, rq, QC_DW_RW, 0);
            }
        }
    }
}

/* 1 when the 3-row path takes the layer */
static int qc_dw3(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                  const qc_requant_t *rq, int8_t *y) {
    const int32_t sw = p->sw, len = (p->ow - 1) * sw + 4;
    if (p->kw != 3 || p->dw != 1 || p->dh != 1 || p->kh > 3 || (sw != 1 && sw != 2) || len > QC_DW_RW)
        return 0;
    if (!qc_dw3_plane(x, wt, bias, p, rq, y) && !qc_dw3_strips(x, wt, bias, p, rq, y))
        qc_dw3_ring(x, wt, bias, p, rq, y);
    return 1;
}
#endif

QC_NOIPA void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                           const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, khw = p->kh * p->kw;
    int32_t ox0, ox1, n, c, oy, ox, t;
#if defined(QC_DW_DSP)
    if (qc_dw3(x, wt, bias, p, rq, y) || qc_dw_padded(x, wt, bias, p, rq, y)) return;
#endif
    qc_interior(p->w, p->ow, p->kw, p->sw, p->dw, p->pl, &ox0, &ox1);
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            const int8_t *wc = wt + (ptrdiff_t)c * khw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * p->oh * p->ow;
            const int32_t b = bias ? bias[c] : 0;
            int32_t k = rq->per_channel ? c : 0;
            qc_dw_rq_t q;
#if defined(QC_DW_DSP)
            int32_t pair_end = ox0;
            int32_t wp[3 * QC_DW_MAX_ROWS];
            if (p->kw == 3 && p->sw == 1 && p->dw == 1 && p->kh <= QC_DW_MAX_ROWS) {
                pair_end = ox0 + (ox1 - ox0) / 2 * 2;
                for (t = 0; t < p->kh; ++t) {
                    const int8_t *r = wc + 3 * t;
                    wp[3 * t] = (int32_t)(((uint32_t)(uint16_t)r[0]) | ((uint32_t)(uint16_t)r[2] << 16));
                    wp[3 * t + 1] = (int32_t)(uint32_t)(uint16_t)r[1];
                    wp[3 * t + 2] = (int32_t)((uint32_t)(uint16_t)r[1] << 16);
                }
            }
#endif
            q.fixed = rq->act == QC_ACT_NONE;
            q.mult = rq->mult[k];
            q.shift = rq->shift[k];
            q.zp = rq->out_zp;
            q.qmin = rq->qmin;
            q.qmax = rq->qmax;
            for (oy = 0; oy < p->oh; ++oy) {
                /* kernel rows [ky0, ky1) fall inside the input; bzr: bias - x_zp * their weights */
                int32_t iy0 = oy * p->sh - p->pt, ky0 = 0, ky1 = p->kh, nrows, bzr = b;
                int8_t *yr = yc + (ptrdiff_t)oy * p->ow;
                ptrdiff_t xo;
                while (ky0 < ky1 && iy0 + ky0 * p->dh < 0) ++ky0;
                while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dh >= p->h) --ky1;
                nrows = ky1 - ky0;
                if (nrows == 0) {
                    for (ox = 0; ox < p->ow; ++ox) yr[ox] = qc_dw_rq(b, &q, c, rq);
                    continue;
                }
                for (t = ky0 * p->kw; t < ky1 * p->kw; ++t) bzr -= p->x_zp * wc[t];
                /* input offset of output column 0's first tap in row ky0 (may be negative) */
                xo = (ptrdiff_t)(iy0 + ky0 * p->dh) * p->w - p->pl;
                for (ox = 0; ox < ox0; ++ox) yr[ox] = qc_dw_rq(qc_dw_edge(xc, wc, b, p, iy0, ky0, ky1, ox), &q, c, rq);
#if defined(QC_DW_DSP)
                for (; ox < pair_end; ox += 2) {
                    int32_t a0 = bzr, a1 = bzr;
                    if (nrows == 3) /* constant rows: unrolled, weights in registers */
                        qc_dw_pair(xc + (xo + ox), wp + 3 * ky0, 3, p->dh * p->w, &a0, &a1);
                    else
                        qc_dw_pair(xc + (xo + ox), wp + 3 * ky0, nrows, p->dh * p->w, &a0, &a1);
                    yr[ox] = qc_dw_rq(a0, &q, c, rq);
                    yr[ox + 1] = qc_dw_rq(a1, &q, c, rq);
                }
#endif
                for (; ox < ox1; ++ox)
                    yr[ox] = qc_dw_rq(qc_dw_inner(xc + (xo + ox * p->sw), wc + ky0 * p->kw, bzr, nrows, p), &q, c, rq);
                for (; ox < p->ow; ++ox) yr[ox] = qc_dw_rq(qc_dw_edge(xc, wc, b, p, iy0, ky0, ky1, ox), &q, c, rq);
            }
        }
    }
}
