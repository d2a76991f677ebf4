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
#define QC_UNROLL _Pragma("GCC unroll 8") /* tile loops must unroll to keep tiles in registers */
#elif defined(_MSC_VER)
#define QC_FORCE_INLINE static __forceinline
#define QC_UNROLL
#else
#define QC_FORCE_INLINE static inline
#define QC_UNROLL
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
QC_FORCE_INLINE __m256i qc_reduce8(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m256i v4,
                                   __m256i v5, __m256i v6, __m256i v7) {
    __m256i t0 = _mm256_hadd_epi32(v0, v1);
    __m256i t1 = _mm256_hadd_epi32(v2, v3);
    __m256i t2 = _mm256_hadd_epi32(v4, v5);
    __m256i t3 = _mm256_hadd_epi32(v6, v7);
    __m256i u0 = _mm256_hadd_epi32(t0, t1); /* lanes: v0..v3 low half | v0..v3 high half */
    __m256i u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* One MR x NR tile (MR * NR <= 8): lane i * NR + j holds the sum of a[i] . w[j] over K. */
QC_FORCE_INLINE __m256i qc_tile(const int8_t *a, const int8_t *w, int32_t K, const int8_t *a_end,
                                const int8_t *w_end, int MR, int NR) {
    __m256i acc[8];
    __m256i va[4];
    int i, j;
    int32_t k = 0;
    QC_UNROLL
    for (i = 0; i < 8; ++i) acc[i] = _mm256_setzero_si256();
    for (; k + 16 <= K; k += 16) {
        QC_UNROLL
        for (i = 0; i < MR; ++i)
            va[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + (size_t)i * K + k)));
        QC_UNROLL
        for (j = 0; j < NR; ++j) {
            __m256i vw =
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + (size_t)j * K + k)));
            QC_UNROLL
            for (i = 0; i < MR; ++i)
                acc[i * NR + j] = _mm256_add_epi32(acc[i * NR + j], _mm256_madd_epi16(va[i], vw));
        }
    }
    if (k < K) {
        int32_t rem = K - k;
        /* int16 lanes below rem kept */
        __m256i tmask = _mm256_cmpgt_epi16(
            _mm256_set1_epi16((short)rem),
            _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        QC_UNROLL
        for (i = 0; i < MR; ++i) va[i] = qc_load16(a + (size_t)i * K + k, a_end, rem);
        QC_UNROLL
        for (j = 0; j < NR; ++j) {
            __m256i vw = _mm256_and_si256(qc_load16(w + (size_t)j * K + k, w_end, rem), tmask);
            QC_UNROLL
            for (i = 0; i < MR; ++i)
                acc[i * NR + j] = _mm256_add_epi32(acc[i * NR + j], _mm256_madd_epi16(va[i], vw));
        }
    }
    return qc_reduce8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
}

/* Lane l = p[n + l % NR] (NR in 1, 2, 8). */
QC_FORCE_INLINE __m256i qc_chan(const int32_t *p, int32_t n, int NR) {
    if (NR == 8) return _mm256_loadu_si256((const __m256i *)(p + n));
    if (NR == 2) {
        int64_t v;
        memcpy(&v, p + n, 8);
        return _mm256_set1_epi64x(v);
    }
    return _mm256_set1_epi32(p[n]);
}

/* qc_mulq on 8 lanes: (x * mult + 2^(shift-1)) >> shift in 64 bits, low 32 bits kept. */
QC_FORCE_INLINE __m256i qc_mulq8(__m256i x, __m256i mult, __m256i shift) {
    const __m256i one = _mm256_set1_epi64x(1), sign = _mm256_set1_epi64x(INT64_MIN);
    const __m256i lo32 = _mm256_set1_epi64x(0xffffffff);
    __m256i se = _mm256_and_si256(shift, lo32), so = _mm256_srli_epi64(shift, 32);
    __m256i pe = _mm256_mul_epi32(x, mult);
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32));
    pe = _mm256_add_epi64(pe, _mm256_sllv_epi64(one, _mm256_sub_epi64(se, one)));
    po = _mm256_add_epi64(po, _mm256_sllv_epi64(one, _mm256_sub_epi64(so, one)));
    /* arithmetic shift from the logical one: (p ^ 2^63) >> s minus 2^63 >> s */
    pe = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_xor_si256(pe, sign), se), _mm256_srlv_epi64(sign, se));
    po = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_xor_si256(po, sign), so), _mm256_srlv_epi64(sign, so));
    return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa);
}

typedef struct {
    const int32_t *bias, *mult, *shift;
    int32_t per_channel, fixed;
    __m256i zp, qmin, qmax;
} qc_epi_t;

/* Requantize a tile's sums (qc_requant, exactly) and store them at their strides. */
QC_FORCE_INLINE void qc_store(__m256i v, const qc_epi_t *e, int32_t m, int32_t n, int MR, int NR,
                              const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn) {
    int32_t s[8];
    int i, j;
    if (e->bias) v = _mm256_add_epi32(v, qc_chan(e->bias, n, NR));
    if (e->fixed) {
        __m256i mult = e->per_channel ? qc_chan(e->mult, n, NR) : _mm256_set1_epi32(e->mult[0]);
        __m256i shift = e->per_channel ? qc_chan(e->shift, n, NR) : _mm256_set1_epi32(e->shift[0]);
        v = _mm256_add_epi32(qc_mulq8(v, mult, shift), e->zp);
        v = _mm256_min_epi32(_mm256_max_epi32(v, e->qmin), e->qmax);
        if (MR == 4 && NR == 2 && (sm == 1 || sn == 1)) {
            /* low bytes of lanes i * 2 + j as 16-bit pairs: lane half h holds rows 2h, 2h + 1 */
            __m256i b = _mm256_shuffle_epi8(
                v, _mm256_setr_epi8(0, 8, 4, 12, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1,
                                    0, 8, 4, 12, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1));
            __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)n * sn;
            if (sm == 1) { /* words 0, 1: column 0, 1 of rows 0-1 (lo) and 2-3 (hi) */
                uint32_t c[4];
                _mm_storeu_si128((__m128i *)c, _mm_unpacklo_epi16(lo, hi));
                memcpy(o, &c[0], 4);
                memcpy(o + sn, &c[1], 4);
            } else { /* words 2, 3: row 0, 1 (lo) and 2, 3 (hi) */
                uint16_t r[8];
                _mm_storeu_si128((__m128i *)r, _mm_unpacklo_epi64(_mm_srli_si128(lo, 4), _mm_srli_si128(hi, 4)));
                memcpy(o, &r[0], 2);
                memcpy(o + sm, &r[1], 2);
                memcpy(o + 2 * (ptrdiff_t)sm, &r[4], 2);
                memcpy(o + 3 * (ptrdiff_t)sm, &r[5], 2);
            }
            return;
        }
        _mm256_storeu_si256((__m256i *)s, v);
        for (j = 0; j < NR; ++j) {
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
            for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = (int8_t)s[i * NR + j];
        }
    } else {
        _mm256_storeu_si256((__m256i *)s, v);
        for (j = 0; j < NR; ++j) {
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
            for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = qc_requant(s[i * NR + j], n + j, rq);
        }
    }
}

#define QC_TILE(MR, NR)                                                                          \
    qc_store(qc_tile(a + (size_t)m * K, w + (size_t)n * K, K, a_end, w_end, MR, NR), &e, m, n,  \
             MR, NR, rq, out, sm, sn)

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    const int8_t *a_end = a + (size_t)M * K;
    const int8_t *w_end = w + (size_t)N * K;
    qc_epi_t e;
    int32_t m = 0, n;
    e.bias = bias;
    e.mult = rq->mult;
    e.shift = rq->shift;
    e.per_channel = rq->per_channel;
    e.fixed = rq->act == QC_ACT_NONE;
    e.zp = _mm256_set1_epi32(rq->out_zp);
    e.qmin = _mm256_set1_epi32(rq->qmin);
    e.qmax = _mm256_set1_epi32(rq->qmax);
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
