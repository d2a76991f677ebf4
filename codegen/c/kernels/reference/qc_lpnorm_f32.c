/* qc_lpnorm_f32: ONNX LpNormalization over the middle axis of [outer][r][inner]: y = x / norm,
 * norm = sum |x| (p = 1) or sqrt(sum x^2) (p = 2), summed in order of r; y = 0 where the norm is
 * 0, as onnxruntime gives. Not in place. */
#include "qc_kernels.h"

void qc_lpnorm_f32(const float *x, float *y, int32_t outer, int32_t r, int32_t inner, int32_t p) {
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * r * inner;
        float *yo = y + (ptrdiff_t)o * r * inner;
        for (i = 0; i < inner; ++i) {
            float norm = 0.0f;
            for (j = 0; j < r; ++j) {
                const float v = xo[(ptrdiff_t)j * inner + i];
                norm += p == 1 ? fabsf(v) : v * v;
            }
            if (p != 1) norm = sqrtf(norm);
            for (j = 0; j < r; ++j)
                yo[(ptrdiff_t)j * inner + i] = norm != 0.0f ? xo[(ptrdiff_t)j * inner + i] / norm : 0.0f;
        }
    }
}
