/* qcompiler C kernel library: helpers shared by the target variants of qc_dwconv_s8 (the split
 * of each output row into edge outputs, summed over the taps inside the input as the reference
 * does, and interior outputs whose taps all lie inside). */
#ifndef QC_DWCONV_UTIL_H
#define QC_DWCONV_UTIL_H

#include "qc_kernels.h"

/* floor(a / b) for b > 0 */
static inline int32_t qc_floordiv(int32_t a, int32_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* [lo, hi): outputs whose taps start at o * s - pad and all lie in [0, size) */
static inline void qc_interior(int32_t size, int32_t out, int32_t k, int32_t s, int32_t d, int32_t pad,
                        int32_t *lo, int32_t *hi) {
    int32_t a = qc_floordiv(pad + s - 1, s);
    int32_t b = qc_floordiv(size - 1 + pad - (k - 1) * d, s) + 1;
    a = a < 0 ? 0 : (a > out ? out : a);
    b = b < a ? a : (b > out ? out : b);
    *lo = a;
    *hi = b;
}

/* One output whose kernel rows [ky0, ky1) fall inside the input (iy0: row of tap row 0), the
 * columns checked here: the reference's sum of (x - x_zp) * w over the taps inside. */
static inline int32_t qc_dw_edge(const int8_t *xc, const int8_t *wc, int32_t b, const qc_conv_params_t *p,
                          int32_t iy0, int32_t ky0, int32_t ky1, int32_t ox) {
    const int32_t ix0 = ox * p->sw - p->pl;
    int32_t kx0 = 0, kx1 = p->kw, acc = b, ky, kx;
    while (kx0 < kx1 && ix0 + kx0 * p->dw < 0) ++kx0;
    while (kx1 > kx0 && ix0 + (kx1 - 1) * p->dw >= p->w) --kx1;
    for (ky = ky0; ky < ky1; ++ky) {
        const ptrdiff_t off = (ptrdiff_t)(iy0 + ky * p->dh) * p->w + ix0;
        const int8_t *wr = wc + ky * p->kw;
        for (kx = kx0; kx < kx1; ++kx) acc += ((int32_t)xc[off + kx * p->dw] - p->x_zp) * wr[kx];
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

#endif /* QC_DWCONV_UTIL_H */
