/* qc_gemm_s8: the int8 GEMM core, reference version.
 * out[m*sm + n*sn] = qc_requant(bias[n] + sum_k a[m*K + k] * w[n*K + k], n, rq) with int32
 * accumulation; bias NULL means 0. Four output columns share each pass over a row of `a`. */
#include "qc_kernels.h"

static int32_t qc_dot_s8(const int8_t *a, const int8_t *w, int32_t K) {
    int32_t acc = 0, k;
    for (k = 0; k < K; ++k) acc += (int32_t)a[k] * (int32_t)w[k];
    return acc;
}

void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M, int32_t N,
                int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn) {
    int32_t m, n, k;
    for (m = 0; m < M; ++m) {
        const int8_t *ar = a + (ptrdiff_t)m * K;
        int8_t *orow = out + (ptrdiff_t)m * sm;
        for (n = 0; n + 4 <= N; n += 4) {
            const int8_t *w0 = w + (ptrdiff_t)n * K;
            const int8_t *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
            int32_t a0 = bias ? bias[n] : 0, a1 = bias ? bias[n + 1] : 0;
            int32_t a2 = bias ? bias[n + 2] : 0, a3 = bias ? bias[n + 3] : 0;
            for (k = 0; k < K; ++k) {
                int32_t av = ar[k];
                a0 += av * w0[k];
                a1 += av * w1[k];
                a2 += av * w2[k];
                a3 += av * w3[k];
            }
            orow[(ptrdiff_t)n * sn] = qc_requant(a0, n, rq);
            orow[(ptrdiff_t)(n + 1) * sn] = qc_requant(a1, n + 1, rq);
            orow[(ptrdiff_t)(n + 2) * sn] = qc_requant(a2, n + 2, rq);
            orow[(ptrdiff_t)(n + 3) * sn] = qc_requant(a3, n + 3, rq);
        }
        for (; n < N; ++n) {
            int32_t acc = (bias ? bias[n] : 0) + qc_dot_s8(ar, w + (ptrdiff_t)n * K, K);
            orow[(ptrdiff_t)n * sn] = qc_requant(acc, n, rq);
        }
    }
}
