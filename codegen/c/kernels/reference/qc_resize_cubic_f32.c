/* qc_resize_cubic_f32: bicubic resize of the two last dims of [nc][h][w] (ONNX Resize
 * mode=cubic), reference version. Four taps per output on each axis: rows hi[4*oy + k] with
 * weights hw[4*oy + k], columns wi[4*ox + k] with ww[4*ox + k] (the lowering's tables: Keys'
 * kernel with cubic_coeff_a, taps clamped to the edge or, with exclude_outside, weighted 0):
 * y = sum_k hw[k] * (sum_j ww[j] * x[hi[k]][wi[j]]), in that order. */
#include "qc_kernels.h"

void qc_resize_cubic_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh, int32_t ow,
                         const int32_t *hi, const float *hw, const int32_t *wi, const float *ww) {
    int32_t c, oy, ox, k, j;
    for (c = 0; c < nc; ++c) {
        const float *xc = x + (ptrdiff_t)c * h * w;
        for (oy = 0; oy < oh; ++oy) {
            float *yr = y + ((ptrdiff_t)c * oh + oy) * ow;
            for (ox = 0; ox < ow; ++ox) {
                float acc = 0.0f;
                for (k = 0; k < 4; ++k) {
                    const float *r = xc + (ptrdiff_t)hi[4 * oy + k] * w;
                    float row = 0.0f;
                    for (j = 0; j < 4; ++j) row += ww[4 * ox + j] * r[wi[4 * ox + j]];
                    acc += hw[4 * oy + k] * row;
                }
                yr[ox] = acc;
            }
        }
    }
}
