/* qc_add_s8, x86 AVX2: bit-identical to kernels/reference/qc_add_s8.c.
 *
 * Trailing dimensions that are contiguous in a, b and y alike are merged into one long row
 * (an elementwise Add of two NCHW tensors becomes one row), then each row whose input strides
 * are 1 or 0 (broadcast) is computed 8 values at a time: the three qc_mulq of the TFLite
 * arithmetic in 64-bit lanes (vpmuldq, rounding constant, arithmetic shift built from the
 * logical one), low 32 bits kept as qc_mulq does. Other strides and the row tails take the
 * reference's scalar loop. Built with AVX-512 (x86-avx512vnni takes this file), rows go 16 at a
 * time with vpsraq first. Without __AVX2__ only the merging remains.
 *
 * AVX2 without AVX-512: when the reference's high-word form applies to all three products
 * (qc_mulhw_init, the reference's condition and values), rows of strides 1 / 0 go 16 values at
 * a time in that form instead: (d * 2^k) * m's high word from vpmuldq (even and odd lanes),
 * (hi + r) >> sh by vpsrad, d negated by vpsignd for negative multipliers (Sub); a broadcast
 * operand's term is computed once; saturating packs, then the clamp on bytes (the same bytes as
 * clamping the int32 values, qmin / qmax being int8). */
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
#if !(defined(__AVX512F__) && defined(__AVX512BW__))
/* qc_mulhw_init's fields as vectors */
typedef struct {
    __m256i sgn, m, r, zp; /* sgn: -1 to negate d (vpsignd), else 1 */
    __m128i k, sh;
} qc_hw8_t;

static void qc_hw8_init(qc_hw8_t *v, const qc_mulhw_t *q, int32_t zp) {
    v->sgn = _mm256_set1_epi32(q->neg ? -1 : 1);
    v->m = _mm256_set1_epi64x(q->m);
    v->r = _mm256_set1_epi32(q->r);
    v->zp = _mm256_set1_epi32(zp);
    v->k = _mm_cvtsi32_si128(q->k);
    v->sh = _mm_cvtsi32_si128(q->sh);
}

/* qc_mulhw(d, ...) on 8 lanes: d negated or not, shifted left by k, high word of the product
 * with m (vpmuldq: the signed 64-bit product; m >= 0, so it is qc_mul_hi's value), + r, >> sh */
QC_FORCE_INLINE __m256i qc_hw8(__m256i d, const qc_hw8_t *v) {
    const __m256i e = _mm256_sll_epi32(_mm256_sign_epi32(d, v->sgn), v->k);
    const __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epi32(e, v->m), 32),
                                         _mm256_mul_epi32(_mm256_srli_epi64(e, 32), v->m), 0xaa);
    return _mm256_sra_epi32(_mm256_add_epi32(h, v->r), v->sh);
}

typedef struct {
    const qc_add_params_t *p;
    qc_mulhw_t a, b, y;
} qc_add_hw_t;

/* 16 values of one operand (stride 1) as two vectors of int32 terms */
QC_FORCE_INLINE void qc_hw16(const int8_t *x, const qc_hw8_t *v, __m256i *t0, __m256i *t1) {
    const __m128i b = _mm_loadu_si128((const __m128i *)x);
    *t0 = qc_hw8(_mm256_sub_epi32(_mm256_cvtepi8_epi32(b), v->zp), v);
    *t1 = qc_hw8(_mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(b, b)), v->zp), v);
}

/* qc_add_row in the high-word form (qc_add_hw_t from qc_add_s8) */
static void qc_add_row_hw(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                          int32_t n, const void *pv) {
    const qc_add_hw_t *h = (const qc_add_hw_t *)pv;
    const qc_add_params_t *p = h->p;
    int32_t i = 0;
    if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1) && n >= 16) {
        qc_hw8_t va, vb, vy;
        const __m128i lo = _mm_set1_epi8((char)p->qmin), hi = _mm_set1_epi8((char)p->qmax);
        __m256i ta0, ta1, tb0, tb1;
        qc_hw8_init(&va, &h->a, p->a_zp);
        qc_hw8_init(&vb, &h->b, p->b_zp);
        qc_hw8_init(&vy, &h->y, 0);
        vy.zp = _mm256_set1_epi32(p->y_zp);
        /* a broadcast operand's term, once */
        ta0 = ta1 = _mm256_set1_epi32(qc_mulhw(a[0] - p->a_zp, h->a.neg, h->a.k, h->a.m, h->a.sh, h->a.r));
        tb0 = tb1 = _mm256_set1_epi32(qc_mulhw(b[0] - p->b_zp, h->b.neg, h->b.k, h->b.m, h->b.sh, h->b.r));
        for (; i + 16 <= n; i += 16) {
            __m256i v0, v1;
            __m128i o;
            if (sa) qc_hw16(a + i, &va, &ta0, &ta1);
            if (sb) qc_hw16(b + i, &vb, &tb0, &tb1);
            v0 = _mm256_add_epi32(qc_hw8(_mm256_add_epi32(ta0, tb0), &vy), vy.zp);
            v1 = _mm256_add_epi32(qc_hw8(_mm256_add_epi32(ta1, tb1), &vy), vy.zp);
            v0 = _mm256_packs_epi32(v0, v1); /* values 0-3 8-11 | 4-7 12-15 */
            o = _mm_packs_epi16(_mm256_castsi256_si128(v0), _mm256_extracti128_si256(v0, 1));
            o = _mm_shuffle_epi32(o, 0xd8); /* 0-3 4-7 8-11 12-15 */
            _mm_storeu_si128((__m128i *)(y + i), _mm_min_epi8(_mm_max_epi8(o, lo), hi));
        }
    }
    if (i < n) qc_add_row_ref(a + (ptrdiff_t)i * sa, sa, b + (ptrdiff_t)i * sb, sb, y + i, n - i, p);
}
#endif
#else
#define qc_add_row qc_add_row_ref
#endif

static void qc_add_row_v(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                          int32_t n, const void *p) {
    qc_add_row(a, sa, b, sb, y, n, (const qc_add_params_t *)p);
}

void qc_add_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_add_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
#if defined(__AVX2__) && !(defined(__AVX512F__) && defined(__AVX512BW__))
    qc_add_hw_t h;
    h.p = p;
    /* the reference's condition: |a - a_zp| < 2^8, |mulq(a', ...)| < 2^29 each, |s| < 2^30 */
    if (qc_mulhw_init(&h.a, p->left_shift, p->a_mult, p->a_shift, 8) &&
        qc_mulhw_init(&h.b, p->left_shift, p->b_mult, p->b_shift, 8) &&
        qc_mulhw_init(&h.y, 0, p->y_mult, p->y_shift, 30)) {
        qc_rows2(a, b, y, ndim, dims, as, bs, qc_add_row_hw, &h);
        return;
    }
#endif
    qc_rows2(a, b, y, ndim, dims, as, bs, qc_add_row_v, p);
}
