/* qc_gemm_s8: the int8 GEMM core, reference version.
 * out[m*sm + n*sn] = qc_requant(bias[n] + sum_k a[m*K + k] * w[n*K + k], n, rq) with int32
 * accumulation; bias NULL means 0.
 *
 * Blocked so that compilers vectorize it with baseline SIMD: QC_GEMM_MB rows by QC_GEMM_NB
 * columns at a time, their int32 sums on the stack; the columns' weights are sign-extended to
 * int16 once per block of QC_GEMM_KB values of K, so the inner loop (two rows by four columns,
 * contiguous K) is eight int16 dot products (pmaddwd on SSE2); blocks of K that are not a
 * multiple of 16 copy the rows to int16 too (qc_gemm_block_pad). Each column's sums are then
 * requantized as a row by qc_requant_row_vec (qc_conv_util.h). */
#include "qc_kernels.h"
#include "qc_conv_util.h" /* qc_requant_row_vec */

#define QC_GEMM_MB 32 /* rows per block */
#define QC_GEMM_NB 4  /* columns per block */
#define QC_GEMM_KB 64 /* K values per weight block: 512 bytes of int16 weights */

/* s[j][i] += sum_k a[i*K + k] * wb[j][k], rows i < mb, k < kb, j < QC_GEMM_NB */
static void qc_gemm_block(const int8_t *a, int32_t K, int32_t mb, int32_t kb,
                          const int16_t wb[QC_GEMM_NB][QC_GEMM_KB], int32_t s[QC_GEMM_NB][QC_GEMM_MB]) {
    const int16_t *w0 = wb[0], *w1 = wb[1], *w2 = wb[2], *w3 = wb[3];
    int32_t i, k;
    for (i = 0; i + 2 <= mb; i += 2) {
        const int8_t *a0 = a + (ptrdiff_t)i * K, *a1 = a0 + K;
        int32_t p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
        for (k = 0; k < kb; ++k) {
            const int16_t u = a0[k], v = a1[k];
            p0 += u * w0[k];
            p1 += u * w1[k];
            p2 += u * w2[k];
            p3 += u * w3[k];
            q0 += v * w0[k];
            q1 += v * w1[k];
            q2 += v * w2[k];
            q3 += v * w3[k];
        }
        s[0][i] += p0;
        s[1][i] += p1;
        s[2][i] += p2;
        s[3][i] += p3;
        s[0][i + 1] += q0;
        s[1][i + 1] += q1;
        s[2][i + 1] += q2;
        s[3][i + 1] += q3;
    }
    if (i < mb) {
        const int8_t *a0 = a + (ptrdiff_t)i * K;
        int32_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
        for (k = 0; k < kb; ++k) {
            const int16_t u = a0[k];
            p0 += u * w0[k];
            p1 += u * w1[k];
            p2 += u * w2[k];
            p3 += u * w3[k];
        }
        s[0][i] += p0;
        s[1][i] += p1;
        s[2][i] += p2;
        s[3][i] += p3;
    }
}

/* qc_gemm_block for kb not a multiple of 16, where the loop above would leave up to 15 values
 * of each dot product to scalar code: both rows are first copied to int16 and zero-filled, with
 * wb, up to kb rounded up to 8, so the dot products run in whole 8-lane vectors. */
static void qc_gemm_block_pad(const int8_t *a, int32_t K, int32_t mb, int32_t kb,
                              const int16_t wb[QC_GEMM_NB][QC_GEMM_KB], int32_t s[QC_GEMM_NB][QC_GEMM_MB]) {
    const int16_t *w0 = wb[0], *w1 = wb[1], *w2 = wb[2], *w3 = wb[3];
    const int32_t k8 = (kb + 7) & ~7;
    int16_t ab[2][QC_GEMM_KB];
    const int16_t *u = ab[0], *v = ab[1];
    int32_t i, k;
    for (k = kb; k < k8; ++k) ab[0][k] = ab[1][k] = 0;
    for (i = 0; i < mb; i += 2) {
        const int8_t *a0 = a + (ptrdiff_t)i * K;
        int32_t p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
        for (k = 0; k < kb; ++k) ab[0][k] = a0[k];
        if (i + 1 < mb) {
            const int8_t *a1 = a0 + K;
            for (k = 0; k < kb; ++k) ab[1][k] = a1[k];
        } else {
            for (k = 0; k < kb; ++k) ab[1][k] = 0;
        }
        for (k = 0; k < k8; ++k) {
            p0 += u[k] * w0[k];
            p1 += u[k] * w1[k];
            p2 += u[k] * w2[k];
            p3 += u[k] * w3[k];
            q0 += v[k] * w0[k];
            q1 += v[k] * w1[k];
            q2 += v[k] * w2[k];
            q3 += v[k] * w3[k];
        }
        s[0][i] += p0;
        s[1][i] += p1;
        s[2][i] += p2;
        s[3][i] += p3;
        if (i + 1 < mb) {
            s[0][i + 1] += q0;
            s[1][i + 1] += q1;
            s[2][i + 1] += q2;
            s[3][i + 1] += q3;
        }
    }
}

void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M, int32_t N,
                int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn) {
    int16_t wb[QC_GEMM_NB][QC_GEMM_KB];
    int32_t s[QC_GEMM_NB][QC_GEMM_MB];
    int32_t m0, n0, k0, i, j, k;
    for (m0 = 0; m0 < M; m0 += QC_GEMM_MB) {
        const int32_t mb = M - m0 < QC_GEMM_MB ? M - m0 : QC_GEMM_MB;
        for (n0 = 0; n0 < N; n0 += QC_GEMM_NB) {
            const int32_t nb = N - n0 < QC_GEMM_NB ? N - n0 : QC_GEMM_NB;
            for (j = 0; j < QC_GEMM_NB; ++j) {
                const int32_t b = bias && j < nb ? bias[n0 + j] : 0;
                for (i = 0; i < mb; ++i) s[j][i] = b;
            }
            for (k0 = 0; k0 < K; k0 += QC_GEMM_KB) {
                const int32_t kb = K - k0 < QC_GEMM_KB ? K - k0 : QC_GEMM_KB;
                for (j = 0; j < QC_GEMM_NB; ++j) { /* missing columns, and k up to a multiple of 8: zero */
                    if (j < nb) {
                        const int8_t *wr = w + (ptrdiff_t)(n0 + j) * K + k0;
                        for (k = 0; k < kb; ++k) wb[j][k] = wr[k];
                    } else {
                        for (k = 0; k < kb; ++k) wb[j][k] = 0;
                    }
                    for (k = kb; k < ((kb + 7) & ~7); ++k) wb[j][k] = 0;
                }
                if (kb % 16 == 0)
                    qc_gemm_block(a + (ptrdiff_t)m0 * K + k0, K, mb, kb, (const int16_t(*)[QC_GEMM_KB])wb, s);
                else
                    qc_gemm_block_pad(a + (ptrdiff_t)m0 * K + k0, K, mb, kb, (const int16_t(*)[QC_GEMM_KB])wb, s);
            }
            for (j = 0; j < nb; ++j)
                qc_requant_row_vec(s[j], mb, n0 + j, rq, out + (ptrdiff_t)m0 * sm + (ptrdiff_t)(n0 + j) * sn, sm);
        }
    }
}
