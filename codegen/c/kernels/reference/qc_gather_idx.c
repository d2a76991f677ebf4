/* qc_gather_idx: Gather with runtime indices (embeddings, token ids) held as floats with integer
 * values: dst[o][i][j] = src[o][k][j] with k = idx[i] (+ axis_len when negative), clamped to
 * [0, axis_len); `elem`-byte elements; dst is [outer][ni][inner]. Reference version. */
#include "qc_kernels.h"

void qc_gather_idx(const void *src, void *dst, int32_t outer, int32_t axis_len, int32_t inner,
                   const float *idx, int32_t ni, int32_t elem) {
    const char *s = (const char *)src;
    char *d = (char *)dst;
    const size_t row = (size_t)inner * (size_t)elem;
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        const char *so = s + (size_t)o * (size_t)axis_len * row;
        for (i = 0; i < ni; ++i) {
            float f = idx[i];
            int32_t k;
            if (f < 0.0f) f += (float)axis_len;
            k = f < 0.0f ? 0 : (f >= (float)axis_len ? axis_len - 1 : (int32_t)f);
            memcpy(d, so + (size_t)k * row, row);
            d += row;
        }
    }
}
