/* qc_resize_linear_s8: bilinear resize of the two last dims of [nc][h][w], reference version.
 * Output (oy, ox) mixes rows h0[oy], h1[oy] and columns w0[ox], w1[ox] with hf/wf the weights
 * of the second neighbour, on dequantized values (x - zi) * si:
 * v = (1-hf)*((1-wf)*x00 + wf*x01) + hf*((1-wf)*x10 + wf*x11); y = qc_quantize_one(v, so, zo). */
#include "qc_kernels.h"

void qc_resize_linear_s8(const int8_t *x, int8_t *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                         int32_t ow, const int32_t *h0, const int32_t *h1, const float *hf,
                         const int32_t *w0, const int32_t *w1, const float *wf, float si,
                         int32_t zi, float so, int32_t zo) {
    int32_t c, oy, ox;
    for (c = 0; c < nc; ++c) {
        const int8_t *xc = x + (ptrdiff_t)c * h * w;
        for (oy = 0; oy < oh; ++oy) {
            const int8_t *r0 = xc + (ptrdiff_t)h0[oy] * w, *r1 = xc + (ptrdiff_t)h1[oy] * w;
            const float fy = hf[oy];
            int8_t *yr = y + ((ptrdiff_t)c * oh + oy) * ow;
            for (ox = 0; ox < ow; ++ox) {
                const float fx = wf[ox];
                const float x00 = (float)(r0[w0[ox]] - zi) * si, x01 = (float)(r0[w1[ox]] - zi) * si;
                const float x10 = (float)(r1[w0[ox]] - zi) * si, x11 = (float)(r1[w1[ox]] - zi) * si;
                const float v = (1.0f - fy) * ((1.0f - fx) * x00 + fx * x01) +
                                fy * ((1.0f - fx) * x10 + fx * x11);
                yr[ox] = qc_quantize_one(v, so, zo, -128, 127);
            }
        }
    }
}
