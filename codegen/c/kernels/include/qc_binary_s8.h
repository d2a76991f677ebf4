/* qcompiler C kernel library: the int8 broadcasting binary kernels' shared parts (qc_add_s8,
 * qc_mul_s8, the reference files and the x86 ones): the merging of broadcast dimensions into
 * long rows, the walk over the remaining rows, and each op's scalar row (TFLite arithmetic). */
#ifndef QC_BINARY_S8_H
#define QC_BINARY_S8_H

#include "qc_kernels.h"

/* md/ma/mb = dims/as/bs with each dimension merged into the row below it while a and b step
 * through it contiguously (an elementwise op of two NCHW tensors becomes one row); returns the
 * number of dimensions left (ndim >= 1) */
static inline int32_t qc_merge_rows(int32_t ndim, const int32_t *dims, const int32_t *as,
                                    const int32_t *bs, int32_t *md, int32_t *ma, int32_t *mb) {
    int32_t nd = ndim, d;
    for (d = 0; d < ndim; ++d) {
        md[d] = dims[d];
        ma[d] = as[d];
        mb[d] = bs[d];
    }
    while (nd >= 2 && ma[nd - 2] == ma[nd - 1] * md[nd - 1] && mb[nd - 2] == mb[nd - 1] * md[nd - 1] &&
           (int64_t)md[nd - 2] * md[nd - 1] <= INT32_MAX) {
        md[nd - 2] *= md[nd - 1];
        ma[nd - 2] = ma[nd - 1];
        mb[nd - 2] = mb[nd - 1];
        --nd;
    }
    return nd;
}

/* one row of a broadcasting binary op: y[i] = f(a[i * sa], b[i * sb]), i < n; p: its parameters */
typedef void (*qc_row2_fn)(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                           int32_t n, const void *p);

/* A broadcasting binary op over `dims` (ndim <= QC_MAX_DIMS, 0: one element; as/bs element
 * strides, 0 broadcasts; y contiguous): dimensions merged by qc_merge_rows, then one `row` call
 * per remaining row. */
static inline void qc_rows2(const int8_t *a, const int8_t *b, int8_t *y, int32_t ndim,
                            const int32_t *dims, const int32_t *as, const int32_t *bs, qc_row2_fn row,
                            const void *p) {
    const int32_t *st[2];
    int32_t o[2] = {0, 0}, d, n, nd, md[QC_MAX_DIMS], ma[QC_MAX_DIMS], mb[QC_MAX_DIMS];
    qc_walk_t wk;
    if (ndim <= 0) {
        row(a, 0, b, 0, y, 1, p);
        return;
    }
    for (d = 0; d < ndim; ++d)
        if (dims[d] <= 0) return;
    nd = qc_merge_rows(ndim, dims, as, bs, md, ma, mb);
    st[0] = ma;
    st[1] = mb;
    n = md[nd - 1];
    qc_walk_init(&wk, nd, md);
    do {
        row(a + o[0], ma[nd - 1], b + o[1], mb[nd - 1], y, n, p);
        y += n;
    } while (qc_walk_next(&wk, 2, o, st));
}

/* one Add/Sub row: a' = (a - a_zp) * 2^left_shift, b' likewise; s = mulq(a', a_mult, a_shift) +
 * mulq(b', b_mult, b_shift) (b_mult < 0 for Sub); y = clamp(mulq(s, y_mult, y_shift) + y_zp) */
static inline void qc_add_row_ref(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
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

/* one Mul row: y = clamp(mulq((a - a_zp) * (b - b_zp), mult, shift) + y_zp, qmin, qmax) */
static inline void qc_mul_row_ref(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                                  int32_t n, const qc_mul_params_t *p) {
    int32_t i;
    for (i = 0; i < n; ++i) {
        int32_t prod = ((int32_t)a[(ptrdiff_t)i * sa] - p->a_zp) * ((int32_t)b[(ptrdiff_t)i * sb] - p->b_zp);
        y[i] = (int8_t)qc_clamp_i32(qc_mulq(prod, p->mult, p->shift) + p->y_zp, p->qmin, p->qmax);
    }
}

#endif
