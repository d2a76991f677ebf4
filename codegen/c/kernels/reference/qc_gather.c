/* qc_gather: Gather with constant indices along the middle axis of [outer][axis_len][inner]:
 * dst[o][i][j] = src[o][idx[i]][j] for i < ni (idx already in [0, axis_len)); elements of
 * `elem` bytes; dst is [outer][ni][inner]. Reference version. */
#include "qc_kernels.h"

void qc_gather(const void *src, void *dst, int32_t outer, int32_t axis_len, int32_t inner,
               const int32_t *idx, int32_t ni, int32_t elem) {
    const char *s = (const char *)src;
    char *d = (char *)dst;
    const size_t row = (size_t)inner * (size_t)elem;
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        const char *so = s + (size_t)o * (size_t)axis_len * row;
        for (i = 0; i < ni; ++i) {
            memcpy(d, so + (size_t)idx[i] * row, row);
            d += row;
        }
    }
}
