/* qc_matmul_f32: strided batched float MatMul / Gemm, reference version.
 * y[b][m][n] = alpha * sum_k a[b*a_bs + m*am + k*ak] * b[b*b_bs + k*bk + n*bn]
 *              + beta * c[m*cm + n*cn]   (c NULL: no term; cm = 0 / cn = 0 broadcast)
 * then act(clamp(., lo, hi), aa, ab); y is contiguous [batch][M][N]. The sum runs over k in
 * order in float, QC_MATMUL_F32_COLS output columns at a time. Serves MatMul, Gemm with
 * transA/transB (through the strides) and fully connected layers. */
#include "qc_kernels.h"

#define QC_MATMUL_F32_COLS 16

void qc_matmul_f32(const float *a, const float *b, float *y, int32_t batch, int32_t M, int32_t K,
                   int32_t N, int32_t a_bs, int32_t am, int32_t ak, int32_t b_bs, int32_t bk,
                   int32_t bn, float alpha, const float *c, int32_t cm, int32_t cn, float beta,
                   float lo, float hi, int32_t act, float aa, float ab) {
    float acc[QC_MATMUL_F32_COLS];
    int32_t bi, m, n0, k, j;
    for (bi = 0; bi < batch; ++bi) {
        const float *ab0 = a + (ptrdiff_t)bi * a_bs;
        const float *bb0 = b + (ptrdiff_t)bi * b_bs;
        for (m = 0; m < M; ++m) {
            const float *ar = ab0 + (ptrdiff_t)m * am;
            float *yr = y + ((ptrdiff_t)bi * M + m) * N;
            for (n0 = 0; n0 < N; n0 += QC_MATMUL_F32_COLS) {
                const int32_t nc = N - n0 < QC_MATMUL_F32_COLS ? N - n0 : QC_MATMUL_F32_COLS;
                const float *bc = bb0 + (ptrdiff_t)n0 * bn;
                for (j = 0; j < nc; ++j) acc[j] = 0.0f;
                for (k = 0; k < K; ++k) {
                    const float av = ar[(ptrdiff_t)k * ak];
                    const float *br = bc + (ptrdiff_t)k * bk;
                    for (j = 0; j < nc; ++j) acc[j] += av * br[(ptrdiff_t)j * bn];
                }
                for (j = 0; j < nc; ++j) {
                    float v = alpha * acc[j];
                    if (c) v += beta * c[(ptrdiff_t)m * cm + (ptrdiff_t)(n0 + j) * cn];
                    v = v < lo ? lo : (v > hi ? hi : v);
                    yr[n0 + j] = qc_act_f32(v, act, aa, ab);
                }
            }
        }
    }
}
