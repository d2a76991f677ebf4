/* qc_softmax_s8: int8 Softmax over `n` contiguous values per row, in float, reference version.
 * v = (x - zi) * si; e = qc_expf(v - max v) (no libm: the same bits on every board); y = qc_quantize_one(e / sum e, so, zo, -128, 127).
 * The exponentials are computed twice (no scratch). */
#include "qc_kernels.h"

void qc_softmax_s8(const int8_t *x, int8_t *y, int32_t rows, int32_t n, float si, int32_t zi,
                   float so, int32_t zo) {
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + (ptrdiff_t)r * n;
        int8_t *yr = y + (ptrdiff_t)r * n;
        int32_t mx = -128;
        float vmax, sum = 0.0f;
        for (i = 0; i < n; ++i)
            if (xr[i] > mx) mx = xr[i];
        vmax = (float)(mx - zi) * si;
        for (i = 0; i < n; ++i) sum += qc_expf((float)(xr[i] - zi) * si - vmax);
        for (i = 0; i < n; ++i)
            yr[i] = qc_quantize_one(qc_expf((float)(xr[i] - zi) * si - vmax) / sum, so, zo, -128, 127);
    }
}
