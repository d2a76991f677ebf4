/* qc_quantize_f32_s8: y = clamp(rintf(x / scale) + zp, qmin, qmax) (NaN -> qmin), reference.
 * Written out as qc_requant_row's float path does (t = x / scale clamped to
 * [qmin - zp - 1, qmax - zp + 1], NaN to the low end, then rounded by adding and subtracting
 * 1.5 * 2^23: rintf's value there, and rounding is monotonic), a loop compilers vectorize. */
#include "qc_kernels.h"

void qc_quantize_f32_s8(const float *x, int8_t *y, int32_t n, float scale, int32_t zp, int32_t qmin,
                        int32_t qmax) {
    const float z = (float)zp, lo = (float)qmin, hi = (float)qmax, big = 12582912.0f;
    const float tlo = lo - z - 1.0f, thi = hi - z + 1.0f;
    int32_t i;
    if (qmin < -128 || qmax > 127 || zp < -128 || zp > 127) { /* outside int8: the plain form */
        for (i = 0; i < n; ++i) y[i] = qc_quantize_one(x[i], scale, zp, qmin, qmax);
        return;
    }
    for (i = 0; i < n; ++i) {
        float t = x[i] / scale, q;
        t = !(t >= tlo) ? tlo : (t > thi ? thi : t);
        q = ((t + big) - big) + z;
        q = q < lo ? lo : (q > hi ? hi : q);
        y[i] = (int8_t)q;
    }
}
