/* qc_maxpool_f32: float MaxPool2D (NCHW, strides, dilation, pads), reference version.
 * Max over the in-bounds taps (padding never wins; ceil_mode is in the caller's oh/ow; a window
 * with no in-bounds tap gives -inf). */
#include "qc_kernels.h"

void qc_maxpool_f32(const float *x, float *y, const qc_pool_params_t *p) {
    int32_t nc, oy, ox, ky, kx;
    for (nc = 0; nc < p->n * p->c; ++nc) {
        const float *xc = x + (ptrdiff_t)nc * p->h * p->w;
        float *yc = y + (ptrdiff_t)nc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                float m = -HUGE_VALF;
                for (ky = 0; ky < p->kh; ++ky) {
                    int32_t iy = oy * p->sh - p->pt + ky * p->dh;
                    if (iy < 0 || iy >= p->h) continue;
                    for (kx = 0; kx < p->kw; ++kx) {
                        int32_t ix = ox * p->sw - p->pl + kx * p->dw;
                        if (ix >= 0 && ix < p->w && xc[iy * p->w + ix] > m) m = xc[iy * p->w + ix];
                    }
                }
                yc[oy * p->ow + ox] = m;
            }
        }
    }
}
