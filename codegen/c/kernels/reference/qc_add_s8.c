/* qc_add_s8: int8 Add/Sub with broadcasting (TFLite arithmetic), reference version.
 * a' = (a - a_zp) * 2^left_shift, b' likewise; s = mulq(a', a_mult, a_shift) +
 * mulq(b', b_mult, b_shift) (b_mult < 0 for Sub); y = clamp(mulq(s, y_mult, y_shift) + y_zp).
 * `dims` is the output shape (ndim <= QC_MAX_DIMS, 0 = one element), as/bs the element strides
 * of a and b per output dim (0 broadcasts); y is contiguous. */
#include "qc_kernels.h"

static void qc_add_row(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                       int32_t n, const qc_add_params_t *p) {
    const int32_t lift = (int32_t)1 << p->left_shift;
    int32_t i;
    for (i = 0; i < n; ++i) {
        int32_t av = ((int32_t)a[(ptrdiff_t)i * sa] - p->a_zp) * lift;
        int32_t bv = ((int32_t)b[(ptrdiff_t)i * sb] - p->b_zp) * lift;
        int32_t s = qc_mulq(av, p->a_mult, p->a_shift) + qc_mulq(bv, p->b_mult, p->b_shift);
        y[i] = (int8_t)qc_clamp_i32(qc_mulq(s, p->y_mult, p->y_shift) + p->y_zp, p->qmin, p->qmax);
    }
}

void qc_add_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_add_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    const int32_t *st[2];
    int32_t o[2] = {0, 0}, d, n;
    qc_walk_t wk;
    if (ndim <= 0) {
        qc_add_row(a, 0, b, 0, y, 1, p);
        return;
    }
    for (d = 0; d < ndim; ++d)
        if (dims[d] <= 0) return;
    st[0] = as;
    st[1] = bs;
    n = dims[ndim - 1];
    qc_walk_init(&wk, ndim, dims);
    do {
        qc_add_row(a + o[0], as[ndim - 1], b + o[1], bs[ndim - 1], y, n, p);
        y += n;
    } while (qc_walk_next(&wk, 2, o, st));
}
