/* qc_mul_s8, x86 AVX2: bit-identical to kernels/reference/qc_mul_s8.c.
 *
 * Trailing dimensions contiguous in a, b and y alike are merged into one long row
 * (qc_merge_rows: the Mul of a squeeze-excitation block, [1,C,H,W] by [1,C,1,1], becomes C rows
 * of H*W with b broadcast), then each row whose input strides are 1 or 0 is computed 8 values
 * at a time (16 with AVX-512): the product of the two int32 differences (at most 2^16 in
 * magnitude) and qc_mulq of it in 64-bit lanes, as qc_add_s8 does. Other strides and the row
 * tails take the reference's scalar loop. Without __AVX2__ only the merging remains. */
#include "qc_x86_simd.h"

#if defined(__AVX2__)
static void qc_mul_row(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                       int32_t n, const qc_mul_params_t *p) {
    int32_t i = 0;
    if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
#if defined(__AVX512F__) && defined(__AVX512BW__)
        const __m512i azp16 = _mm512_set1_epi32(p->a_zp), bzp16 = _mm512_set1_epi32(p->b_zp);
        const __m512i yzp16 = _mm512_set1_epi32(p->y_zp), m16 = _mm512_set1_epi64(p->mult);
        const __m512i r16 = _mm512_set1_epi64((int64_t)1 << (p->shift - 1));
        const __m512i lo16 = _mm512_set1_epi32(p->qmin), hi16 = _mm512_set1_epi32(p->qmax);
        const __m128i cnt = _mm_cvtsi32_si128(p->shift);
        for (; i + 16 <= n; i += 16) {
            __m512i av = _mm512_sub_epi32(qc_ld16(a + (ptrdiff_t)i * sa, sa), azp16);
            __m512i bv = _mm512_sub_epi32(qc_ld16(b + (ptrdiff_t)i * sb, sb), bzp16);
            __m512i v = _mm512_add_epi32(qc_mq16(_mm512_mullo_epi32(av, bv), m16, r16, cnt), yzp16);
            v = _mm512_min_epi32(_mm512_max_epi32(v, lo16), hi16);
            _mm_storeu_si128((__m128i *)(y + i), _mm512_cvtepi32_epi8(v));
        }
#endif
        if (n - i >= 8) {
            qc_mq_t q;
            const __m256i azp = _mm256_set1_epi32(p->a_zp), bzp = _mm256_set1_epi32(p->b_zp);
            const __m256i yzp = _mm256_set1_epi32(p->y_zp);
            const __m256i lo = _mm256_set1_epi32(p->qmin), hi = _mm256_set1_epi32(p->qmax);
            qc_mq_init(&q, p->mult, p->shift);
            for (; i + 8 <= n; i += 8) {
                __m256i av = _mm256_sub_epi32(qc_ld8(a + (ptrdiff_t)i * sa, sa), azp);
                __m256i bv = _mm256_sub_epi32(qc_ld8(b + (ptrdiff_t)i * sb, sb), bzp);
                __m256i v = _mm256_add_epi32(qc_mq(_mm256_mullo_epi32(av, bv), &q), yzp);
                qc_st8(y + i, _mm256_min_epi32(_mm256_max_epi32(v, lo), hi));
            }
        }
    }
    if (i < n)
        qc_mul_row_ref(a + (ptrdiff_t)i * sa, sa, b + (ptrdiff_t)i * sb, sb, y + i, n - i, p);
}
#else
#define qc_mul_row qc_mul_row_ref
#endif

static void qc_mul_row_v(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                          int32_t n, const void *p) {
    qc_mul_row(a, sa, b, sb, y, n, (const qc_mul_params_t *)p);
}

void qc_mul_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_mul_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    qc_rows2(a, b, y, ndim, dims, as, bs, qc_mul_row_v, p);
}
