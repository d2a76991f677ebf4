/* qc_trilu_f32: ONNX Trilu over the two last axes of [outer][rows][cols]: y keeps x where
 * col - row >= k (upper != 0) or col - row <= k (lower), 0 elsewhere (a NaN there too).
 * In place is allowed. Reference version. */
#include "qc_kernels.h"

void qc_trilu_f32(const float *x, float *y, int32_t outer, int32_t rows, int32_t cols, int32_t k,
                  int32_t upper) {
    int32_t o, i, j;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < rows; ++i) {
            const ptrdiff_t at = ((ptrdiff_t)o * rows + i) * cols;
            for (j = 0; j < cols; ++j) {
                const int32_t keep = upper ? j - i >= k : j - i <= k;
                y[at + j] = keep ? x[at + j] : 0.0f;
            }
        }
    }
}
