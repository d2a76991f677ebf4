/* qc_einsum_f32: a general Einsum of one to three operands (the matrix-product forms become
 * MatMul in the frontend; this takes the rest: outer products, row-wise dot products, traces,
 * diagonals, sums). The equation arrives as nl letters: the first nout are the output's, in its
 * order (y is contiguous over them), the others are summed. Operand o reads element
 * sum_l idx[l] * strides[o * nl + l] (0 for a letter it lacks or broadcasts; a letter repeated in
 * an operand adds its strides, which reads the diagonal). Each output element sums, in order of
 * the summed letters (the last fastest), the product of the operands (left to right) in float.
 * Reference version. */
#include "qc_kernels.h"

#define QC_EINSUM_MAX_LETTERS 52

void qc_einsum_f32(const float *a, const float *b, const float *c, float *y, int32_t nl, int32_t nout,
                   const int32_t *dims, const int32_t *strides) {
    const float *ops[3];
    int32_t idx[QC_EINSUM_MAX_LETTERS], nops = 0, l, o;
    ptrdiff_t n = 0;
    ops[nops++] = a;
    if (b) ops[nops++] = b;
    if (c) ops[nops++] = c;
    for (l = 0; l < nl; ++l) idx[l] = 0;
    for (;;) {
        float acc = 0.0f;
        for (l = nout; l < nl; ++l) idx[l] = 0;
        for (;;) { /* the summed letters */
            float prod = 1.0f;
            for (o = 0; o < nops; ++o) {
                ptrdiff_t off = 0;
                for (l = 0; l < nl; ++l) off += (ptrdiff_t)idx[l] * strides[o * nl + l];
                prod = o == 0 ? ops[o][off] : prod * ops[o][off];
            }
            acc += prod;
            for (l = nl - 1; l >= nout; --l) {
                if (++idx[l] < dims[l]) break;
                idx[l] = 0;
            }
            if (l < nout) break;
        }
        y[n++] = acc;
        for (l = nout - 1; l >= 0; --l) { /* the next output element */
            if (++idx[l] < dims[l]) break;
            idx[l] = 0;
        }
        if (l < 0) return;
    }
}
