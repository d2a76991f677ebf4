/* qc_lut_s8: y[i] = table[x[i] + 128], any elementwise function of one int8 input (reference).
 * In place (x == y) is allowed. */
#include "qc_kernels.h"

void qc_lut_s8(const int8_t *x, int8_t *y, int32_t n, const int8_t *table) {
    int32_t i;
    for (i = 0; i < n; ++i) y[i] = table[(int32_t)x[i] + 128];
}
