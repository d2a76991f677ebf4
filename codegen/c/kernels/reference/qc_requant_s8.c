/* qc_requant_s8: y = clamp(mulq(x - zi, mult, shift) + zo, qmin, qmax); mult == 0 copies
 * (memmove: x == y or overlapping is fine). In place (x == y) is allowed. Reference version. */
#include "qc_kernels.h"

void qc_requant_s8(const int8_t *x, int8_t *y, int32_t n, int32_t zi, int32_t zo, int32_t mult,
                   int32_t shift, int32_t qmin, int32_t qmax) {
    int32_t i;
    if (mult == 0) {
        if (x != y && n > 0) memmove(y, x, (size_t)n);
        return;
    }
    for (i = 0; i < n; ++i)
        y[i] = (int8_t)qc_clamp_i32(qc_mulq((int32_t)x[i] - zi, mult, shift) + zo, qmin, qmax);
}
