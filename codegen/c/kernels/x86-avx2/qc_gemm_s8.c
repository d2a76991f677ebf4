/* qc_gemm_s8, x86 AVX2: bit-identical to kernels/reference/qc_gemm_s8.c.
 *
 * Dot-product form (a and w are both K-contiguous): int8 values are sign-extended to int16
 * (vpmovsxbw) and multiplied pairwise into int32 lanes (vpmaddwd), which is exact for int8
 * operands (|sum of two products| <= 32768). Tiles of 4 rows x 2 columns keep 8 accumulators
 * of 8 int32 lanes; they are reduced to 8 sums with one horizontal-add tree and requantized
 * with qc_requant, so both output layouts (sm = 1 for conv, sn = 1 for fully connected) cost
 * the same. The K tail (K % 16) reads the next 16 bytes when they lie inside the operand
 * (the next row) and masks the weights' extra lanes; only the last rows copy into a zeroed
 * buffer. Without __AVX2__ this file is the portable reference loop. */
#include "qc_kernels.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__AVX2__)
#include <immintrin.h>

#if defined(__GNUC__)
#define QC_FORCE_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define QC_FORCE_INLINE static __forceinline
#else
#define QC_FORCE_INLINE static inline
#endif

/* 16 int8 at p sign-extended to int16; reads past p + rem only inside [p, end). */
QC_FORCE_INLINE __m256i qc_load16(const int8_t *p, const int8_t *end, int32_t rem) {
    if (end - p >= 16) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
    {
        int8_t buf[16] = {0};
        memcpy(buf, p, (size_t)rem);
        return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)buf));
    }
}

/* The sums of 8 vectors of 8 int32: lane i holds the sum of v[i]. */
QC_FORCE_INLINE __m256i qc_reduce8(const __m256i *v) {
    __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
    __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
    __m256i t2 = _mm256_hadd_epi32(v[4], v[5]);
    __m256i t3 = _mm256_hadd_epi32(v[6], v[7]);
    __m256i u0 = _mm256_hadd_epi32(t0, t1); /* lanes: v0..v3 low half | v0..v3 high half */
    __m256i u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* One MR x NR tile (MR * NR <= 8): sums of a[i] . w[j] over K into s[i * NR + j]. */
QC_FORCE_INLINE void qc_tile(const int8_t *a, const int8_t *w, int32_t K, const int8_t *a_end,
                             const int8_t *w_end, __m256i tmask, int MR, int NR, int32_t *s) {
    __m256i acc[8];
    __m256i va[4];
    int i, j;
    int32_t k = 0;
    for (i = 0; i < 8; ++i) acc[i] = _mm256_setzero_si256();
    for (; k + 16 <= K; k += 16) {
        for (i = 0; i < MR; ++i)
            va[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + (size_t)i * K + k)));
        for (j = 0; j < NR; ++j) {
            __m256i vw =
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + (size_t)j * K + k)));
            for (i = 0; i < MR; ++i)
                acc[i * NR + j] = _mm256_add_epi32(acc[i * NR + j], _mm256_madd_epi16(va[i], vw));
        }
    }
    if (k < K) {
        int32_t rem = K - k;
        for (i = 0; i < MR; ++i) va[i] = qc_load16(a + (size_t)i * K + k, a_end, rem);
        for (j = 0; j < NR; ++j) {
            __m256i vw = _mm256_and_si256(qc_load16(w + (size_t)j * K + k, w_end, rem), tmask);
            for (i = 0; i < MR; ++i)
                acc[i * NR + j] = _mm256_add_epi32(acc[i * NR + j], _mm256_madd_epi16(va[i], vw));
        }
    }
    _mm256_storeu_si256((__m256i *)s, qc_reduce8(acc));
}

QC_FORCE_INLINE void qc_store(const int32_t *s, const int32_t *bias, int32_t m, int32_t n, int MR,
                              int NR, const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn) {
    int i, j;
    for (j = 0; j < NR; ++j) {
        int32_t b = bias ? bias[n + j] : 0;
        int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
        for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = qc_requant(s[i * NR + j] + b, n + j, rq);
    }
}

#define QC_TILE(MR, NR)                                                                          \
    do {                                                                                         \
        qc_tile(a + (size_t)m * K, w + (size_t)n * K, K, a_end, w_end, tmask, MR, NR, s);      \
        qc_store(s, bias, m, n, MR, NR, rq, out, sm, sn);                                        \
    } while (0)

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    const int8_t *a_end = a + (size_t)M * K;
    const int8_t *w_end = w + (size_t)N * K;
    /* int16 lanes below K % 16 kept in the tail step */
    __m256i tmask = _mm256_cmpgt_epi16(
        _mm256_set1_epi16((short)(K & 15)),
        _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    int32_t s[8];
    int32_t m = 0, n;
    if (K <= 0) {
        for (m = 0; m < M; ++m)
            for (n = 0; n < N; ++n)
                out[(ptrdiff_t)m * sm + (ptrdiff_t)n * sn] = qc_requant(bias ? bias[n] : 0, n, rq);
        return;
    }
    for (; m + 4 <= M; m += 4) {
        for (n = 0; n + 2 <= N; n += 2) QC_TILE(4, 2);
        if (n < N) QC_TILE(4, 1);
    }
    for (; m < M; ++m) {
        for (n = 0; n + 8 <= N; n += 8) QC_TILE(1, 8);
        for (; n + 2 <= N; n += 2) QC_TILE(1, 2);
        if (n < N) QC_TILE(1, 1);
    }
}

#else /* portable */

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    int32_t m, n, k;
    for (m = 0; m < M; ++m) {
        const int8_t *ar = a + (size_t)m * K;
        for (n = 0; n < N; ++n) {
            const int8_t *wr = w + (size_t)n * K;
            int32_t acc = bias ? bias[n] : 0;
            for (k = 0; k < K; ++k) acc += (int32_t)ar[k] * (int32_t)wr[k];
            out[(ptrdiff_t)m * sm + (ptrdiff_t)n * sn] = qc_requant(acc, n, rq);
        }
    }
}

#endif
