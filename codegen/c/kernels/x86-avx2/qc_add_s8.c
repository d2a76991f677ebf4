/* qc_add_s8, x86 AVX2: bit-identical to kernels/reference/qc_add_s8.c.
 *
 * Trailing dimensions that are contiguous in a, b and y alike are merged into one long row
 * (an elementwise Add of two NCHW tensors becomes one row), then each row whose input strides
 * are 1 or 0 (broadcast) is computed 8 values at a time: the three qc_mulq of the TFLite
 * arithmetic in 64-bit lanes (vpmuldq, rounding constant, arithmetic shift built from the
 * logical one), low 32 bits kept as qc_mulq does. Other strides and the row tails take the
 * reference's scalar loop. Built with AVX-512 (x86-avx512vnni takes this file), rows go 16 at a
 * time with vpsraq first. Without __AVX2__ only the merging remains. */
#include "qc_x86_simd.h"

#if defined(__AVX2__)
#if defined(__AVX512F__) && defined(__AVX512BW__)
/* 16 at a time with AVX-512; returns the count done */
static int32_t qc_add_row16(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                            int32_t n, const qc_add_params_t *p) {
    const __m128i ls = _mm_cvtsi32_si128(p->left_shift);
    const __m128i ca = _mm_cvtsi32_si128(p->a_shift), cb = _mm_cvtsi32_si128(p->b_shift);
    const __m128i cy = _mm_cvtsi32_si128(p->y_shift);
    const __m512i ma = _mm512_set1_epi64(p->a_mult), mb = _mm512_set1_epi64(p->b_mult);
    const __m512i my = _mm512_set1_epi64(p->y_mult);
    const __m512i ra = _mm512_set1_epi64((int64_t)1 << (p->a_shift - 1));
    const __m512i rb = _mm512_set1_epi64((int64_t)1 << (p->b_shift - 1));
    const __m512i ry = _mm512_set1_epi64((int64_t)1 << (p->y_shift - 1));
    const __m512i azp = _mm512_set1_epi32(p->a_zp), bzp = _mm512_set1_epi32(p->b_zp);
    const __m512i yzp = _mm512_set1_epi32(p->y_zp);
    const __m512i lo = _mm512_set1_epi32(p->qmin), hi = _mm512_set1_epi32(p->qmax);
    int32_t i;
    for (i = 0; i + 16 <= n; i += 16) {
        __m512i av = _mm512_sll_epi32(_mm512_sub_epi32(qc_ld16(a + (ptrdiff_t)i * sa, sa), azp), ls);
        __m512i bv = _mm512_sll_epi32(_mm512_sub_epi32(qc_ld16(b + (ptrdiff_t)i * sb, sb), bzp), ls);
        __m512i s = _mm512_add_epi32(qc_mq16(av, ma, ra, ca), qc_mq16(bv, mb, rb, cb));
        __m512i v = _mm512_add_epi32(qc_mq16(s, my, ry, cy), yzp);
        v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
        _mm_storeu_si128((__m128i *)(y + i), _mm512_cvtepi32_epi8(v));
    }
    return i;
}
#endif

static void qc_add_row(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                       int32_t n, const qc_add_params_t *p) {
    int32_t i = 0;
#if defined(__AVX512F__) && defined(__AVX512BW__)
    if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1) && n >= 16) i = qc_add_row16(a, sa, b, sb, y, n, p);
#endif
    if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1) && n - i >= 8) {
        qc_mq_t qa, qb, qy;
        const __m128i ls = _mm_cvtsi32_si128(p->left_shift);
        const __m256i azp = _mm256_set1_epi32(p->a_zp), bzp = _mm256_set1_epi32(p->b_zp);
        const __m256i yzp = _mm256_set1_epi32(p->y_zp);
        const __m256i lo = _mm256_set1_epi32(p->qmin), hi = _mm256_set1_epi32(p->qmax);
        qc_mq_init(&qa, p->a_mult, p->a_shift);
        qc_mq_init(&qb, p->b_mult, p->b_shift);
        qc_mq_init(&qy, p->y_mult, p->y_shift);
        for (; i + 8 <= n; i += 8) { /* (the AVX-512 loop may have done most) */
            __m256i av = _mm256_sll_epi32(_mm256_sub_epi32(qc_ld8(a + (ptrdiff_t)i * sa, sa), azp), ls);
            __m256i bv = _mm256_sll_epi32(_mm256_sub_epi32(qc_ld8(b + (ptrdiff_t)i * sb, sb), bzp), ls);
            __m256i s = _mm256_add_epi32(qc_mq(av, &qa), qc_mq(bv, &qb));
            __m256i v = _mm256_add_epi32(qc_mq(s, &qy), yzp);
            qc_st8(y + i, _mm256_min_epi32(_mm256_max_epi32(v, lo), hi));
        }
    }
    if (i < n)
        qc_add_row_ref(a + (ptrdiff_t)i * sa, sa, b + (ptrdiff_t)i * sb, sb, y + i, n - i, p);
}
#else
#define qc_add_row qc_add_row_ref
#endif

static void qc_add_row_v(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                          int32_t n, const void *p) {
    qc_add_row(a, sa, b, sb, y, n, (const qc_add_params_t *)p);
}

void qc_add_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_add_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    qc_rows2(a, b, y, ndim, dims, as, bs, qc_add_row_v, p);
}
