/* qc_strided_requant_s8: the walk of qc_strided_copy (int8, source offset 0) with
 * y = clamp(mulq(x - zi, mult, shift) + zo, -128, 127); mult == 0 copies. Reference version. */
#include "qc_kernels.h"

void qc_strided_requant_s8(const int8_t *src, const int32_t *src_strides, int8_t *dst,
                           int32_t dst_off, const int32_t *dst_strides, int32_t ndim,
                           const int32_t *dims, int32_t zi, int32_t zo, int32_t mult, int32_t shift) {
    const int32_t *st[2];
    int32_t o[2], k, i, n, ss, ds;
    qc_walk_t wk;
    if (ndim <= 0) {
        int32_t v = src[0];
        if (mult != 0) v = qc_clamp_i32(qc_mulq(v - zi, mult, shift) + zo, -128, 127);
        dst[dst_off] = (int8_t)v;
        return;
    }
    for (k = 0; k < ndim; ++k)
        if (dims[k] <= 0) return;
    st[0] = src_strides;
    st[1] = dst_strides;
    o[0] = 0;
    o[1] = dst_off;
    n = dims[ndim - 1];
    ss = src_strides[ndim - 1];
    ds = dst_strides[ndim - 1];
    qc_walk_init(&wk, ndim, dims);
    do {
        const int8_t *s = src + o[0];
        int8_t *d = dst + o[1];
        if (mult == 0) {
            for (i = 0; i < n; ++i) d[(ptrdiff_t)i * ds] = s[(ptrdiff_t)i * ss];
        } else {
            for (i = 0; i < n; ++i)
                d[(ptrdiff_t)i * ds] = (int8_t)qc_clamp_i32(
                    qc_mulq((int32_t)s[(ptrdiff_t)i * ss] - zi, mult, shift) + zo, -128, 127);
        }
    } while (qc_walk_next(&wk, 2, o, st));
}
