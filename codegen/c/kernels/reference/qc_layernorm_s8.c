/* qc_layernorm_s8: LayerNormalization of an int8 tensor into an int8 tensor, computed in float
 * exactly as qc_dequantize_s8_f32 -> qc_layernorm_f32 -> qc_quantize_f32_s8 would (same values,
 * same order of float operations, so the same bits) without the two float tensors in the arena:
 * each value is dequantized where it is read, v = (float)(x - zi) * si, and the result
 * quantized as qc_quantize_one(y, so, zo, qmin, qmax). Reference version. */
#include "qc_kernels.h"

void qc_layernorm_s8(const int8_t *x, const float *scale, const float *bias, int8_t *y, int32_t rows,
                     int32_t n, float eps, float si, int32_t zi, float so, int32_t zo, int32_t qmin,
                     int32_t qmax) {
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + (ptrdiff_t)r * n;
        int8_t *yr = y + (ptrdiff_t)r * n;
        float mean = 0.0f, var = 0.0f, inv;
        for (i = 0; i < n; ++i) mean += (float)((int32_t)xr[i] - zi) * si;
        mean /= (float)n;
        for (i = 0; i < n; ++i) {
            float d = (float)((int32_t)xr[i] - zi) * si - mean;
            var += d * d;
        }
        inv = 1.0f / sqrtf(var / (float)n + eps);
        for (i = 0; i < n; ++i) {
            float v = ((float)((int32_t)xr[i] - zi) * si - mean) * inv;
            if (scale) v *= scale[i];
            if (bias) v += bias[i];
            yr[i] = qc_quantize_one(v, so, zo, qmin, qmax);
        }
    }
}
