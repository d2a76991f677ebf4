/* qc_mul_s8: int8 Mul with broadcasting, reference version.
 * y = clamp(mulq((a - a_zp) * (b - b_zp), mult, shift) + y_zp, qmin, qmax); broadcasting as in
 * qc_add_s8 (`dims` the output shape, as/bs element strides, 0 broadcasts; y contiguous). The
 * walk and the row are qc_binary_s8.h's, which the x86 version shares. */
#include "qc_binary_s8.h"

static void qc_mul_row_v(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                         int32_t n, const void *p) {
    qc_mul_row_ref(a, sa, b, sb, y, n, (const qc_mul_params_t *)p);
}

void qc_mul_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_mul_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    qc_rows2(a, b, y, ndim, dims, as, bs, qc_mul_row_v, p);
}
