/* qc_resize_linear_f32: bilinear resize of the two last dims of [nc][h][w], reference version.
 * Rows h0[oy], h1[oy], columns w0[ox], w1[ox], hf/wf the weights of the second neighbour:
 * y = (1-hf)*((1-wf)*x00 + wf*x01) + hf*((1-wf)*x10 + wf*x11). */
#include "qc_kernels.h"

void qc_resize_linear_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                          int32_t ow, const int32_t *h0, const int32_t *h1, const float *hf,
                          const int32_t *w0, const int32_t *w1, const float *wf) {
    int32_t c, oy, ox;
    for (c = 0; c < nc; ++c) {
        const float *xc = x + (ptrdiff_t)c * h * w;
        for (oy = 0; oy < oh; ++oy) {
            const float *r0 = xc + (ptrdiff_t)h0[oy] * w, *r1 = xc + (ptrdiff_t)h1[oy] * w;
            const float fy = hf[oy];
            float *yr = y + ((ptrdiff_t)c * oh + oy) * ow;
            for (ox = 0; ox < ow; ++ox) {
                const float fx = wf[ox];
                yr[ox] = (1.0f - fy) * ((1.0f - fx) * r0[w0[ox]] + fx * r0[w1[ox]]) +
                         fy * ((1.0f - fx) * r1[w0[ox]] + fx * r1[w1[ox]]);
            }
        }
    }
}
