/* qc_matmul_s8: batched int8 MatMul of two activations, reference version.
 * y[b][m][n] = qc_requant(sum_k (a[b*a_bstride + m*K + k] - a_zp) * (b[b*b_bstride + k*N + n]
 * - b_zp), 0, rq), int32 accumulation, rq per tensor; rows of B are read contiguously with up to
 * QC_MATMUL_S8_COLS accumulators on the stack, requantized by qc_requant_row_u. */
#include "qc_kernels.h"
#include "qc_conv_util.h" /* qc_requant_row_u */

#define QC_MATMUL_S8_COLS 64

void qc_matmul_s8(const int8_t *a, const int8_t *b, int32_t batch, int32_t M, int32_t K, int32_t N,
                  int32_t a_bstride, int32_t b_bstride, int32_t a_zp, int32_t b_zp,
                  const qc_requant_t *rq, int8_t *y) {
    int32_t acc[QC_MATMUL_S8_COLS];
    int32_t bi, m, n0, k, j;
    for (bi = 0; bi < batch; ++bi) {
        const int8_t *ab = a + (ptrdiff_t)bi * a_bstride;
        const int8_t *bb = b + (ptrdiff_t)bi * b_bstride;
        for (m = 0; m < M; ++m) {
            const int8_t *ar = ab + (ptrdiff_t)m * K;
            int8_t *yr = y + ((ptrdiff_t)bi * M + m) * N;
            for (n0 = 0; n0 < N; n0 += QC_MATMUL_S8_COLS) {
                const int32_t nc = N - n0 < QC_MATMUL_S8_COLS ? N - n0 : QC_MATMUL_S8_COLS;
                for (j = 0; j < nc; ++j) acc[j] = 0;
                for (k = 0; k < K; ++k) {
                    const int32_t av = (int32_t)ar[k] - a_zp;
                    const int8_t *br = bb + (ptrdiff_t)k * N + n0;
                    for (j = 0; j < nc; ++j) acc[j] += av * ((int32_t)br[j] - b_zp);
                }
                qc_requant_row_u(acc, nc, 0, rq, yr + n0);
            }
        }
    }
}
