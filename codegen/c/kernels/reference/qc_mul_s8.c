/* qc_mul_s8: int8 Mul with broadcasting, reference version.
 * y = clamp(mulq((a - a_zp) * (b - b_zp), mult, shift) + y_zp, qmin, qmax); broadcasting as in
 * qc_add_s8 (`dims` the output shape, as/bs element strides, 0 broadcasts; y contiguous). */
#include "qc_kernels.h"

static void qc_mul_row(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                       int32_t n, const qc_mul_params_t *p) {
    int32_t i;
    for (i = 0; i < n; ++i) {
        int32_t prod = ((int32_t)a[(ptrdiff_t)i * sa] - p->a_zp) * ((int32_t)b[(ptrdiff_t)i * sb] - p->b_zp);
        y[i] = (int8_t)qc_clamp_i32(qc_mulq(prod, p->mult, p->shift) + p->y_zp, p->qmin, p->qmax);
    }
}

void qc_mul_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_mul_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    const int32_t *st[2];
    int32_t o[2] = {0, 0}, d, n;
    qc_walk_t wk;
    if (ndim <= 0) {
        qc_mul_row(a, 0, b, 0, y, 1, p);
        return;
    }
    for (d = 0; d < ndim; ++d)
        if (dims[d] <= 0) return;
    st[0] = as;
    st[1] = bs;
    n = dims[ndim - 1];
    qc_walk_init(&wk, ndim, dims);
    do {
        qc_mul_row(a + o[0], as[ndim - 1], b + o[1], bs[ndim - 1], y, n, p);
        y += n;
    } while (qc_walk_next(&wk, 2, o, st));
}
