/* qc_avgpool_f32: float AveragePool2D (NCHW, strides, dilation, pads), reference version.
 * Sum of the in-bounds taps in float divided by the count: in-bounds taps, or with
 * count_include_pad every tap inside the padded input [-pt, h + pb) x [-pl, w + pr) (taps past
 * the end pads that ceil_mode adds are not counted, as onnxruntime does). */
#include "qc_kernels.h"

void qc_avgpool_f32(const float *x, float *y, const qc_pool_params_t *p) {
    int32_t nc, oy, ox, ky, kx;
    for (nc = 0; nc < p->n * p->c; ++nc) {
        const float *xc = x + (ptrdiff_t)nc * p->h * p->w;
        float *yc = y + (ptrdiff_t)nc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                float sum = 0.0f;
                int32_t cnt = 0, ny = 0, nx = 0;
                for (ky = 0; ky < p->kh; ++ky) {
                    int32_t iy = oy * p->sh - p->pt + ky * p->dh;
                    if (iy >= -p->pt && iy < p->h + p->pb) ++ny;
                    if (iy < 0 || iy >= p->h) continue;
                    for (kx = 0; kx < p->kw; ++kx) {
                        int32_t ix = ox * p->sw - p->pl + kx * p->dw;
                        if (ix < 0 || ix >= p->w) continue;
                        sum += xc[iy * p->w + ix];
                        ++cnt;
                    }
                }
                if (p->count_include_pad) {
                    for (kx = 0; kx < p->kw; ++kx) {
                        int32_t ix = ox * p->sw - p->pl + kx * p->dw;
                        if (ix >= -p->pl && ix < p->w + p->pr) ++nx;
                    }
                    cnt = ny * nx;
                }
                yc[oy * p->ow + ox] = cnt > 0 ? sum / (float)cnt : 0.0f;
            }
        }
    }
}
