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

/* one output row from the padded input rows r[0..2] */
static inline __attribute__((always_inline)) void qc_dw_row(
    const int8_t *const *r, int8_t *yr, int32_t ow, int32_t sw, int32_t bz, const int32_t *w02,
    const int32_t *w1l, int32_t m, int32_t ra, int32_t s, int clamp, int32_t qmin, int32_t qmax,
    int gen, int32_t c, const qc_requant_t *rq) {
    const int8_t *r0 = r[0], *r1 = r[1], *r2 = r[2];
    int32_t ox;
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
                yr[0] = qc_requant(a0, c, rq);
                yr[1] = qc_requant(a1, c, rq);
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
                yr[0] = qc_requant(a0, c, rq);
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
                yr[ox] = qc_requant(a0, c, rq);
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
#endif

QC_NOIPA void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                           const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, khw = p->kh * p->kw;
    int32_t ox0, ox1, n, c, oy, ox, t;
#if defined(QC_DW_DSP)
    if (qc_dw_padded(x, wt, bias, p, rq, y)) return;
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
