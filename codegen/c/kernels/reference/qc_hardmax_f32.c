/* qc_hardmax_f32: ONNX Hardmax over the middle axis of [outer][r][inner]: 1.0f at the first
 * position holding the column's maximum, 0 elsewhere, as onnxruntime (the maximum first, then
 * the first value equal to it). NaN: a column whose first value is NaN is all 0, a later NaN is
 * passed over (onnxruntime's result there depends on the row length: its vectorized maximum
 * propagates NaN, its scalar one does not). In place is allowed (a column is read before it is
 * written). Reference version. */
#include "qc_kernels.h"

void qc_hardmax_f32(const float *x, float *y, int32_t outer, int32_t r, int32_t inner) {
    int32_t o, i, j, at;
    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * r * inner;
        float *yo = y + (ptrdiff_t)o * r * inner;
        for (i = 0; i < inner; ++i) {
            float m = xo[i];
            for (j = 1; j < r; ++j)
                if (xo[(ptrdiff_t)j * inner + i] > m) m = xo[(ptrdiff_t)j * inner + i];
            at = r;
            for (j = 0; j < r && at == r; ++j)
                if (xo[(ptrdiff_t)j * inner + i] == m) at = j;
            for (j = 0; j < r; ++j) yo[(ptrdiff_t)j * inner + i] = j == at ? 1.0f : 0.0f;
        }
    }
}
