/* qc_fill: fill `n` elements of `elem` bytes with *value (ConstantOfShape, Pad's border). */
#include "qc_kernels.h"

void qc_fill(void *dst, int32_t n, const void *value, int32_t elem) {
    char *d = (char *)dst;
    int32_t i;
    if (n <= 0) return;
    if (elem == 1) {
        memset(d, *(const unsigned char *)value, (size_t)n);
        return;
    }
    /* Copy the first element, then double the filled prefix. */
    memcpy(d, value, (size_t)elem);
    for (i = 1; i < n;) {
        int32_t c = i <= n - i ? i : n - i;
        memcpy(d + (ptrdiff_t)i * elem, d, (size_t)c * (size_t)elem);
        i += c;
    }
}
