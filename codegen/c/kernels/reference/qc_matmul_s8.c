/* qc_matmul_s8: batched int8 MatMul of two activations, reference version.
 * y[b][m][n] = qc_requant(sum_k (a[b*a_bstride + m*K + k] - a_zp) * (b[b*b_bstride + k*N + n]
 * - b_zp), 0, rq), int32 accumulation, rq per tensor.
 *
 * For K <= QC_MATMUL_S8_K and more than one row, up to QC_MATMUL_S8_BT / K columns of B at a
 * time are copied minus b_zp into int16, transposed (bt[j][k]), and each row of A minus a_zp
 * into int16, so every output is a contiguous int16 dot product (pmaddwd on SSE2). Otherwise the
 * rows of B are read contiguously with up to QC_MATMUL_S8_COLS accumulators on the stack. Both
 * requantize rows with qc_requant_row_vec. */
#include "qc_kernels.h"
#include "qc_conv_util.h" /* qc_requant_row_vec */

#define QC_MATMUL_S8_COLS 64
#define QC_MATMUL_S8_K 128   /* the transposed path: K at most (int16 row of A: 256 bytes) */
#define QC_MATMUL_S8_BT 256  /* int16 values of transposed B (512 bytes) */

/* One batch the transposed way: y[m][n] for m < M, n < N. */
static void qc_matmul_bt(const int8_t *ab, const int8_t *bb, int32_t M, int32_t K, int32_t N, int32_t a_zp,
                         int32_t b_zp, const qc_requant_t *rq, int8_t *y) {
    int16_t bt[QC_MATMUL_S8_BT], a16[QC_MATMUL_S8_K];
    int32_t acc[QC_MATMUL_S8_COLS];
    const int32_t cols = QC_MATMUL_S8_BT / K < QC_MATMUL_S8_COLS ? QC_MATMUL_S8_BT / K : QC_MATMUL_S8_COLS;
    int32_t n0, m, k, j;
    for (n0 = 0; n0 < N; n0 += cols) {
        const int32_t nc = N - n0 < cols ? N - n0 : cols;
        for (k = 0; k < K; ++k) {
            const int8_t *br = bb + (ptrdiff_t)k * N + n0;
            for (j = 0; j < nc; ++j) bt[j * K + k] = (int16_t)(br[j] - b_zp);
        }
        for (m = 0; m < M; ++m) {
            const int8_t *ar = ab + (ptrdiff_t)m * K;
            for (k = 0; k < K; ++k) a16[k] = (int16_t)(ar[k] - a_zp);
            for (j = 0; j < nc; ++j) {
                const int16_t *bj = bt + j * K;
                int32_t s = 0;
                for (k = 0; k < K; ++k) s += a16[k] * bj[k];
                acc[j] = s;
            }
            qc_requant_row_vec(acc, nc, 0, rq, y + (ptrdiff_t)m * N + n0, 1);
        }
    }
}

void qc_matmul_s8(const int8_t *a, const int8_t *b, int32_t batch, int32_t M, int32_t K, int32_t N,
                  int32_t a_bstride, int32_t b_bstride, int32_t a_zp, int32_t b_zp,
                  const qc_requant_t *rq, int8_t *y) {
    int32_t acc[QC_MATMUL_S8_COLS];
    int32_t bi, m, n0, k, j;
    for (bi = 0; bi < batch; ++bi) {
        const int8_t *ab = a + (ptrdiff_t)bi * a_bstride;
        const int8_t *bb = b + (ptrdiff_t)bi * b_bstride;
        if (M > 1 && K > 0 && K <= QC_MATMUL_S8_K) {
            qc_matmul_bt(ab, bb, M, K, N, a_zp, b_zp, rq, y + (ptrdiff_t)bi * M * N);
            continue;
        }
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
                qc_requant_row_vec(acc, nc, 0, rq, yr + n0, 1);
            }
        }
    }
}
