/* qc_dwconv_s8: int8 depthwise Conv2D (group == cin, cout = cin * multiplier), reference.
 * Output channel c reads input channel c / multiplier; acc = bias[c] + sum over in-bounds taps
 * of (x - x_zp) * w[c][ky][kx] (padding contributes 0); bias NULL means 0;
 * y = qc_requant(acc, c, rq).
 *
 * Computed one output row at a time, in blocks of QC_DW_BLOCK outputs whose int32 accumulators
 * live on the stack: the kernel rows [ky0, ky1) that fall inside the input are found once per
 * row; columns whose taps all lie inside (qc_interior) take acc = bias - x_zp * sum(w of those
 * rows) + sum x * w (the same int32 value) with plain loops over the block that compilers
 * vectorize, the others go through qc_dw_edge (the definition above, tap by tap). The block is
 * then requantized by qc_dw_requant (qc_requant_row_vec). Small planes (equal strides, padded plane up to
 * QC_DW_PLANE bytes) are first copied into a stack plane with x_zp around the input, where
 * every output is interior (x_zp taps add x_zp * w, which bias - x_zp * sum(w) takes back):
 * outputs (oy, ox) are then the indices i = oy * Wp + ox (Wp: padded width, ox < ow) of one
 * long loop reading the plane at s * i + tap offset, the indices with ox >= ow computed and
 * dropped. */
#include "qc_kernels.h"
#include "qc_dwconv_util.h"
#include "qc_conv_util.h" /* qc_requant_row_vec */

#define QC_DW_BLOCK 64 /* outputs per block: 256 bytes of accumulators */
#define QC_DW_PLANE 768 /* padded plane on the stack, bytes (a 24x24 input with 3x3 taps: 676) */
#define QC_DW_ROWS 768  /* three padded input rows on the stack, bytes (3x3 taps, rows up to 256) */

/* y[i] = qc_requant(acc[i], c, rq), i < n: qc_requant_row_vec kept out of line (inlined into
 * qc_dwconv_s8 it costs the Cortex-M4 register spills there: +17% instructions on digits_cnn) */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void qc_dw_requant(const int32_t *acc, int32_t n, int32_t c, const qc_requant_t *rq, int8_t *y) {
    qc_requant_row_vec(acc, n, c, rq, y, 1);
}

/* acc[i] += sum over kx of r[i*sw + kx*dw] * w[kx], i < n: one kernel row over interior
 * outputs (3-wide rows with dilation 1 and strides 1 and 2 as one expression each). */
static void qc_dw_row(int32_t *acc, int32_t n, const int8_t *r, const int8_t *w, int32_t kw, int32_t sw,
                      int32_t dw) {
    int32_t i, kx;
    if (kw == 3 && dw == 1 && sw <= 2) {
        const int32_t w0 = w[0], w1 = w[1], w2 = w[2];
        if (sw == 1) {
            for (i = 0; i < n; ++i) acc[i] += r[i] * w0 + r[i + 1] * w1 + r[i + 2] * w2;
        } else {
            for (i = 0; i < n; ++i) acc[i] += r[2 * i] * w0 + r[2 * i + 1] * w1 + r[2 * i + 2] * w2;
        }
        return;
    }
    for (kx = 0; kx < kw; ++kx) {
        const int8_t *rk = r + (ptrdiff_t)kx * dw;
        const int32_t wk = w[kx];
        if (sw == 1) {
            for (i = 0; i < n; ++i) acc[i] += rk[i] * wk;
        } else {
            for (i = 0; i < n; ++i) acc[i] += rk[(ptrdiff_t)i * sw] * wk;
        }
    }
}

/* acc[i] = bz + the 3x3 taps from x0 (rows rs apart), i < n, horizontal dilation 1. */
static void qc_dw_3x3(int32_t *acc, int32_t n, const int8_t *x0, ptrdiff_t rs, const int8_t *w, int32_t bz,
                      int32_t sw) {
    const int8_t *x1 = x0 + rs, *x2 = x1 + rs;
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7],
                  w8 = w[8];
    int32_t i;
    if (sw == 1) {
        for (i = 0; i < n; ++i)
            acc[i] = bz + x0[i] * w0 + x0[i + 1] * w1 + x0[i + 2] * w2 + x1[i] * w3 + x1[i + 1] * w4 +
                     x1[i + 2] * w5 + x2[i] * w6 + x2[i + 1] * w7 + x2[i + 2] * w8;
    } else {
        for (i = 0; i < n; ++i)
            acc[i] = bz + x0[2 * i] * w0 + x0[2 * i + 1] * w1 + x0[2 * i + 2] * w2 + x1[2 * i] * w3 +
                     x1[2 * i + 1] * w4 + x1[2 * i + 2] * w5 + x2[2 * i] * w6 + x2[2 * i + 1] * w7 +
                     x2[2 * i + 2] * w8;
    }
}

/* One channel through a padded plane of hp x wp (stride s = sh = sw); xc its input plane, acc
 * the caller's QC_DW_BLOCK accumulators. */
static void qc_dw_plane(const int8_t *xc, const int8_t *wc, int32_t b, const qc_conv_params_t *p, int32_t hp,
                        int32_t wp, const qc_requant_t *rq, int32_t c, int8_t *yc, int32_t *acc) {
    int8_t plane[QC_DW_PLANE];
    const int32_t s = p->sw, khw = p->kh * p->kw, end = (p->oh - 1) * wp + p->ow; /* indices [0, end) */
    const ptrdiff_t rs = (ptrdiff_t)p->dh * wp;
    int32_t bz = b, r, t, i0, i, ky;
    memset(plane, p->x_zp, (size_t)hp * (size_t)wp);
    for (r = 0; r < p->h; ++r) { /* input row r at plane row r + pt (rows past the plane unused) */
        const int32_t pr = r + p->pt, c0 = p->pl < 0 ? -p->pl : 0; /* first input column kept */
        const int32_t c1 = p->w < wp - p->pl ? p->w : wp - p->pl;
        if (pr < 0 || pr >= hp || c1 <= c0) continue;
        memcpy(plane + (ptrdiff_t)pr * wp + p->pl + c0, xc + (ptrdiff_t)r * p->w + c0, (size_t)(c1 - c0));
    }
    for (t = 0; t < khw; ++t) bz -= p->x_zp * wc[t];
    for (i0 = 0; i0 < end; i0 += QC_DW_BLOCK) {
        const int32_t n = end - i0 < QC_DW_BLOCK ? end - i0 : QC_DW_BLOCK;
        const int8_t *x0 = plane + (ptrdiff_t)i0 * s;
        if (p->kh == 3 && p->kw == 3 && p->dw == 1 && s <= 2) {
            qc_dw_3x3(acc, n, x0, rs, wc, bz, s);
        } else {
            for (i = 0; i < n; ++i) acc[i] = bz;
            for (ky = 0; ky < p->kh; ++ky) qc_dw_row(acc, n, x0 + ky * rs, wc + ky * p->kw, p->kw, s, p->dw);
        }
        for (i = i0; i < i0 + n;) { /* the valid run of each plane row: ox < ow */
            const int32_t oy = i / wp, ox = i % wp;
            int32_t len = ox < p->ow ? p->ow - ox : wp - ox;
            if (len > i0 + n - i) len = i0 + n - i;
            if (ox < p->ow) qc_dw_requant(acc + (i - i0), len, c, rq, yc + (ptrdiff_t)oy * p->ow + ox);
            i += len;
        }
    }
}

/* One channel of a 3x3 kernel (horizontal dilation 1, strides up to 2) whose plane is too large
 * for qc_dw_plane: for each output row its three input rows are copied into a stack buffer of
 * rows wp wide with x_zp around the input, so every output of the row is interior (bz takes the
 * x_zp taps back, as in qc_dw_plane). */
static void qc_dw_rows(const int8_t *xc, const int8_t *wc, int32_t b, const qc_conv_params_t *p, int32_t wp,
                       const qc_requant_t *rq, int32_t c, int8_t *yc, int32_t *acc) {
    int8_t rows[QC_DW_ROWS];
    const int32_t c0 = p->pl < 0 ? -p->pl : 0;                   /* first input column kept */
    const int32_t c1 = p->w < wp - p->pl ? p->w : wp - p->pl;    /* past the last one */
    int32_t bz = b, t, oy, ky, o0;
    for (t = 0; t < 9; ++t) bz -= p->x_zp * wc[t];
    for (oy = 0; oy < p->oh; ++oy) {
        for (ky = 0; ky < 3; ++ky) {
            const int32_t iy = oy * p->sh - p->pt + ky * p->dh;
            int8_t *r = rows + ky * wp;
            if (iy < 0 || iy >= p->h || c1 <= c0) {
                memset(r, p->x_zp, (size_t)wp);
                continue;
            }
            if (p->pl + c0 > 0) memset(r, p->x_zp, (size_t)(p->pl + c0));
            memcpy(r + p->pl + c0, xc + (ptrdiff_t)iy * p->w + c0, (size_t)(c1 - c0));
            if (p->pl + c1 < wp) memset(r + p->pl + c1, p->x_zp, (size_t)(wp - p->pl - c1));
        }
        for (o0 = 0; o0 < p->ow; o0 += QC_DW_BLOCK) {
            const int32_t n = p->ow - o0 < QC_DW_BLOCK ? p->ow - o0 : QC_DW_BLOCK;
            qc_dw_3x3(acc, n, rows + (ptrdiff_t)o0 * p->sw, wp, wc, bz, p->sw);
            qc_dw_requant(acc, n, c, rq, yc + (ptrdiff_t)oy * p->ow + o0);
        }
    }
}

void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                  const qc_requant_t *rq, int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, khw = p->kh * p->kw;
    const int32_t hp = (p->oh - 1) * p->sh + (p->kh - 1) * p->dh + 1; /* padded plane */
    const int32_t wp = (p->ow - 1) * p->sw + (p->kw - 1) * p->dw + 1;
    const int plane = p->sh == p->sw && p->oh > 0 && p->ow > 0 && hp * wp <= QC_DW_PLANE;
    const int rows3 = p->kh == 3 && p->kw == 3 && p->dw == 1 && p->sw <= 2 && p->ow > 0 && 3 * wp <= QC_DW_ROWS;
    int32_t acc[QC_DW_BLOCK];
    int32_t lo, hi, n, c, oy, o0, ox, t, ky;
    qc_interior(p->w, p->ow, p->kw, p->sw, p->dw, p->pl, &lo, &hi);
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            const int8_t *wc = wt + (ptrdiff_t)c * khw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * p->oh * p->ow;
            const int32_t b = bias ? bias[c] : 0;
            if (plane) {
                qc_dw_plane(xc, wc, b, p, hp, wp, rq, c, yc, acc);
                continue;
            }
            if (rows3) {
                qc_dw_rows(xc, wc, b, p, wp, rq, c, yc, acc);
                continue;
            }
            for (oy = 0; oy < p->oh; ++oy) {
                /* kernel rows [ky0, ky1) fall inside the input; bz: bias - x_zp * their weights */
                const int32_t iy0 = oy * p->sh - p->pt;
                int32_t ky0 = 0, ky1 = p->kh, bz = b;
                ptrdiff_t xo; /* input offset of tap (ky0, 0) of output column 0 (may be negative) */
                int8_t *yr = yc + (ptrdiff_t)oy * p->ow;
                while (ky0 < ky1 && iy0 + ky0 * p->dh < 0) ++ky0;
                while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dh >= p->h) --ky1;
                for (t = ky0 * p->kw; t < ky1 * p->kw; ++t) bz -= p->x_zp * wc[t];
                xo = (ptrdiff_t)(iy0 + ky0 * p->dh) * p->w - p->pl;
                for (o0 = 0; o0 < p->ow; o0 += QC_DW_BLOCK) {
                    const int32_t o1 = p->ow - o0 < QC_DW_BLOCK ? p->ow : o0 + QC_DW_BLOCK;
                    const int32_t a = lo > o0 ? (lo < o1 ? lo : o1) : o0; /* interior [a, e) */
                    const int32_t e = hi < o1 ? (hi > a ? hi : a) : o1;
                    for (ox = o0; ox < a; ++ox) acc[ox - o0] = qc_dw_edge(xc, wc, b, p, iy0, ky0, ky1, ox);
                    for (ox = e; ox < o1; ++ox) acc[ox - o0] = qc_dw_edge(xc, wc, b, p, iy0, ky0, ky1, ox);
                    if (e > a) {
                        int32_t *ai = acc + (a - o0);
                        const int8_t *xa = xc + (xo + (ptrdiff_t)a * p->sw);
                        if (ky1 - ky0 == 3 && p->kw == 3 && p->dw == 1 && p->sw <= 2) {
                            qc_dw_3x3(ai, e - a, xa, (ptrdiff_t)p->dh * p->w, wc + ky0 * 3, bz, p->sw);
                        } else {
                            for (ox = 0; ox < e - a; ++ox) ai[ox] = bz;
                            for (ky = ky0; ky < ky1; ++ky)
                                qc_dw_row(ai, e - a, xa + (ptrdiff_t)(ky - ky0) * p->dh * p->w, wc + ky * p->kw,
                                          p->kw, p->sw, p->dw);
                        }
                    }
                    qc_dw_requant(acc, o1 - o0, c, rq, yr + o0);
                }
            }
        }
    }
}
