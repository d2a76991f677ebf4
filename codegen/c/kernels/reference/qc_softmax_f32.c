/* qc_softmax_f32: float Softmax (log == 0) or LogSoftmax (log != 0) over `n` contiguous values
 * per row: e = expf(x - max); y = e / sum e, or x - max - logf(sum e). In place is allowed. */
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
            for (i = 0; i < n; ++i) sum += expf(xr[i] - mx);
            ls = logf(sum);
            for (i = 0; i < n; ++i) yr[i] = xr[i] - mx - ls;
        } else {
            for (i = 0; i < n; ++i) {
                yr[i] = expf(xr[i] - mx);
                sum += yr[i];
            }
            for (i = 0; i < n; ++i) yr[i] /= sum;
        }
    }
}
