/* qc_gemm_s8, x86 AVX-512 VNNI: bit-identical to kernels/reference/qc_gemm_s8.c.
 *
 * vpdpbusd multiplies unsigned by signed bytes, four products per int32 lane, without
 * saturation. One operand is made unsigned by flipping its sign bit (a ^ 0x80 = a + 128) and
 * the excess removed afterwards, exactly in int32:
 *   sum (a + 128) w = sum a w + 128 sum w.
 * With M >= 4 the activations are flipped and each block of 4 weight rows has its sums taken
 * once per call (cost 1/M of the product); tiles are 4 rows x 4 columns, 64 values of K per
 * step, 16 accumulators reduced to one vector with a shuffle tree. With M < 4 (a fully
 * connected layer's batch) the weights are flipped instead and each activation row summed
 * once, with tiles of 1 row x 16 columns. The K tail uses masked loads (no read past an
 * operand). Sums are requantized 16 at a time (64-bit products, vpsravq): qc_requant exactly.
 * Without __AVX512VNNI__/__AVX512BW__ this file is the portable reference loop. */
#include "qc_kernels.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__)
#include <immintrin.h>

#if defined(__GNUC__)
#define QC_FORCE_INLINE static inline __attribute__((always_inline))
#define QC_UNROLL _Pragma("GCC unroll 16") /* tile loops must unroll to keep tiles in registers */
#elif defined(_MSC_VER)
#define QC_FORCE_INLINE static __forceinline
#define QC_UNROLL
#else
#define QC_FORCE_INLINE static inline
#define QC_UNROLL
#endif

/* Tile value v = i * NR + j sits in lane 4 * (v % 4) + v / 4 of the reduced vector. */
#define QC_LANE(v) (4 * ((v) % 4) + (v) / 4)

QC_FORCE_INLINE __mmask64 qc_kmask(int32_t rem) {
    return rem >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rem) - 1);
}

/* The 16 sums of 16 vectors, lane QC_LANE(v) holding the sum of v[v]. */
QC_FORCE_INLINE __m512i qc_reduce16(const __m512i *v) {
    __m512i s[8], t[4], u0, u1;
    int p;
    QC_UNROLL
    for (p = 0; p < 8; ++p) /* 128-bit quarters: [a.q0 + a.q2, a.q1 + a.q3, b.q0 + b.q2, ...] */
        s[p] = _mm512_add_epi32(_mm512_shuffle_i64x2(v[2 * p], v[2 * p + 1], 0x44),
                                _mm512_shuffle_i64x2(v[2 * p], v[2 * p + 1], 0xee));
    QC_UNROLL
    for (p = 0; p < 4; ++p) /* quarter q holds vector 4p' + q's four partial sums */
        t[p] = _mm512_add_epi32(_mm512_shuffle_i64x2(s[2 * p], s[2 * p + 1], 0x88),
                                _mm512_shuffle_i64x2(s[2 * p], s[2 * p + 1], 0xdd));
    u0 = _mm512_add_epi32(_mm512_unpacklo_epi64(t[0], t[1]), _mm512_unpackhi_epi64(t[0], t[1]));
    u1 = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2], t[3]), _mm512_unpackhi_epi64(t[2], t[3]));
    return _mm512_add_epi32(
        _mm512_castps_si512(_mm512_shuffle_ps(_mm512_castsi512_ps(u0), _mm512_castsi512_ps(u1),
                                              _MM_SHUFFLE(2, 0, 2, 0))),
        _mm512_castps_si512(_mm512_shuffle_ps(_mm512_castsi512_ps(u0), _mm512_castsi512_ps(u1),
                                              _MM_SHUFFLE(3, 1, 3, 1))));
}

/* sum of K int8 */
static int32_t qc_sum_s8(const int8_t *p, int32_t K) {
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i acc = _mm512_setzero_si512();
    int32_t k;
    for (k = 0; k < K; k += 64)
        acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(qc_kmask(K - k), p + k));
    return _mm512_reduce_add_epi32(acc);
}

/* One MR x NR tile (MR * NR <= 16, MR <= 4): raw sums with one operand flipped to unsigned
 * (the activations, or the weights when FLIP_W), lanes as QC_LANE. */
QC_FORCE_INLINE __m512i qc_tile(const int8_t *a, const int8_t *w, int32_t K, int MR, int NR,
                                int FLIP_W) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i acc[16], va[4];
    int i, j;
    int32_t k;
    QC_UNROLL
    for (i = 0; i < 16; ++i) acc[i] = _mm512_setzero_si512();
    for (k = 0; k < K; k += 64) {
        __mmask64 km = qc_kmask(K - k);
        QC_UNROLL
        for (i = 0; i < MR; ++i) {
            va[i] = _mm512_maskz_loadu_epi8(km, a + (size_t)i * K + k);
            if (!FLIP_W) va[i] = _mm512_xor_si512(va[i], flip);
        }
        QC_UNROLL
        for (j = 0; j < NR; ++j) {
            __m512i vw = _mm512_maskz_loadu_epi8(km, w + (size_t)j * K + k);
            if (FLIP_W) vw = _mm512_xor_si512(vw, flip);
            QC_UNROLL
            for (i = 0; i < MR; ++i)
                acc[i * NR + j] = FLIP_W ? _mm512_dpbusd_epi32(acc[i * NR + j], vw, va[i])
                                         : _mm512_dpbusd_epi32(acc[i * NR + j], va[i], vw);
        }
    }
    return qc_reduce16(acc);
}

/* Per-lane parameters of a tile: lane QC_LANE(i * NR + j) of each vector belongs to column j. */
typedef struct {
    __m512i bias, mult, shift, corr; /* corr: 128 * sum of the flipped operand, subtracted */
} qc_lanes_t;

QC_FORCE_INLINE __m512i qc_lane_vec(const int32_t *p, int32_t stride, int MR, int NR) {
    int32_t t[16];
    int v;
    for (v = 0; v < 16; ++v) t[v] = 0;
    for (v = 0; v < MR * NR; ++v) t[QC_LANE(v)] = p[(v % NR) * stride];
    return _mm512_loadu_si512(t);
}

/* qc_mulq on 16 lanes: (x * mult + 2^(shift-1)) >> shift in 64 bits, low 32 bits kept. */
QC_FORCE_INLINE __m512i qc_mulq16(__m512i x, __m512i mult, __m512i shift) {
    const __m512i one = _mm512_set1_epi64(1), lo32 = _mm512_set1_epi64(0xffffffff);
    __m512i se = _mm512_and_si512(shift, lo32), so = _mm512_srli_epi64(shift, 32);
    __m512i pe = _mm512_mul_epi32(x, mult);
    __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32));
    pe = _mm512_srav_epi64(_mm512_add_epi64(pe, _mm512_sllv_epi64(one, _mm512_sub_epi64(se, one))), se);
    po = _mm512_srav_epi64(_mm512_add_epi64(po, _mm512_sllv_epi64(one, _mm512_sub_epi64(so, one))), so);
    return _mm512_mask_blend_epi32(0xaaaa, pe, _mm512_slli_epi64(po, 32));
}

QC_FORCE_INLINE void qc_store(__m512i v, const qc_lanes_t *l, int32_t m, int32_t n, int MR, int NR,
                              const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn) {
    int i, j;
    v = _mm512_add_epi32(_mm512_sub_epi32(v, l->corr), l->bias);
    if (rq->act == QC_ACT_NONE) {
        int8_t b[16];
        v = _mm512_add_epi32(qc_mulq16(v, l->mult, l->shift), _mm512_set1_epi32(rq->out_zp));
        v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(rq->qmin)),
                             _mm512_set1_epi32(rq->qmax));
        __m128i bv = _mm512_cvtepi32_epi8(v); /* byte 4j + i: row i, column j */
        if (MR == 4 && NR == 4 && (sm == 1 || sn == 1)) { /* 4 words in either layout */
            int32_t step = sm == 1 ? sn : sm;
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)n * sn;
            uint32_t t[4];
            if (sn == 1) bv = _mm_shuffle_epi8(bv, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
            _mm_storeu_si128((__m128i *)t, bv);
            memcpy(o, &t[0], 4);
            memcpy(o + step, &t[1], 4);
            memcpy(o + 2 * (ptrdiff_t)step, &t[2], 4);
            memcpy(o + 3 * (ptrdiff_t)step, &t[3], 4);
            return;
        }
        _mm_storeu_si128((__m128i *)b, bv);
        for (j = 0; j < NR; ++j) {
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
            for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = b[QC_LANE(i * NR + j)];
        }
    } else {
        int32_t s[16];
        _mm512_storeu_si512(s, v);
        for (j = 0; j < NR; ++j) {
            int8_t *o = out + (ptrdiff_t)m * sm + (ptrdiff_t)(n + j) * sn;
            for (i = 0; i < MR; ++i) o[(ptrdiff_t)i * sm] = qc_requant(s[QC_LANE(i * NR + j)], n + j, rq);
        }
    }
}

/* Lane parameters for columns n .. n + NR - 1; corr[j] = 128 * column sums (or zero). */
QC_FORCE_INLINE void qc_lanes(qc_lanes_t *l, const int32_t *bias, const qc_requant_t *rq,
                              const int32_t *corr, int32_t corr_stride, int32_t n, int MR, int NR) {
    int32_t cs = rq->per_channel ? 1 : 0, c0 = rq->per_channel ? n : 0;
    l->bias = bias ? qc_lane_vec(bias + n, 1, MR, NR) : _mm512_setzero_si512();
    l->mult = qc_lane_vec(rq->mult + c0, cs, MR, NR);
    l->shift = qc_lane_vec(rq->shift + c0, cs, MR, NR);
    l->corr = qc_lane_vec(corr, corr_stride, MR, NR);
}

/* Activations flipped; columns n .. n + NR - 1 over every row. */
QC_FORCE_INLINE void qc_columns(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                                int32_t n, int32_t K, const qc_requant_t *rq, int8_t *out,
                                int32_t sm, int32_t sn, int NR) {
    int32_t cs[4], m, j;
    qc_lanes_t l4, l1;
    for (j = 0; j < NR; ++j) cs[j] = 128 * qc_sum_s8(w + (size_t)(n + j) * K, K);
    qc_lanes(&l4, bias, rq, cs, 1, n, 4, NR);
    qc_lanes(&l1, bias, rq, cs, 1, n, 1, NR);
    w += (size_t)n * K;
    for (m = 0; m + 4 <= M; m += 4)
        qc_store(qc_tile(a + (size_t)m * K, w, K, 4, NR, 0), &l4, m, n, 4, NR, rq, out, sm, sn);
    for (; m < M; ++m)
        qc_store(qc_tile(a + (size_t)m * K, w, K, 1, NR, 0), &l1, m, n, 1, NR, rq, out, sm, sn);
}

/* Weights flipped; one row, columns n .. n + NR - 1. */
QC_FORCE_INLINE void qc_row(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t m,
                            int32_t n, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                            int32_t sn, int32_t rsum, int NR) {
    qc_lanes_t l;
    qc_lanes(&l, bias, rq, &rsum, 0, n, 1, NR);
    qc_store(qc_tile(a + (size_t)m * K, w + (size_t)n * K, K, 1, NR, 1), &l, m, n, 1, NR, rq, out,
             sm, sn);
}

QC_NOIPA void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M,
                         int32_t N, int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm,
                         int32_t sn) {
    int32_t m, n;
    if (M >= 4) {
        for (n = 0; n + 4 <= N; n += 4) qc_columns(a, w, bias, M, n, K, rq, out, sm, sn, 4);
        for (; n < N; ++n) qc_columns(a, w, bias, M, n, K, rq, out, sm, sn, 1);
        return;
    }
    for (m = 0; m < M; ++m) {
        int32_t rsum = 128 * qc_sum_s8(a + (size_t)m * K, K);
        for (n = 0; n + 16 <= N; n += 16) qc_row(a, w, bias, m, n, K, rq, out, sm, sn, rsum, 16);
        for (; n + 4 <= N; n += 4) qc_row(a, w, bias, m, n, K, rq, out, sm, sn, rsum, 4);
        for (; n < N; ++n) qc_row(a, w, bias, m, n, K, rq, out, sm, sn, rsum, 1);
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
