/* qc_where_f32: y = c != 0 ? a : b with broadcasting: `dims` the output shape, cs/as/bs the
 * element strides of each input per output dim (0 broadcasts); y contiguous. Reference. */
#include "qc_kernels.h"

void qc_where_f32(const float *c, const float *a, const float *b, float *y, int32_t ndim,
                  const int32_t *dims, const int32_t *cs, const int32_t *as, const int32_t *bs) {
    const int32_t *st[3];
    int32_t o[3] = {0, 0, 0}, d, n, i, sc, sa, sb;
    qc_walk_t wk;
    if (ndim <= 0) {
        y[0] = c[0] != 0.0f ? a[0] : b[0];
        return;
    }
    for (d = 0; d < ndim; ++d)
        if (dims[d] <= 0) return;
    st[0] = cs;
    st[1] = as;
    st[2] = bs;
    n = dims[ndim - 1];
    sc = cs[ndim - 1];
    sa = as[ndim - 1];
    sb = bs[ndim - 1];
    qc_walk_init(&wk, ndim, dims);
    do {
        const float *cr = c + o[0], *ar = a + o[1], *br = b + o[2];
        for (i = 0; i < n; ++i)
            y[i] = cr[(ptrdiff_t)i * sc] != 0.0f ? ar[(ptrdiff_t)i * sa] : br[(ptrdiff_t)i * sb];
        y += n;
    } while (qc_walk_next(&wk, 3, o, st));
}
