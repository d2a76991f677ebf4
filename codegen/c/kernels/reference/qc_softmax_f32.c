/* qc_softmax_f32: float Softmax (log == 0) or LogSoftmax (log != 0) over `n` contiguous values
 * per row: e = exp(x - max); y = e / sum e, or x - max - log(sum e). In place is allowed. exp and
 * log are qc_expf/qc_logf (qc_common.h, no libm), so every board gives the same bits (a model
 * ending in a float Softmax gave other last bits on the Cortex-M4 with newlib's expf). */
#include "qc_kernels.h"

void qc_softmax_f32(const float *x, float *y, int32_t rows, int32_t n, int32_t log) {
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const float *xr = x + (ptrdiff_t)r * n;
        float *yr = y + (ptrdiff_t)r * n;
        float mx = -HUGE_VALF, sum = 0.0f;
        for (i = 0; i < n; ++i)
            if (xr[i] > mx) mx = xr[i];
        if (log) {
            float ls;
            for (i = 0; i < n; ++i) sum += qc_expf(xr[i] - mx);
            ls = qc_logf(sum);
            for (i = 0; i < n; ++i) yr[i] = xr[i] - mx - ls;
        } else {
            for (i = 0; i < n; ++i) {
                yr[i] = qc_expf(xr[i] - mx);
                sum += yr[i];
            }
            for (i = 0; i < n; ++i) yr[i] /= sum;
        }
    }
}
