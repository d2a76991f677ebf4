/* qc_layernorm_f32: LayerNormalization over the `n` contiguous values of each of `rows` rows:
 * mean = sum x / n, var = sum (x - mean)^2 / n (two passes, float),
 * y = (x - mean) / sqrtf(var + eps) * scale[i] + bias[i] (scale/bias NULL: 1/0). In place is
 * allowed. Reference version. */
#include "qc_kernels.h"

void qc_layernorm_f32(const float *x, const float *scale, const float *bias, float *y,
                      int32_t rows, int32_t n, float eps) {
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const float *xr = x + (ptrdiff_t)r * n;
        float *yr = y + (ptrdiff_t)r * n;
        float mean = 0.0f, var = 0.0f, inv;
        for (i = 0; i < n; ++i) mean += xr[i];
        mean /= (float)n;
        for (i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
        inv = 1.0f / sqrtf(var / (float)n + eps);
        for (i = 0; i < n; ++i) {
            float v = (xr[i] - mean) * inv;
            if (scale) v *= scale[i];
            if (bias) v += bias[i];
            yr[i] = v;
        }
    }
}
