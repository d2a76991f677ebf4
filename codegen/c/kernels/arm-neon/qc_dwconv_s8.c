/* qc_dwconv_s8, AArch64 NEON: bit-identical to kernels/reference/qc_dwconv_s8.c.
 *
 * Each output row uses the kernel rows that fall inside the input. Its columns whose taps all
 * lie inside horizontally compute acc = bias - x_zp * sum(w of those rows) + sum x * w, the
 * reference's int32 value, 8 columns at a time for horizontal strides 1 and 2 (LD1 / LD2 of
 * the input row, SXTL, SMLAL by the tap's weight), requantized 8 at a time (SMULL, SRSHL, XTN:
 * qc_requant's arithmetic; float epilogues call qc_requant). The other columns compute as the
 * reference does (in-bounds taps of (x - x_zp) * w). Without NEON on AArch64 the same split
 * runs in plain C. */
#include "qc_kernels.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define QC_DW_NEON 1
#define QC_DW_MAX_TAPS 64 /* kernels with more taps use the plain interior */
#endif

/* floor(a / b) for b > 0 */
static int32_t qc_floordiv(int32_t a, int32_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* [lo, hi): outputs whose taps start at o * s - pad and all lie in [0, size) */
static void qc_interior(int32_t size, int32_t out, int32_t k, int32_t s, int32_t d, int32_t pad,
                        int32_t *lo, int32_t *hi) {
    int32_t a = qc_floordiv(pad + s - 1, s);
    int32_t b = qc_floordiv(size - 1 + pad - (k - 1) * d, s) + 1;
    a = a < 0 ? 0 : (a > out ? out : a);
    b = b < a ? a : (b > out ? out : b);
    *lo = a;
    *hi = b;
}

/* One output with bounds checks, as the reference computes it. */
static int32_t qc_dw_border(const int8_t *xc, const int8_t *wc, int32_t b, const qc_conv_params_t *p,
                            int32_t oy, int32_t ox) {
    int32_t acc = b, ky, kx;
    for (ky = 0; ky < p->kh; ++ky) {
        int32_t iy = oy * p->sh - p->pt + ky * p->dh;
        if (iy < 0 || iy >= p->h) continue;
        for (kx = 0; kx < p->kw; ++kx) {
            int32_t ix = ox * p->sw - p->pl + kx * p->dw;
            if (ix < 0 || ix >= p->w) continue;
            acc += ((int32_t)xc[iy * p->w + ix] - p->x_zp) * wc[ky * p->kw + kx];
        }
    }
    return acc;
}

/* One output whose taps of rows [0, nrows) from x0 all lie inside: bz = bias - x_zp * sum of
 * those rows' weights, wc = their first weight. */
static inline int32_t qc_dw_inner(const int8_t *x0, const int8_t *wc, int32_t bz, int32_t nrows,
                                  const qc_conv_params_t *p) {
    int32_t acc = bz, ky, kx;
    if (nrows == 3 && p->kw == 3) {
        const ptrdiff_t rs = (ptrdiff_t)p->dh * p->w, d = p->dw;
        const int8_t *r1 = x0 + rs, *r2 = r1 + rs;
        return acc + x0[0] * wc[0] + x0[d] * wc[1] + x0[2 * d] * wc[2] + r1[0] * wc[3] +
               r1[d] * wc[4] + r1[2 * d] * wc[5] + r2[0] * wc[6] + r2[d] * wc[7] + r2[2 * d] * wc[8];
    }
    for (ky = 0; ky < nrows; ++ky) {
        const int8_t *r = x0 + (ptrdiff_t)ky * p->dh * p->w;
        const int8_t *wr = wc + ky * p->kw;
        for (kx = 0; kx < p->kw; ++kx) acc += r[kx * p->dw] * wr[kx];
    }
    return acc;
}

#if defined(QC_DW_NEON)
/* 8 outputs from x0 (stride 1 or 2) over rows [0, nrows) of w16, requantized and stored at y. */
static inline void qc_dw_8(const int8_t *x0, const int16_t *w16, int32_t bz, int32_t nrows,
                           const qc_conv_params_t *p, int32_t sw, const qc_requant_t *rq, int32_t c,
                           int8_t *y) {
    int32x4_t lo = vdupq_n_s32(bz), hi = lo;
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < nrows; ++ky) {
        const int8_t *r = x0 + (ptrdiff_t)ky * p->dh * p->w;
        for (kx = 0; kx < p->kw; ++kx, ++t) {
            int8x8_t v = sw == 1 ? vld1_s8(r + kx * p->dw) : vld2_s8(r + kx * p->dw).val[0];
            int16x8_t v16 = vmovl_s8(v);
            lo = vmlal_n_s16(lo, vget_low_s16(v16), w16[t]);
            hi = vmlal_high_n_s16(hi, v16, w16[t]);
        }
    }
    if (rq->act == QC_ACT_NONE) {
        int32_t k = rq->per_channel ? c : 0;
        const int32x2_t mult = vdup_n_s32(rq->mult[k]);
        const int64x2_t nsh = vdupq_n_s64(-(int64_t)rq->shift[k]);
        const int32x4_t zp = vdupq_n_s32(rq->out_zp);
        const int32x4_t qmin = vdupq_n_s32(rq->qmin), qmax = vdupq_n_s32(rq->qmax);
        lo = vcombine_s32(vmovn_s64(vrshlq_s64(vmull_s32(vget_low_s32(lo), mult), nsh)),
                          vmovn_s64(vrshlq_s64(vmull_s32(vget_high_s32(lo), mult), nsh)));
        hi = vcombine_s32(vmovn_s64(vrshlq_s64(vmull_s32(vget_low_s32(hi), mult), nsh)),
                          vmovn_s64(vrshlq_s64(vmull_s32(vget_high_s32(hi), mult), nsh)));
        lo = vminq_s32(vmaxq_s32(vaddq_s32(lo, zp), qmin), qmax);
        hi = vminq_s32(vmaxq_s32(vaddq_s32(hi, zp), qmin), qmax);
        vst1_s8(y, vmovn_s16(vcombine_s16(vmovn_s32(lo), vmovn_s32(hi))));
    } else {
        int32_t s[8], i;
        vst1q_s32(s, lo);
        vst1q_s32(s + 4, hi);
        for (i = 0; i < 8; ++i) y[i] = qc_requant(s[i], c, rq);
    }
}
#endif

typedef struct {
    int32_t fixed, mult, shift, zp, qmin, qmax;
} qc_dw_rq_t;

/* qc_requant with the channel's parameters in locals */
static inline int8_t qc_dw_rq(int32_t acc, const qc_dw_rq_t *q, int32_t c, const qc_requant_t *rq) {
    if (q->fixed) return (int8_t)qc_clamp_i32(qc_mulq(acc, q->mult, q->shift) + q->zp, q->qmin, q->qmax);
    return qc_requant(acc, c, rq);
}

QC_NOIPA void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                           const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, khw = p->kh * p->kw;
    int32_t ox0, ox1, n, c, oy, ox, t;
    qc_interior(p->w, p->ow, p->kw, p->sw, p->dw, p->pl, &ox0, &ox1);
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            const int8_t *wc = wt + (ptrdiff_t)c * khw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * p->oh * p->ow;
            const int32_t b = bias ? bias[c] : 0;
            int32_t k = rq->per_channel ? c : 0;
            qc_dw_rq_t q;
#if defined(QC_DW_NEON)
            int32_t lim = ox0; /* chunks of 8 within [ox0, lim) */
            int16_t w16[QC_DW_MAX_TAPS];
            if (khw <= QC_DW_MAX_TAPS && (p->sw == 1 || p->sw == 2)) {
                /* chunks of 8 whose loads (LD2 reads one byte more) stay inside the row */
                int32_t last = p->w - 1 + p->pl - (p->kw - 1) * p->dw - (p->sw - 1);
                lim = qc_floordiv(last, p->sw) + 1; /* outputs with ox < lim load safely */
                lim = lim < ox1 ? lim : ox1;
                for (t = 0; t < khw; ++t) w16[t] = wc[t];
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
                for (ox = 0; ox < ox0; ++ox) yr[ox] = qc_dw_rq(qc_dw_border(xc, wc, b, p, oy, ox), &q, c, rq);
#if defined(QC_DW_NEON)
                if (lim - ox0 >= 8) { /* the last chunk overlaps the one before */
                    const int16_t *wr = w16 + ky0 * p->kw;
                    for (; ox + 8 <= lim; ox += 8)
                        qc_dw_8(xc + (xo + ox * p->sw), wr, bzr, nrows, p, p->sw, rq, c, yr + ox);
                    if (ox < lim)
                        qc_dw_8(xc + (xo + (lim - 8) * p->sw), wr, bzr, nrows, p, p->sw, rq, c, yr + lim - 8);
                    ox = lim;
                }
#endif
                for (; ox < ox1; ++ox)
                    yr[ox] = qc_dw_rq(qc_dw_inner(xc + (xo + ox * p->sw), wc + ky0 * p->kw, bzr, nrows, p), &q, c, rq);
                for (; ox < p->ow; ++ox) yr[ox] = qc_dw_rq(qc_dw_border(xc, wc, b, p, oy, ox), &q, c, rq);
            }
        }
    }
}
