/* qc_mean_s8: int8 mean over `r` values, layout [outer][r][inner] (GlobalAveragePool,
 * ReduceMean over adjacent axes), reference version.
 * y[o][i] = clamp(rintf((float)(sum - r*zi) * ratio / (float)r) + zo, -128, 127). */
#include "qc_kernels.h"

void qc_mean_s8(const int8_t *x, int8_t *y, int32_t outer, int32_t r, int32_t inner, int32_t zi,
                int32_t zo, float ratio) {
    int32_t o, i, j;
    for (o = 0; o < outer; ++o) {
        const int8_t *xo = x + (ptrdiff_t)o * r * inner;
        for (i = 0; i < inner; ++i) {
            int32_t sum = 0;
            if (inner == 1) { /* contiguous (GlobalAveragePool): a loop compilers vectorize */
                for (j = 0; j < r; ++j) sum += xo[j];
            } else {
                for (j = 0; j < r; ++j) sum += xo[(ptrdiff_t)j * inner + i];
            }
            y[(ptrdiff_t)o * inner + i] =
                r > 0 ? qc_quantize_one((float)(sum - r * zi) * ratio / (float)r, 1.0f, zo, -128, 127)
                      : (int8_t)qc_clamp_i32(zo, -128, 127);
        }
    }
}
