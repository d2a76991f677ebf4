/* qc_add_s8: int8 Add/Sub with broadcasting (TFLite arithmetic), reference version.
 * a' = (a - a_zp) * 2^left_shift, b' likewise; s = mulq(a', a_mult, a_shift) +
 * mulq(b', b_mult, b_shift) (b_mult < 0 for Sub); y = clamp(mulq(s, y_mult, y_shift) + y_zp).
 * `dims` is the output shape (ndim <= QC_MAX_DIMS, 0 = one element), as/bs the element strides
 * of a and b per output dim (0 broadcasts); y is contiguous. The walk and the row are
 * qc_binary_s8.h's, which the x86 version shares. */
#include "qc_binary_s8.h"

static void qc_add_row_v(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                         int32_t n, const void *p) {
    qc_add_row_ref(a, sa, b, sb, y, n, (const qc_add_params_t *)p);
}

void qc_add_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_add_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    qc_rows2(a, b, y, ndim, dims, as, bs, qc_add_row_v, p);
}
