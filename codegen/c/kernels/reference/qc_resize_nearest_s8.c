/* qc_resize_nearest_s8: y[c][oy][ox] = x[c][hi[oy]][wi[ox]] over the two last dims of
 * [nc][h][w] with the caller's source index tables, then requantized as qc_requant_s8 (mult 0:
 * plain copy; clamp -128..127). Reference version. */
#include "qc_kernels.h"

void qc_resize_nearest_s8(const int8_t *x, int8_t *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                          int32_t ow, const int32_t *hi, const int32_t *wi, int32_t zi, int32_t zo,
                          int32_t mult, int32_t shift) {
    int32_t c, oy, ox;
    for (c = 0; c < nc; ++c) {
        const int8_t *xc = x + (ptrdiff_t)c * h * w;
        for (oy = 0; oy < oh; ++oy) {
            const int8_t *xr = xc + (ptrdiff_t)hi[oy] * w;
            int8_t *yr = y + ((ptrdiff_t)c * oh + oy) * ow;
            if (mult == 0) {
                for (ox = 0; ox < ow; ++ox) yr[ox] = xr[wi[ox]];
            } else {
                for (ox = 0; ox < ow; ++ox)
                    yr[ox] = (int8_t)qc_clamp_i32(qc_mulq((int32_t)xr[wi[ox]] - zi, mult, shift) + zo,
                                                  -128, 127);
            }
        }
    }
}
