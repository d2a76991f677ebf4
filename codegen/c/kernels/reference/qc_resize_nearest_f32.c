/* qc_resize_nearest_f32: y[c][oy][ox] = x[c][hi[oy]][wi[ox]] over the two last dims of
 * [nc][h][w] with the caller's source index tables (any nearest_mode). Reference version. */
#include "qc_kernels.h"

void qc_resize_nearest_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                           int32_t ow, const int32_t *hi, const int32_t *wi) {
    int32_t c, oy, ox;
    for (c = 0; c < nc; ++c) {
        const float *xc = x + (ptrdiff_t)c * h * w;
        for (oy = 0; oy < oh; ++oy) {
            const float *xr = xc + (ptrdiff_t)hi[oy] * w;
            float *yr = y + ((ptrdiff_t)c * oh + oy) * ow;
            for (ox = 0; ox < ow; ++ox) yr[ox] = xr[wi[ox]];
        }
    }
}
