/* qc_convtranspose_s8: int8 ConvTranspose2D (NCHW, groups, strides, dilation), reference.
 * acc[co][oy][ox] = bias[co] + sum (x[ci][iy][ix] - x_zp) * w[ci][co % cout_g][ky][kx] over
 * oy = iy*sh - pt + ky*dh inside [0, oh) (likewise x), accumulated in the caller's `acc`
 * (cout*oh*ow int32, one image at a time), then requantized per output channel. */
#include "qc_kernels.h"

void qc_convtranspose_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                         const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y, int32_t *acc) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t ohw = p->oh * p->ow, khw = p->kh * p->kw;
    int32_t n, co, ci, iy, ix, cg, ky, kx, i;
    for (n = 0; n < p->n; ++n) {
        const int8_t *xn = x + (ptrdiff_t)n * p->cin * p->h * p->w;
        int8_t *yn = y + (ptrdiff_t)n * p->cout * ohw;
        for (co = 0; co < p->cout; ++co) {
            const int32_t b = bias ? bias[co] : 0;
            for (i = 0; i < ohw; ++i) acc[(ptrdiff_t)co * ohw + i] = b;
        }
        for (ci = 0; ci < p->cin; ++ci) {
            const int32_t co0 = (ci / cin_g) * cout_g;
            const int8_t *xc = xn + (ptrdiff_t)ci * p->h * p->w;
            for (cg = 0; cg < cout_g; ++cg) {
                const int8_t *wc = wt + ((ptrdiff_t)ci * cout_g + cg) * khw;
                int32_t *ac = acc + (ptrdiff_t)(co0 + cg) * ohw;
                for (ky = 0; ky < p->kh; ++ky) {
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int32_t wv = wc[ky * p->kw + kx];
                        if (wv == 0) continue;
                        for (iy = 0; iy < p->h; ++iy) {
                            int32_t oy = iy * p->sh - p->pt + ky * p->dh;
                            if (oy < 0 || oy >= p->oh) continue;
                            for (ix = 0; ix < p->w; ++ix) {
                                int32_t ox = ix * p->sw - p->pl + kx * p->dw;
                                if (ox < 0 || ox >= p->ow) continue;
                                ac[oy * p->ow + ox] += ((int32_t)xc[iy * p->w + ix] - p->x_zp) * wv;
                            }
                        }
                    }
                }
            }
        }
        for (co = 0; co < p->cout; ++co)
            for (i = 0; i < ohw; ++i)
                yn[(ptrdiff_t)co * ohw + i] = qc_requant(acc[(ptrdiff_t)co * ohw + i], co, rq);
    }
}
