/* qc_strided_copy: dst[dst_off + sum_d i_d*dst_strides[d]] = src[src_off + sum_d i_d*src_strides[d]]
 * for every index of `dims` (ndim <= QC_MAX_DIMS; 0 = one element); strides and offsets in
 * elements (negative strides allowed), elements of `elem` bytes (1, 2, 4 or 8; others are
 * copied bytewise). memcpy of whole rows when the last dim is contiguous in both. Reference. */
#include "qc_kernels.h"

static void qc_copy_row(const char *s, int32_t ss, char *d, int32_t ds, int32_t n, int32_t elem) {
    int32_t i;
    if (ss == 1 && ds == 1) {
        memcpy(d, s, (size_t)n * (size_t)elem);
        return;
    }
    switch (elem) {
    case 1:
        for (i = 0; i < n; ++i) d[(ptrdiff_t)i * ds] = s[(ptrdiff_t)i * ss];
        break;
    case 2:
        for (i = 0; i < n; ++i) memcpy(d + (ptrdiff_t)i * ds * 2, s + (ptrdiff_t)i * ss * 2, 2);
        break;
    case 4:
        for (i = 0; i < n; ++i) memcpy(d + (ptrdiff_t)i * ds * 4, s + (ptrdiff_t)i * ss * 4, 4);
        break;
    case 8:
        for (i = 0; i < n; ++i) memcpy(d + (ptrdiff_t)i * ds * 8, s + (ptrdiff_t)i * ss * 8, 8);
        break;
    default:
        for (i = 0; i < n; ++i)
            memcpy(d + (ptrdiff_t)i * ds * elem, s + (ptrdiff_t)i * ss * elem, (size_t)elem);
        break;
    }
}

void qc_strided_copy(const void *src, int32_t src_off, const int32_t *src_strides, void *dst,
                     int32_t dst_off, const int32_t *dst_strides, int32_t ndim, const int32_t *dims,
                     int32_t elem) {
    const char *s = (const char *)src;
    char *d = (char *)dst;
    const int32_t *st[2];
    int32_t o[2], k;
    qc_walk_t wk;
    if (ndim <= 0) {
        memcpy(d + (ptrdiff_t)dst_off * elem, s + (ptrdiff_t)src_off * elem, (size_t)elem);
        return;
    }
    for (k = 0; k < ndim; ++k)
        if (dims[k] <= 0) return;
    st[0] = src_strides;
    st[1] = dst_strides;
    o[0] = src_off;
    o[1] = dst_off;
    qc_walk_init(&wk, ndim, dims);
    do {
        qc_copy_row(s + (ptrdiff_t)o[0] * elem, src_strides[ndim - 1], d + (ptrdiff_t)o[1] * elem,
                    dst_strides[ndim - 1], dims[ndim - 1], elem);
    } while (qc_walk_next(&wk, 2, o, st));
}
