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
#include "qc_dwconv_util.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define QC_DW_NEON 1
#define QC_DW_MAX_TAPS 64 /* kernels with more taps use the plain interior */
#endif

/* qc_floordiv, qc_interior, qc_dw_edge, qc_dw_inner: qc_dwconv_util.h */


#if defined(QC_DW_NEON)
#if defined(__GNUC__)
#define QC_FORCE_INLINE static inline __attribute__((always_inline))
#else
#define QC_FORCE_INLINE static inline
#endif

/* qc_requant's fixed-point path on 4 lanes (SMULL, SRSHL by -shift, XTN) */
typedef struct {
    int32x2_t mult;
    int64x2_t nsh;
    int32x4_t zp, qmin, qmax;
} qc_dw_vq_t;

QC_FORCE_INLINE int32x4_t qc_rq4(int32x4_t x, const qc_dw_vq_t *v) {
    x = vcombine_s32(vmovn_s64(vrshlq_s64(vmull_s32(vget_low_s32(x), v->mult), v->nsh)),
                     vmovn_s64(vrshlq_s64(vmull_s32(vget_high_s32(x), v->mult), v->nsh)));
    return vminq_s32(vmaxq_s32(vaddq_s32(x, v->zp), v->qmin), v->qmax);
}

/* NV (8 or 16) outputs from x0 (stride SW: LD1, or LD2 reading 2 * NV bytes) over kernel rows
 * [0, nrows) of wr (KW taps each), requantized and stored at y. */
QC_FORCE_INLINE void qc_dw_n(const int8_t *x0, const int16_t *wr, int32_t bz, int32_t nrows,
                             ptrdiff_t rs, int32_t dw, int32_t KW, int32_t SW, int32_t NV,
                             const qc_dw_vq_t *vq, const qc_requant_t *rq, int32_t c, int8_t *y) {
    int32x4_t a0 = vdupq_n_s32(bz), a1 = a0, a2 = a0, a3 = a0;
    int32_t ky, kx;
#define QC_LOAD(off)                                                                             \
    (NV == 16 ? (SW == 1 ? vld1q_s8(x0 + (off)) : vld2q_s8(x0 + (off)).val[0])                    \
              : vcombine_s8(SW == 1 ? vld1_s8(x0 + (off)) : vld2_s8(x0 + (off)).val[0], vdup_n_s8(0)))
    for (ky = 0; ky < nrows; ++ky, x0 += rs, wr += KW) {
        if (KW == 3) { /* the row's weights in lanes (w16 has a spare element after the last) */
            const int16x4_t wv = vld1_s16(wr);
#define QC_TAP(kx)                                                                               \
    do {                                                                                         \
        int8x16_t v = QC_LOAD((kx) * dw);                                                        \
        int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);                          \
        a0 = vmlal_lane_s16(a0, vget_low_s16(lo), wv, kx);                                       \
        a1 = vmlal_high_lane_s16(a1, lo, wv, kx);                                                \
        if (NV == 16) {                                                                          \
            a2 = vmlal_lane_s16(a2, vget_low_s16(hi), wv, kx);                                   \
            a3 = vmlal_high_lane_s16(a3, hi, wv, kx);                                            \
        }                                                                                        \
    } while (0)
            QC_TAP(0);
            QC_TAP(1);
            QC_TAP(2);
#undef QC_TAP
            continue;
        }
        for (kx = 0; kx < KW; ++kx) {
            int8x16_t v = QC_LOAD(kx * dw);
            int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
            a0 = vmlal_n_s16(a0, vget_low_s16(lo), wr[kx]);
            a1 = vmlal_high_n_s16(a1, lo, wr[kx]);
            if (NV == 16) {
                a2 = vmlal_n_s16(a2, vget_low_s16(hi), wr[kx]);
                a3 = vmlal_high_n_s16(a3, hi, wr[kx]);
            }
        }
    }
#undef QC_LOAD
    if (rq->act == QC_ACT_NONE) {
        int16x8_t l = vcombine_s16(vmovn_s32(qc_rq4(a0, vq)), vmovn_s32(qc_rq4(a1, vq)));
        if (NV == 16) {
            int16x8_t h = vcombine_s16(vmovn_s32(qc_rq4(a2, vq)), vmovn_s32(qc_rq4(a3, vq)));
            vst1q_s8(y, vcombine_s8(vmovn_s16(l), vmovn_s16(h)));
        } else {
            vst1_s8(y, vmovn_s16(l));
        }
    } else {
        int32_t s[16], i;
        vst1q_s32(s, a0);
        vst1q_s32(s + 4, a1);
        vst1q_s32(s + 8, a2);
        vst1q_s32(s + 12, a3);
        for (i = 0; i < NV; ++i) y[i] = qc_requant(s[i], c, rq);
    }
}

/* Outputs [first, lim) of a row, lim - first >= NV; the last chunk overlaps the one before. */
QC_FORCE_INLINE void qc_dw_row(const int8_t *xc, ptrdiff_t xo, int32_t first, int32_t lim,
                               const int16_t *wr, int32_t bz, int32_t nrows, ptrdiff_t rs, int32_t dw,
                               int32_t KW, int32_t SW, int32_t NV, const qc_dw_vq_t *vq,
                               const qc_requant_t *rq, int32_t c, int8_t *yr) {
    int32_t ox;
    for (ox = first; ox + NV <= lim; ox += NV)
        qc_dw_n(xc + (xo + ox * SW), wr, bz, nrows, rs, dw, KW, SW, NV, vq, rq, c, yr + ox);
    if (ox < lim)
        qc_dw_n(xc + (xo + (lim - NV) * SW), wr, bz, nrows, rs, dw, KW, SW, NV, vq, rq, c, yr + lim - NV);
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
            qc_dw_vq_t vq;
            int32_t lim = ox0; /* chunks of 8 or 16 within [ox0, lim) */
            int16_t w16[QC_DW_MAX_TAPS + 1] = {0}; /* + 1: 3-tap rows load 4 */
            if (khw <= QC_DW_MAX_TAPS && (p->sw == 1 || p->sw == 2)) {
                /* chunks whose loads (LD2 reads one byte more) stay inside the row */
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
#if defined(QC_DW_NEON)
            vq.mult = vdup_n_s32(q.mult);
            vq.nsh = vdupq_n_s64(-(int64_t)q.shift);
            vq.zp = vdupq_n_s32(q.zp);
            vq.qmin = vdupq_n_s32(q.qmin);
            vq.qmax = vdupq_n_s32(q.qmax);
#endif
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
#if defined(QC_DW_NEON)
                if (lim - ox0 >= 8) {
                    const int16_t *wr = w16 + ky0 * p->kw;
                    const ptrdiff_t rs = (ptrdiff_t)p->dh * p->w;
                    const int32_t nv = lim - ox0 >= 16 ? 16 : 8, kw3 = p->kw == 3;
                    /* constant taps and widths: unrolled */
                    if (nv == 16 && kw3 && p->sw == 1)
                        qc_dw_row(xc, xo, ox0, lim, wr, bzr, nrows, rs, p->dw, 3, 1, 16, &vq, rq, c, yr);
                    else if (nv == 16 && kw3)
                        qc_dw_row(xc, xo, ox0, lim, wr, bzr, nrows, rs, p->dw, 3, 2, 16, &vq, rq, c, yr);
                    else if (nv == 8 && kw3 && p->sw == 1)
                        qc_dw_row(xc, xo, ox0, lim, wr, bzr, nrows, rs, p->dw, 3, 1, 8, &vq, rq, c, yr);
                    else if (nv == 8 && kw3)
                        qc_dw_row(xc, xo, ox0, lim, wr, bzr, nrows, rs, p->dw, 3, 2, 8, &vq, rq, c, yr);
                    else if (p->sw == 1)
                        qc_dw_row(xc, xo, ox0, lim, wr, bzr, nrows, rs, p->dw, p->kw, 1, nv, &vq, rq, c, yr);
                    else
                        qc_dw_row(xc, xo, ox0, lim, wr, bzr, nrows, rs, p->dw, p->kw, 2, nv, &vq, rq, c, yr);
                    ox = lim;
                }
#endif
                for (; ox < ox1; ++ox)
                    yr[ox] = qc_dw_rq(qc_dw_inner(xc + (xo + ox * p->sw), wc + ky0 * p->kw, bzr, nrows, p), &q, c, rq);
                for (; ox < p->ow; ++ox) yr[ox] = qc_dw_rq(qc_dw_edge(xc, wc, b, p, iy0, ky0, ky1, ox), &q, c, rq);
            }
        }
    }
}
