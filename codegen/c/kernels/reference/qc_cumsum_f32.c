/* qc_cumsum_f32: ONNX CumSum over the middle axis of [outer][r][inner], in float in order along
 * the axis (reverse: from its end); exclusive leaves out each position's own value (0 first).
 * Integer tensors are floats here (exact below 2^24). In place is allowed. */
#include "qc_kernels.h"

void qc_cumsum_f32(const float *x, float *y, int32_t outer, int32_t r, int32_t inner, int32_t exclusive,
                   int32_t reverse) {
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * r * inner;
        float *yo = y + (ptrdiff_t)o * r * inner;
        for (i = 0; i < inner; ++i) {
            float acc = 0.0f;
            for (j = 0; j < r; ++j) {
                const ptrdiff_t at = (ptrdiff_t)(reverse ? r - 1 - j : j) * inner + i;
                const float v = xo[at];
                if (exclusive) {
                    yo[at] = acc;
                    acc += v;
                } else {
                    acc += v;
                    yo[at] = acc;
                }
            }
        }
    }
}
