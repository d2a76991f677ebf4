/* qc_fakequant_f32: quantize-dequantize in float (a Q/DQ pair whose integer type has no int8
 * kernel): q = clamp(rintf(x / scale) + zp, qmin, qmax) (NaN -> qmin); y = (q - zp) * scale. */
#include "qc_kernels.h"

void qc_fakequant_f32(const float *x, float *y, int32_t n, float scale, int32_t zp, int32_t qmin,
                      int32_t qmax) {
    int32_t i;
    for (i = 0; i < n; ++i) {
        float q = rintf(x[i] / scale) + (float)zp;
        if (!(q >= (float)qmin)) q = (float)qmin;
        if (q > (float)qmax) q = (float)qmax;
        y[i] = (q - (float)zp) * scale;
    }
}
