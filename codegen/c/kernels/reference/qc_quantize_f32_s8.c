/* qc_quantize_f32_s8: y = clamp(rintf(x / scale) + zp, qmin, qmax) (NaN -> qmin), reference. */
#include "qc_kernels.h"

void qc_quantize_f32_s8(const float *x, int8_t *y, int32_t n, float scale, int32_t zp, int32_t qmin,
                        int32_t qmax) {
    int32_t i;
    for (i = 0; i < n; ++i) y[i] = qc_quantize_one(x[i], scale, zp, qmin, qmax);
}
