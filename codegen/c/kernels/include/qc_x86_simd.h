/* qcompiler C kernel library: helpers shared by the x86 kernel files: with AVX2 / AVX-512
 * qc_mulq on 8 / 16 int32 lanes, bit-identical to the scalar qc_mulq, QC_ACT_LINEAR's float
 * epilogue and a short copy (qc_dwconv_s8, qc_conv_s8). */
#ifndef QC_X86_SIMD_H
#define QC_X86_SIMD_H

#include "qc_binary_s8.h" /* the broadcast walk of qc_add_s8 / qc_mul_s8 */

#if defined(__AVX2__)
#include <immintrin.h>

#if defined(__GNUC__)
#define QC_FORCE_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define QC_FORCE_INLINE static __forceinline
#else
#define QC_FORCE_INLINE static inline
#endif

#if defined(__GNUC__)
/* an empty asm on a vector: keeps GCC from turning copy loops into memmove calls */
#define QC_OPAQUE(v) __asm__("" : "+x"(v))
#else
#define QC_OPAQUE(v) (void)0
#endif

/* n bytes from s to d, n >= 0, without a libc call (the short rows of small planes): 16-byte
 * moves (the last one overlapping), two overlapping 8-byte moves, or bytes; writes and reads
 * only [d, d + n) and [s, s + n). */
QC_FORCE_INLINE void qc_copy_n(int8_t *d, const int8_t *s, int32_t n) {
    int32_t i;
    if (n >= 16) {
        for (i = 0; i + 16 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            QC_OPAQUE(v);
            _mm_storeu_si128((__m128i *)(d + i), v);
        }
        if (i < n)
            _mm_storeu_si128((__m128i *)(d + n - 16), _mm_loadu_si128((const __m128i *)(s + n - 16)));
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else {
        for (i = 0; i < n; ++i) d[i] = s[i];
    }
}

/* QC_ACT_LINEAR's float epilogue (qc_requant's arithmetic exactly) on 8 or 16 lanes:
 * v = (float)acc * fscale / out_scale rounded half to even (vroundps), + (float)zp, clamped to
 * [qmin, qmax] by vmaxps/vminps (vmaxps gives its second operand, qmin, for NaN as
 * `!(q >= qmin)` does). The constants of one channel: */
typedef struct {
    float fscale, out_scale, zp, qmin, qmax;
} qc_lin_t;

static inline void qc_lin_init(qc_lin_t *l, const qc_requant_t *rq, int32_t c) {
    l->fscale = rq->fscale ? rq->fscale[rq->per_channel ? c : 0] : 0.0f;
    l->out_scale = rq->out_scale;
    l->zp = (float)rq->out_zp;
    l->qmin = (float)rq->qmin;
    l->qmax = (float)rq->qmax;
}

QC_FORCE_INLINE __m256i qc_lin8(__m256i acc, const qc_lin_t *l) {
    __m256 v = _mm256_div_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(l->fscale)),
                             _mm256_set1_ps(l->out_scale));
    v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm256_set1_ps(l->zp));
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(l->qmin)), _mm256_set1_ps(l->qmax));
    return _mm256_cvtps_epi32(v);
}

typedef struct {
    __m256i mult, rnd, sbias;
    __m128i cnt;
} qc_mq_t;

static inline void qc_mq_init(qc_mq_t *q, int32_t mult, int32_t shift) {
    q->mult = _mm256_set1_epi64x(mult);
    q->rnd = _mm256_set1_epi64x((int64_t)1 << (shift - 1));
    q->cnt = _mm_cvtsi32_si128(shift);
    q->sbias = _mm256_srl_epi64(_mm256_set1_epi64x(INT64_MIN), q->cnt);
}

/* qc_mulq on 8 lanes with one multiplier and shift */
QC_FORCE_INLINE __m256i qc_mq(__m256i x, const qc_mq_t *q) {
    const __m256i sign = _mm256_set1_epi64x(INT64_MIN);
    __m256i pe = _mm256_add_epi64(_mm256_mul_epi32(x, q->mult), q->rnd);
    __m256i po = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mult), q->rnd);
    /* arithmetic shift from the logical one: (p ^ 2^63) >> s minus 2^63 >> s */
    pe = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_xor_si256(pe, sign), q->cnt), q->sbias);
    po = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_xor_si256(po, sign), q->cnt), q->sbias);
    return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa);
}

/* 8 int8 values at p (stride 1) or p[0] broadcast (stride 0), widened to int32 */
QC_FORCE_INLINE __m256i qc_ld8(const int8_t *p, int32_t s) {
    int64_t v;
    if (!s) return _mm256_set1_epi32(p[0]);
    memcpy(&v, p, 8);
    return _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(v));
}

/* 8 int32 lanes (already clamped to int8) stored as 8 bytes */
QC_FORCE_INLINE void qc_st8(int8_t *y, __m256i v) {
    __m128i o;
    v = _mm256_packs_epi32(v, v);
    v = _mm256_packs_epi16(v, v); /* bytes 0-3: lanes 0-3; bytes 16-19: lanes 4-7 */
    o = _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)y, o);
}

#if defined(__AVX512F__) && defined(__AVX512BW__)
/* qc_mulq on 16 lanes, one multiplier and shift (vpsraq) */
QC_FORCE_INLINE __m512i qc_mq16(__m512i x, __m512i mult, __m512i rnd, __m128i cnt) {
    __m512i pe = _mm512_sra_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, mult), rnd), cnt);
    __m512i po = _mm512_sra_epi64(
        _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), mult), rnd), cnt);
    return _mm512_mask_blend_epi32(0xaaaa, pe, _mm512_slli_epi64(po, 32));
}

QC_FORCE_INLINE __m512i qc_lin16(__m512i acc, const qc_lin_t *l) {
    __m512 v = _mm512_div_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(l->fscale)),
                             _mm512_set1_ps(l->out_scale));
    v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                      _mm512_set1_ps(l->zp));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(l->qmin)), _mm512_set1_ps(l->qmax));
    return _mm512_cvtps_epi32(v);
}

QC_FORCE_INLINE __m512i qc_ld16(const int8_t *p, int32_t s) {
    if (!s) return _mm512_set1_epi32(p[0]);
    return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p));
}
#endif
#endif /* __AVX2__ */

#endif /* QC_X86_SIMD_H */
