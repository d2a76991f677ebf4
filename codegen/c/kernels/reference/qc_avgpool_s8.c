/* qc_avgpool_s8: int8 AveragePool2D (NCHW, strides, dilation, pads), reference version.
 * sum over the in-bounds taps; cnt = in-bounds taps, or with count_include_pad every tap inside
 * the padded input [-pt, h + pb) x [-pl, w + pr) (padding reads as zi; taps past the end pads
 * that ceil_mode adds are not counted, as onnxruntime does);
 * y = clamp(rintf((float)(sum - cnt*zi) * ratio / (float)cnt) + zo, -128, 127). */
#include "qc_kernels.h"

void qc_avgpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   float ratio) {
    int32_t nc, oy, ox, ky, kx;
    for (nc = 0; nc < p->n * p->c; ++nc) {
        const int8_t *xc = x + (ptrdiff_t)nc * p->h * p->w;
        int8_t *yc = y + (ptrdiff_t)nc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t sum = 0, cnt = 0, ny = 0, nx = 0;
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
                    sum += (ny * nx - cnt) * zi;
                    cnt = ny * nx;
                }
                yc[oy * p->ow + ox] =
                    cnt > 0 ? qc_quantize_one((float)(sum - cnt * zi) * ratio / (float)cnt, 1.0f, zo,
                                              -128, 127)
                            : (int8_t)qc_clamp_i32(zo, -128, 127);
            }
        }
    }
}
