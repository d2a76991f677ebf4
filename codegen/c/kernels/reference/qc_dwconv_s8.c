/* qc_dwconv_s8: int8 depthwise Conv2D (group == cin, cout = cin * multiplier), reference.
 * Output channel c reads input channel c / multiplier; acc = bias[c] + sum over in-bounds taps
 * of (x - x_zp) * w[c][ky][kx] (padding contributes 0); bias NULL means 0. */
#include "qc_kernels.h"

void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                  const qc_requant_t *rq, int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w;
    int32_t n, c, oy, ox, ky, kx;
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            const int8_t *wc = wt + (ptrdiff_t)c * p->kh * p->kw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * p->oh * p->ow;
            const int32_t b = bias ? bias[c] : 0;
            for (oy = 0; oy < p->oh; ++oy) {
                for (ox = 0; ox < p->ow; ++ox) {
                    int32_t acc = b;
                    for (ky = 0; ky < p->kh; ++ky) {
                        int32_t iy = oy * p->sh - p->pt + ky * p->dh;
                        if (iy < 0 || iy >= p->h) continue;
                        for (kx = 0; kx < p->kw; ++kx) {
                            int32_t ix = ox * p->sw - p->pl + kx * p->dw;
                            if (ix < 0 || ix >= p->w) continue;
                            acc += ((int32_t)xc[iy * p->w + ix] - p->x_zp) * wc[ky * p->kw + kx];
                        }
                    }
                    yc[oy * p->ow + ox] = qc_requant(acc, c, rq);
                }
            }
        }
    }
}
