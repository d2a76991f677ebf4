/* qc_dequantize_s8_f32: y = (float)(x - zp) * scale, reference version. */
#include "qc_kernels.h"

void qc_dequantize_s8_f32(const int8_t *x, float *y, int32_t n, float scale, int32_t zp) {
    int32_t i;
    for (i = 0; i < n; ++i) y[i] = (float)((int32_t)x[i] - zp) * scale;
}
