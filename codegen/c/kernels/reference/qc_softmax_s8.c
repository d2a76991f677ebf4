/* qc_softmax_s8: int8 Softmax over `n` contiguous values per row, in float, reference version.
 * v = (x - zi) * si; e = qc_expf(v - max v) (no libm: the same bits on every board); y = qc_quantize_one(e / sum e, so, zo, -128, 127).
 * Rows of up to QC_SOFTMAX_ROW values keep their exponentials on the stack (computed once) and
 * quantize with the rounding written out as qc_requant_row does (the same values, a loop
 * compilers vectorize); longer rows compute the exponentials twice (no scratch). */
#include "qc_kernels.h"

#define QC_SOFTMAX_ROW 256 /* floats on the stack: 1 KiB */

void qc_softmax_s8(const int8_t *x, int8_t *y, int32_t rows, int32_t n, float si, int32_t zi,
                   float so, int32_t zo) {
    float e[QC_SOFTMAX_ROW];
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + (ptrdiff_t)r * n;
        int8_t *yr = y + (ptrdiff_t)r * n;
        int32_t mx = -128;
        float vmax, sum = 0.0f;
        for (i = 0; i < n; ++i)
            if (xr[i] > mx) mx = xr[i];
        vmax = (float)(mx - zi) * si;
        if (n <= QC_SOFTMAX_ROW) {
            /* qc_quantize_one(e / sum, so, zo, -128, 127) with rintf as (t + 1.5 * 2^23) - 1.5 * 2^23
             * after clamping t to [-129 - zo, 128 - zo] (NaN to the low end; rounding is monotonic) */
            const float tlo = -129.0f - (float)zo, thi = 128.0f - (float)zo, big = 12582912.0f, z = (float)zo;
            for (i = 0; i < n; ++i) {
                e[i] = qc_expf((float)(xr[i] - zi) * si - vmax);
                sum += e[i];
            }
            for (i = 0; i < n; ++i) {
                float t = e[i] / sum / so, q;
                t = !(t >= tlo) ? tlo : (t > thi ? thi : t);
                q = ((t + big) - big) + z;
                q = q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q);
                yr[i] = (int8_t)q;
            }
            continue;
        }
        for (i = 0; i < n; ++i) sum += qc_expf((float)(xr[i] - zi) * si - vmax);
        for (i = 0; i < n; ++i)
            yr[i] = qc_quantize_one(qc_expf((float)(xr[i] - zi) * si - vmax) / sum, so, zo, -128, 127);
    }
}
