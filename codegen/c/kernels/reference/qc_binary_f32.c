/* qc_binary_f32: float elementwise ADD SUB MUL DIV POW MAX MIN PRELU, comparisons, logic and
 * fmod with broadcasting, reference.
 * `dims` is the output shape (ndim <= QC_MAX_DIMS; 0 = one element), as/bs the element strides
 * of a and b per output dim (0 broadcasts); y is contiguous. MAX/MIN propagate NaN;
 * PRELU: y = a >= 0 ? a : a * b. */
#include "qc_kernels.h"

#define QC_BIN_LOOP(expr)                                                                      \
    for (i = 0; i < n; ++i) {                                                                  \
        const float u = a[(ptrdiff_t)i * sa], v = b[(ptrdiff_t)i * sb];                        \
        y[i] = (expr);                                                                         \
    }                                                                                          \
    break

static void qc_binary_row(int32_t op, const float *a, int32_t sa, const float *b, int32_t sb,
                          float *y, int32_t n) {
    int32_t i;
    switch (op) {
    case QC_F_ADD: QC_BIN_LOOP(u + v);
    case QC_F_SUB: QC_BIN_LOOP(u - v);
    case QC_F_MUL: QC_BIN_LOOP(u * v);
    case QC_F_DIV: QC_BIN_LOOP(u / v);
    case QC_F_POW: QC_BIN_LOOP(powf(u, v));
    case QC_F_MAX: QC_BIN_LOOP((u > v || u != u) ? u : v);
    case QC_F_MIN: QC_BIN_LOOP((u < v || u != u) ? u : v);
    case QC_F_PRELU: QC_BIN_LOOP(u >= 0.0f ? u : u * v);
    case QC_F_EQUAL: QC_BIN_LOOP(u == v ? 1.0f : 0.0f);
    case QC_F_NOT_EQUAL: QC_BIN_LOOP(u != v ? 1.0f : 0.0f);
    case QC_F_LESS: QC_BIN_LOOP(u < v ? 1.0f : 0.0f);
    case QC_F_LESS_EQUAL: QC_BIN_LOOP(u <= v ? 1.0f : 0.0f);
    case QC_F_GREATER: QC_BIN_LOOP(u > v ? 1.0f : 0.0f);
    case QC_F_GREATER_EQUAL: QC_BIN_LOOP(u >= v ? 1.0f : 0.0f);
    case QC_F_AND: QC_BIN_LOOP((u != 0.0f && v != 0.0f) ? 1.0f : 0.0f);
    case QC_F_OR: QC_BIN_LOOP((u != 0.0f || v != 0.0f) ? 1.0f : 0.0f);
    case QC_F_XOR: QC_BIN_LOOP(((u != 0.0f) != (v != 0.0f)) ? 1.0f : 0.0f);
    case QC_F_MOD: QC_BIN_LOOP(fmodf(u, v));
    default: break;
    }
}

void qc_binary_f32(int32_t op, const float *a, const float *b, float *y, int32_t ndim,
                   const int32_t *dims, const int32_t *as, const int32_t *bs) {
    const int32_t *st[2];
    int32_t o[2] = {0, 0}, d, n;
    qc_walk_t wk;
    if (ndim <= 0) {
        qc_binary_row(op, a, 0, b, 0, y, 1);
        return;
    }
    for (d = 0; d < ndim; ++d)
        if (dims[d] <= 0) return;
    st[0] = as;
    st[1] = bs;
    n = dims[ndim - 1];
    qc_walk_init(&wk, ndim, dims);
    do {
        qc_binary_row(op, a + o[0], as[ndim - 1], b + o[1], bs[ndim - 1], y, n);
        y += n;
    } while (qc_walk_next(&wk, 2, o, st));
}
