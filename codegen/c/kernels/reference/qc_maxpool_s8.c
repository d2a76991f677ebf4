/* qc_maxpool_s8: int8 MaxPool2D (NCHW, strides, dilation, pads), reference version.
 * Max over the in-bounds taps (padding never wins; ceil_mode is in the caller's oh/ow; a window
 * with no in-bounds tap gives -128); then, if mult != 0, y = clamp(mulq(max - zi, mult, shift)
 * + zo, -128, 127), else y = max. */
#include "qc_kernels.h"

void qc_maxpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   int32_t mult, int32_t shift) {
    int32_t nc, oy, ox, ky, kx;
    for (nc = 0; nc < p->n * p->c; ++nc) {
        const int8_t *xc = x + (ptrdiff_t)nc * p->h * p->w;
        int8_t *yc = y + (ptrdiff_t)nc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t m = -128;
                for (ky = 0; ky < p->kh; ++ky) {
                    int32_t iy = oy * p->sh - p->pt + ky * p->dh;
                    if (iy < 0 || iy >= p->h) continue;
                    for (kx = 0; kx < p->kw; ++kx) {
                        int32_t ix = ox * p->sw - p->pl + kx * p->dw;
                        if (ix >= 0 && ix < p->w && xc[iy * p->w + ix] > m) m = xc[iy * p->w + ix];
                    }
                }
                if (mult != 0) m = qc_clamp_i32(qc_mulq(m - zi, mult, shift) + zo, -128, 127);
                yc[oy * p->ow + ox] = (int8_t)m;
            }
        }
    }
}
