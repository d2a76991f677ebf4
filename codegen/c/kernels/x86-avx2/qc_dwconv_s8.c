/* qc_dwconv_s8, x86 AVX2: bit-identical to kernels/reference/qc_dwconv_s8.c.
 *
 * Each output row uses the kernel rows that fall inside the input. Its columns whose taps all
 * lie inside horizontally compute acc = bias - x_zp * sum(w of those rows) + sum x * w, the
 * reference's int32 value, 16 columns at a time for horizontal strides 1 and 2: inputs
 * sign-extended to int16, taps paired through vpmaddwd (exact), requantized 8 lanes at a time
 * (64-bit products: qc_requant's arithmetic; float epilogues call qc_requant). The other
 * columns compute as the reference does (in-bounds taps of (x - x_zp) * w). Without __AVX2__
 * the same split runs in plain C. */
#include "qc_x86_simd.h"
#include "qc_dwconv_util.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__AVX2__)
#include <immintrin.h>
#define QC_DW_AVX2 1
#define QC_DW_MAX_TAPS 64 /* kernels with more taps use the plain interior */
#endif

/* qc_floordiv, qc_interior, qc_dw_edge, qc_dw_inner: qc_dwconv_util.h */

#if defined(QC_DW_AVX2)
/* qc_mulq on 8 lanes: (x * mult + 2^(shift-1)) >> shift in 64 bits, low 32 bits kept. */
static inline __m256i qc_mulq8(__m256i x, __m256i mult, __m256i shift) {
    const __m256i one = _mm256_set1_epi64x(1), sign = _mm256_set1_epi64x(INT64_MIN);
    __m256i pe = _mm256_mul_epi32(x, mult);
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), mult);
    __m256i rnd = _mm256_sllv_epi64(one, _mm256_sub_epi64(shift, one));
    pe = _mm256_add_epi64(pe, rnd);
    po = _mm256_add_epi64(po, rnd);
    /* arithmetic shift from the logical one: (p ^ 2^63) >> s minus 2^63 >> s */
    pe = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_xor_si256(pe, sign), shift), _mm256_srlv_epi64(sign, shift));
    po = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_xor_si256(po, sign), shift), _mm256_srlv_epi64(sign, shift));
    return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa);
}

/* 16 inputs from r (stride 1 or 2) as int16; stride 2 reads 32 bytes */
static inline __m256i qc_dw_ld16(const int8_t *r, int32_t sw) {
    if (sw == 1) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)r));
    return _mm256_srai_epi16(_mm256_slli_epi16(_mm256_loadu_si256((const __m256i *)r), 8), 8);
}

/* 16 outputs from x0 (stride 1 or 2) over kernel rows [0, nrows), requantized and stored at
 * y; wpair[i] = (w_2i, w_2i+1) from the first tap of those rows. Taps go in
 * pairs (x_t, x_t+1) . (w_t, w_t+1) through vpmaddwd: lo holds outputs 0-3, 8-11, hi 4-7, 12-15,
 * which vpackssdw puts back in order. */
static inline void qc_dw_16(const int8_t *x0, const int32_t *wpair, int32_t bz, int32_t nrows,
                            const qc_conv_params_t *p, int32_t sw, const qc_requant_t *rq,
                            int32_t c, int8_t *y) {
    __m256i lo = _mm256_set1_epi32(bz), hi = lo, prev = _mm256_setzero_si256();
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < nrows; ++ky) {
        const int8_t *r = x0 + (ptrdiff_t)ky * p->dh * p->w;
        for (kx = 0; kx < p->kw; ++kx, ++t) {
            __m256i v = qc_dw_ld16(r + kx * p->dw, sw);
            if (t & 1) {
                __m256i wv = _mm256_set1_epi32(wpair[t >> 1]);
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(prev, v), wv));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(prev, v), wv));
            } else {
                prev = v;
            }
        }
    }
    if (t & 1) { /* the odd last tap with a zero partner */
        __m256i wv = _mm256_set1_epi32(wpair[t >> 1]), z = _mm256_setzero_si256();
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(prev, z), wv));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(prev, z), wv));
    }
    if (rq->act == QC_ACT_NONE) {
        int32_t k = rq->per_channel ? c : 0;
        const __m256i mult = _mm256_set1_epi64x(rq->mult[k]), shift = _mm256_set1_epi64x(rq->shift[k]);
        const __m256i zp = _mm256_set1_epi32(rq->out_zp);
        const __m256i qmin = _mm256_set1_epi32(rq->qmin), qmax = _mm256_set1_epi32(rq->qmax);
        __m256i v;
        lo = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(qc_mulq8(lo, mult, shift), zp), qmin), qmax);
        hi = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(qc_mulq8(hi, mult, shift), zp), qmin), qmax);
        v = _mm256_packs_epi32(lo, hi);                             /* 0-7 | 8-15, exact */
        v = _mm256_permute4x64_epi64(_mm256_packs_epi16(v, v), 0x08); /* bytes 0-15 first */
        _mm_storeu_si128((__m128i *)y, _mm256_castsi256_si128(v));
    } else {
        static const int32_t order[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};
        int32_t s[16], i;
        _mm256_storeu_si256((__m256i *)s, lo);
        _mm256_storeu_si256((__m256i *)(s + 8), hi);
        for (i = 0; i < 16; ++i) y[order[i]] = qc_requant(s[i], c, rq);
    }
}

#define QC_DW_PLANE 16384 /* padded input planes on the stack, bytes */

#if defined(__GNUC__)
#define QC_DW_INLINE static inline __attribute__((always_inline))
#else
#define QC_DW_INLINE static inline
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define QC_DW_512 1
#define QC_DW_V 32 /* outputs per vector of the plane path */
#else
#define QC_DW_V 16
#endif

/* A channel's constants for the plane path: weight pairs broadcast, requantization (fixed
 * point, QC_ACT_LINEAR's float epilogue vectorized, or qc_requant per value). */
enum { QC_DW_FIXED = 0, QC_DW_LINEAR = 1, QC_DW_SCALAR = 2, QC_DW_HI = 3 };
typedef struct {
#if defined(QC_DW_512)
    __m512i wv[QC_DW_MAX_TAPS / 2 + 1];
    __m512i bz, mult, rnd, zp, qmin, qmax;
    __m128i cnt;
    qc_lin_t lin;
#else
    __m256i wv[QC_DW_MAX_TAPS / 2 + 1];
    __m256i bz, mult, shift, zp, qmin, qmax, rhi; /* rhi: QC_DW_HI's rounding term */
    __m128i cnt;                                  /* QC_DW_HI: shift - 32 */
    __m128i qmin8, qmax8;                         /* QC_DW_HI: the clamp on bytes */
    qc_lin_t lin;
#endif
    int32_t mode;
} qc_dwk_t;

/* the mode of qc_dwk_t for rq */
static int32_t qc_dw_mode(const qc_requant_t *rq) {
    return rq->act == QC_ACT_NONE ? QC_DW_FIXED : rq->act == QC_ACT_LINEAR ? QC_DW_LINEAR : QC_DW_SCALAR;
}

#if !defined(QC_DW_512)
/* Up to 16 outputs from the padded planes: output i's tap (ky, kx) at x0 + ro[ky] + i * sw +
 * kx * dw; the taps' int16 pairs through vpmaddwd as qc_dw_16; n outputs stored at y.
 * Inlined with constant kh, kw, dw, sw for 3x3 kernels. */
QC_DW_INLINE void qc_dwp_16(const int8_t *x0, const ptrdiff_t *ro, const qc_dwk_t *k, int32_t kh,
                            int32_t kw, int32_t dw, int32_t sw, const qc_requant_t *rq, int32_t c,
                            int8_t *y, int32_t n) {
    __m256i lo = k->bz, hi = lo, prev = _mm256_setzero_si256();
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < kh; ++ky) {
        const int8_t *r = x0 + ro[ky];
        for (kx = 0; kx < kw; ++kx, ++t) {
            __m256i v = qc_dw_ld16(r + kx * dw, sw);
            if (t & 1) {
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(prev, v), k->wv[t >> 1]));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(prev, v), k->wv[t >> 1]));
            } else {
                prev = v;
            }
        }
    }
    if (t & 1) {
        const __m256i z = _mm256_setzero_si256();
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(prev, z), k->wv[t >> 1]));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(prev, z), k->wv[t >> 1]));
    }
    if (k->mode == QC_DW_HI) { /* qc_mulq from the high words (shift >= 33, see qc_requant_row) */
        __m256i a = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epi32(lo, k->mult), 32),
                                       _mm256_mul_epi32(_mm256_srli_epi64(lo, 32), k->mult), 0xaa);
        __m256i b = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epi32(hi, k->mult), 32),
                                       _mm256_mul_epi32(_mm256_srli_epi64(hi, 32), k->mult), 0xaa);
        __m128i o;
        a = _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(a, k->rhi), k->cnt), k->zp);
        b = _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(b, k->rhi), k->cnt), k->zp);
        a = _mm256_packs_epi32(a, b); /* outputs 0-7 | 8-15 */
        /* saturating packs, then the clamp on bytes: the same bytes as clamping the int32 values */
        o = _mm_packs_epi16(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
        o = _mm_min_epi8(_mm_max_epi8(o, k->qmin8), k->qmax8);
        if (n >= 16) {
            _mm_storeu_si128((__m128i *)y, o);
        } else {
            int8_t t[16];
            _mm_storeu_si128((__m128i *)t, o);
            memcpy(y, t, (size_t)n);
        }
    } else if (k->mode != QC_DW_SCALAR) {
        __m256i v;
        if (k->mode == QC_DW_FIXED) {
            lo = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(qc_mulq8(lo, k->mult, k->shift), k->zp), k->qmin), k->qmax);
            hi = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(qc_mulq8(hi, k->mult, k->shift), k->zp), k->qmin), k->qmax);
        } else {
            lo = qc_lin8(lo, &k->lin);
            hi = qc_lin8(hi, &k->lin);
        }
        v = _mm256_packs_epi32(lo, hi);
        v = _mm256_permute4x64_epi64(_mm256_packs_epi16(v, v), 0x08);
        if (n >= 16) {
            _mm_storeu_si128((__m128i *)y, _mm256_castsi256_si128(v));
        } else {
            int8_t b[16];
            _mm_storeu_si128((__m128i *)b, _mm256_castsi256_si128(v));
            memcpy(y, b, (size_t)n);
        }
    } else {
        static const int32_t order[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};
        int32_t s[16], i;
        _mm256_storeu_si256((__m256i *)s, lo);
        _mm256_storeu_si256((__m256i *)(s + 8), hi);
        for (i = 0; i < 16; ++i)
            if (order[i] < n) y[order[i]] = qc_requant(s[i], c, rq);
    }
}

#endif

#if defined(QC_DW_512)
/* 32 inputs from r (stride 1 or 2) as int16; stride 2 reads 64 bytes */
QC_DW_INLINE __m512i qc_dw_ld32(const int8_t *r, int32_t sw) {
    if (sw == 1) return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)r));
    return _mm512_srai_epi16(_mm512_slli_epi16(_mm512_loadu_si512((const void *)r), 8), 8);
}

/* qc_dwp_16 on 32 outputs (AVX-512): per 128-bit lane L, lo holds outputs 8L..8L+3 and hi
 * 8L+4..8L+7, which vpackssdw puts back in order; vpmovwb narrows, a masked store writes n. */
QC_DW_INLINE void qc_dwp_v(const int8_t *x0, const ptrdiff_t *ro, const qc_dwk_t *k, int32_t kh,
                           int32_t kw, int32_t dw, int32_t sw, const qc_requant_t *rq, int32_t c,
                           int8_t *y, int32_t n) {
    __m512i lo = k->bz, hi = lo, prev = _mm512_setzero_si512();
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < kh; ++ky) {
        const int8_t *r = x0 + ro[ky];
        for (kx = 0; kx < kw; ++kx, ++t) {
            __m512i v = qc_dw_ld32(r + kx * dw, sw);
            if (t & 1) {
                lo = _mm512_add_epi32(lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(prev, v), k->wv[t >> 1]));
                hi = _mm512_add_epi32(hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(prev, v), k->wv[t >> 1]));
            } else {
                prev = v;
            }
        }
    }
    if (t & 1) {
        const __m512i z = _mm512_setzero_si512();
        lo = _mm512_add_epi32(lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(prev, z), k->wv[t >> 1]));
        hi = _mm512_add_epi32(hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(prev, z), k->wv[t >> 1]));
    }
    if (k->mode != QC_DW_SCALAR) {
        const __mmask32 m = n >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << n) - 1u);
        if (k->mode == QC_DW_FIXED) {
            lo = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(qc_mq16(lo, k->mult, k->rnd, k->cnt), k->zp), k->qmin), k->qmax);
            hi = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(qc_mq16(hi, k->mult, k->rnd, k->cnt), k->zp), k->qmin), k->qmax);
        } else {
            lo = qc_lin16(lo, &k->lin);
            hi = qc_lin16(hi, &k->lin);
        }
        _mm256_mask_storeu_epi8(y, m, _mm512_cvtepi16_epi8(_mm512_packs_epi32(lo, hi)));
    } else {
        int32_t s[32], i;
        _mm512_storeu_si512((void *)s, lo);
        _mm512_storeu_si512((void *)(s + 16), hi);
        for (i = 0; i < 32; ++i) { /* s[16h + 4L + j] is output 8L + 4h + j */
            const int32_t o = 8 * ((i >> 2) & 3) + 4 * (i >> 4) + (i & 3);
            if (o < n) y[o] = qc_requant(s[i], c, rq);
        }
    }
}

static void qc_dwk_init(qc_dwk_t *k, const int32_t *wpair, int32_t khw, int32_t bz,
                        const qc_requant_t *rq, int32_t c) {
    const int32_t ci = rq->per_channel ? c : 0;
    int32_t t;
    for (t = 0; t < (khw + 1) / 2; ++t) k->wv[t] = _mm512_set1_epi32(wpair[t]);
    k->bz = _mm512_set1_epi32(bz);
    k->mode = qc_dw_mode(rq);
    k->mult = _mm512_set1_epi64(rq->mult[ci]);
    k->rnd = _mm512_set1_epi64(k->mode == QC_DW_FIXED ? (int64_t)1 << (rq->shift[ci] - 1) : 0);
    k->cnt = _mm_cvtsi32_si128(k->mode == QC_DW_FIXED ? rq->shift[ci] : 0);
    k->zp = _mm512_set1_epi32(rq->out_zp);
    k->qmin = _mm512_set1_epi32(rq->qmin);
    k->qmax = _mm512_set1_epi32(rq->qmax);
    qc_lin_init(&k->lin, rq, c);
}
#else
#define qc_dwp_v qc_dwp_16

static void qc_dwk_init(qc_dwk_t *k, const int32_t *wpair, int32_t khw, int32_t bz,
                        const qc_requant_t *rq, int32_t c) {
    const int32_t ci = rq->per_channel ? c : 0;
    int32_t t;
    for (t = 0; t < (khw + 1) / 2; ++t) k->wv[t] = _mm256_set1_epi32(wpair[t]);
    k->bz = _mm256_set1_epi32(bz);
    k->mode = qc_dw_mode(rq);
    k->mult = _mm256_set1_epi64x(rq->mult[ci]);
    k->shift = _mm256_set1_epi64x(rq->shift[ci]);
    k->zp = _mm256_set1_epi32(rq->out_zp);
    k->qmin = _mm256_set1_epi32(rq->qmin);
    k->qmax = _mm256_set1_epi32(rq->qmax);
    k->qmin8 = _mm_set1_epi8((char)rq->qmin);
    k->qmax8 = _mm_set1_epi8((char)rq->qmax);
    k->rhi = _mm256_setzero_si256();
    k->cnt = _mm_setzero_si128();
    if (k->mode == QC_DW_FIXED && rq->shift[ci] >= 33 && rq->shift[ci] <= 62) {
        k->mode = QC_DW_HI;
        k->rhi = _mm256_set1_epi32((int32_t)1 << (rq->shift[ci] - 33));
        k->cnt = _mm_cvtsi32_si128(rq->shift[ci] - 32);
    }
    qc_lin_init(&k->lin, rq, c);
}
#endif

/* n bytes from s to d (n >= 0, both ranges exact): one masked move up to 32 bytes (AVX-512) */
QC_DW_INLINE void qc_dw_copy(int8_t *d, const int8_t *s, int32_t n) {
#if defined(QC_DW_512)
    if (n <= 32) {
        const __mmask32 m = n >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << n) - 1u);
        _mm256_mask_storeu_epi8(d, m, _mm256_maskz_loadu_epi8(m, s));
        return;
    }
#endif
    qc_copy_n(d, s, n);
}

/* The channel's outputs from its planes: output (oy, ox) has its tap (ky, kx) at plane + ro[ky]
 * + sw * (oy * rw + ox) + kx * dw. Stride 1 or rows shorter than a vector: flat, output (oy, ox)
 * at flat[oy * rw + ox], so one vector covers several output rows of a small plane (the rw - ow
 * columns between rows are computed and dropped; rw == ow: stored straight to yc); otherwise
 * row by row into yc. */
QC_DW_INLINE void qc_dw_run(const int8_t *plane, const ptrdiff_t *ro, int32_t rw, const qc_dwk_t *k,
                            const qc_conv_params_t *p, int32_t kh, int32_t kw, int32_t dw, int32_t sw,
                            const qc_requant_t *rq, int32_t c, int8_t *yc, int8_t *flat) {
    const int32_t total = (p->oh - 1) * rw + p->ow;
    int8_t *dst = rw == p->ow ? yc : flat;
    int32_t oy, ox, j;
    if (p->ow >= QC_DW_V && (p->sh != 1 || sw != 1)) {
        for (oy = 0; oy < p->oh; ++oy)
            for (ox = 0; ox < p->ow; ox += QC_DW_V)
                qc_dwp_v(plane + (ptrdiff_t)sw * ((ptrdiff_t)oy * rw + ox), ro, k, kh, kw, dw, sw, rq, c,
                         yc + (ptrdiff_t)oy * p->ow + ox, p->ow - ox < QC_DW_V ? p->ow - ox : QC_DW_V);
        return;
    }
    for (j = 0; j < total; j += QC_DW_V)
        qc_dwp_v(plane + (ptrdiff_t)sw * j, ro, k, kh, kw, dw, sw, rq, c, dst + j,
                 total - j < QC_DW_V ? total - j : QC_DW_V);
    if (dst == flat)
        for (oy = 0; oy < p->oh; ++oy)
            qc_dw_copy(yc + (ptrdiff_t)oy * p->ow, flat + (ptrdiff_t)oy * rw, p->ow);
}

/* The padded copy of one input plane at d (x_zp outside the image), its rows in the order of
 * qc_dw_planes: rows r = i, i + sh, ... of the padded plane for i < sh (plane i), rs bytes
 * each. Each row is x_zp (32-byte stores that run into the next row, written after), then the
 * input row's n columns at pl. Returns the end. */
static int8_t *qc_dw_pad(const int8_t *xc, const qc_conv_params_t *p, int32_t ph, int32_t rs,
                         int32_t n, int8_t *d) {
    const __m256i zv = _mm256_set1_epi8((char)p->x_zp);
    int32_t i, r, t;
    for (i = 0; i < p->sh; ++i) {
        for (r = i; r < ph; r += p->sh, d += rs) {
            const int32_t iy = r - p->pt;
            for (t = 0; t < rs; t += 32) _mm256_storeu_si256((__m256i *)(d + t), zv);
            if (iy >= 0 && iy < p->h && n > 0) qc_dw_copy(d + p->pl, xc + (ptrdiff_t)iy * p->w, n);
        }
    }
    return d;
}

/* Every channel through padded copies of its input plane (x_zp outside the image, so every
 * tap counts and acc = bias - x_zp * sum(w) + sum x * w: the reference's value). The padded
 * rows of a plane are split by row index modulo the vertical stride sh (qc_dw_pad), rows
 * rs = rw * sw bytes apart (the padded width rounded up to the horizontal stride): output row
 * oy's kernel row ky is then row oy + (ky * dh) / sh of part (ky * dh) % sh, and the outputs
 * of all rows run flat (qc_dw_run), 32 (AVX-512) or 16 per vector whatever the plane size.
 * The planes of as many channels as fit are written first and read after, so the reads do
 * not wait on the stores that wrote them. Returns 0 (nothing done) when a plane does not fit
 * or the strides are not 1 or 2. */
static int qc_dw_planes(const int8_t *x, const int8_t *wt, const int32_t *bias,
                        const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y) {
    int8_t plane[QC_DW_PLANE + 2 * QC_DW_V + 32], flat[QC_DW_PLANE + QC_DW_V];
    int32_t wpair[QC_DW_MAX_TAPS / 2 + 1];
    ptrdiff_t ro[QC_DW_MAX_TAPS];
    const int32_t khw = p->kh * p->kw, sh = p->sh, sw = p->sw, mult = p->cout / p->cin;
    const int32_t ph = (p->oh - 1) * sh + (p->kh - 1) * p->dh + 1;
    const int32_t pw = (p->ow - 1) * sw + (p->kw - 1) * p->dw + 1;
    const int32_t rw = (pw + sw - 1) / sw, rs = rw * sw; /* output and plane row strides */
    const int32_t n = pw - p->pl < p->w ? pw - p->pl : p->w; /* input columns in a row */
    const int32_t psz = ph * rs, hw = p->h * p->w;
    int32_t img, c0, c, nb, t, ky;
    if (khw > QC_DW_MAX_TAPS || (sw != 1 && sw != 2) || (sh != 1 && sh != 2) || (int64_t)ph * rs > QC_DW_PLANE)
        return 0;
    nb = QC_DW_PLANE / psz; /* channels per batch */
    for (ky = 0; ky < p->kh; ++ky) { /* part (ky * dh) % sh starts after the rows of the parts before */
        const int32_t part = (ky * p->dh) % sh;
        ro[ky] = (ptrdiff_t)(part ? (ph + 1) / 2 : 0) * rs + (ptrdiff_t)((ky * p->dh) / sh) * rs;
    }
    for (img = 0; img < p->n; ++img) {
        const int8_t *xi = x + (ptrdiff_t)img * p->cin * hw;
        int8_t *yi = y + (ptrdiff_t)img * p->cout * p->oh * p->ow;
        for (c0 = 0; c0 < p->cout; c0 += nb) {
            const int32_t c1 = p->cout - c0 < nb ? p->cout : c0 + nb;
            int8_t *d = plane;
            for (c = c0; c < c1; ++c) d = qc_dw_pad(xi + (ptrdiff_t)(c / mult) * hw, p, ph, rs, n, d);
            for (t = 0; t < 2 * QC_DW_V; t += 32) /* the last vectors' reads past the planes */
                _mm256_storeu_si256((__m256i *)(d + t), _mm256_set1_epi8((char)p->x_zp));
            for (c = c0; c < c1; ++c) {
                const int8_t *wc = wt + (ptrdiff_t)c * khw, *pc = plane + (ptrdiff_t)(c - c0) * psz;
                int8_t *yc = yi + (ptrdiff_t)c * p->oh * p->ow;
                uint32_t bz = bias ? (uint32_t)bias[c] : 0u;
                qc_dwk_t k;
                for (t = 0; t < khw; t += 2) {
                    uint32_t lo = (uint16_t)wc[t], hi = t + 1 < khw ? (uint32_t)(uint16_t)wc[t + 1] << 16 : 0u;
                    wpair[t / 2] = (int32_t)(lo | hi);
                }
                for (t = 0; t < khw; ++t) bz -= (uint32_t)p->x_zp * (uint32_t)(int32_t)wc[t];
                qc_dwk_init(&k, wpair, khw, (int32_t)bz, rq, c);
                if (p->kh == 3 && p->kw == 3 && p->dw == 1 && sw == 1)
                    qc_dw_run(pc, ro, rw, &k, p, 3, 3, 1, 1, rq, c, yc, flat);
                else if (p->kh == 3 && p->kw == 3 && p->dw == 1 && sw == 2)
                    qc_dw_run(pc, ro, rw, &k, p, 3, 3, 1, 2, rq, c, yc, flat);
                else
                    qc_dw_run(pc, ro, rw, &k, p, p->kh, p->kw, p->dw, sw, rq, c, yc, flat);
            }
        }
    }
    return 1;
}
#endif

typedef struct {
    int32_t fixed, mult, shift, zp, qmin, qmax;
} qc_dw_rq_t;

/* qc_requant with the channel's parameters in locals */
static inline int8_t qc_dw_rq(int32_t acc, const qc_dw_rq_t *q, int32_t c, const qc_requant_t *rq) {
    if (q->fixed) return (int8_t)qc_clamp_i32(qc_mulq(acc, q->mult, q->shift) + q->zp, q->qmin, q->qmax);
    return qc_requant(acc, c, rq);
}

QC_NOIPA void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                           const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y) {
    const int32_t mult = p->cout / p->cin, hw = p->h * p->w, khw = p->kh * p->kw;
    int32_t ox0, ox1, n, c, oy, ox, t;
#if defined(QC_DW_AVX2)
    if (qc_dw_planes(x, wt, bias, p, rq, y)) return;
#endif
    qc_interior(p->w, p->ow, p->kw, p->sw, p->dw, p->pl, &ox0, &ox1);
    for (n = 0; n < p->n; ++n) {
        for (c = 0; c < p->cout; ++c) {
            const int8_t *xc = x + ((ptrdiff_t)n * p->cin + c / mult) * hw;
            const int8_t *wc = wt + (ptrdiff_t)c * khw;
            int8_t *yc = y + ((ptrdiff_t)n * p->cout + c) * p->oh * p->ow;
            const int32_t b = bias ? bias[c] : 0;
            int32_t k = rq->per_channel ? c : 0;
            qc_dw_rq_t q;
#if defined(QC_DW_AVX2)
            int32_t lim = ox0; /* chunks of 16 within [ox0, lim) */
            int32_t weven[QC_DW_MAX_TAPS / 2 + 1], wodd[QC_DW_MAX_TAPS / 2 + 1]; /* pairs from taps 2i, 2i+1 */
            if (khw <= QC_DW_MAX_TAPS && (p->sw == 1 || p->sw == 2)) {
                /* chunks of 16 whose loads (stride 2 reads one byte more) stay inside the row */
                int32_t last = p->w - 1 + p->pl - (p->kw - 1) * p->dw - (p->sw - 1);
                lim = qc_floordiv(last, p->sw) + 1; /* outputs with ox < lim load safely */
                lim = lim < ox1 ? lim : ox1;
                for (t = 0; t < khw; ++t) {
                    uint32_t lo = (uint16_t)wc[t], hi = t + 1 < khw ? (uint32_t)(uint16_t)wc[t + 1] << 16 : 0u;
                    if (t % 2) wodd[t / 2] = (int32_t)(lo | hi);
                    else weven[t / 2] = (int32_t)(lo | hi);
                }
            }
#endif
            q.fixed = rq->act == QC_ACT_NONE;
            q.mult = rq->mult[k];
            q.shift = rq->shift[k];
            q.zp = rq->out_zp;
            q.qmin = rq->qmin;
            q.qmax = rq->qmax;
            for (oy = 0; oy < p->oh; ++oy) {
                /* kernel rows [ky0, ky1) fall inside the input; bzr: bias - x_zp * their weights */
                int32_t iy0 = oy * p->sh - p->pt, ky0 = 0, ky1 = p->kh, nrows, bzr = b;
                int8_t *yr = yc + (ptrdiff_t)oy * p->ow;
                ptrdiff_t xo;
                while (ky0 < ky1 && iy0 + ky0 * p->dh < 0) ++ky0;
                while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dh >= p->h) --ky1;
                nrows = ky1 - ky0;
                if (nrows == 0) {
                    for (ox = 0; ox < p->ow; ++ox) yr[ox] = qc_dw_rq(b, &q, c, rq);
                    continue;
                }
                for (t = ky0 * p->kw; t < ky1 * p->kw; ++t) bzr -= p->x_zp * wc[t];
                /* input offset of output column 0's first tap in row ky0 (may be negative) */
                xo = (ptrdiff_t)(iy0 + ky0 * p->dh) * p->w - p->pl;
                for (ox = 0; ox < ox0; ++ox) yr[ox] = qc_dw_rq(qc_dw_edge(xc, wc, b, p, iy0, ky0, ky1, ox), &q, c, rq);
#if defined(QC_DW_AVX2)
                if (lim - ox0 >= 16) { /* the last chunk overlaps the one before */
                    const int32_t t0 = ky0 * p->kw;
                    const int32_t *wp = t0 % 2 ? wodd + t0 / 2 : weven + t0 / 2;
                    for (; ox + 16 <= lim; ox += 16)
                        qc_dw_16(xc + (xo + ox * p->sw), wp, bzr, nrows, p, p->sw, rq, c, yr + ox);
                    if (ox < lim)
                        qc_dw_16(xc + (xo + (lim - 16) * p->sw), wp, bzr, nrows, p, p->sw, rq, c, yr + lim - 16);
                    ox = lim;
                }
#endif
                for (; ox < ox1; ++ox)
                    yr[ox] = qc_dw_rq(qc_dw_inner(xc + (xo + ox * p->sw), wc + ky0 * p->kw, bzr, nrows, p), &q, c, rq);
                for (; ox < p->ow; ++ox) yr[ox] = qc_dw_rq(qc_dw_edge(xc, wc, b, p, iy0, ky0, ky1, ox), &q, c, rq);
            }
        }
    }
}
