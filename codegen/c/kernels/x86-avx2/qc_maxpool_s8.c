/* qc_maxpool_s8, x86 AVX2: bit-identical to kernels/reference/qc_maxpool_s8.c.
 *
 * Each output row goes in blocks of output columns: first the max over the row's in-bounds
 * input rows of every input column the block reads (a strip of at most QC_MP_SPAN bytes, columns
 * outside the input read as -128, which never wins over an in-bounds tap and is the value of a
 * window without one), 32 bytes at a time; then each output is the max over its kw columns of
 * the strip: 32 outputs at a time for column strides 1 and 2 (stride 2 keeps the even bytes of
 * 64), scalar otherwise (a window wider than the strip: one output at a time, its taps in
 * parts of one strip each). The requantization (mult != 0) follows per output, as the reference.
 * Without __AVX2__ the same two passes run in scalar code. */
#include "qc_kernels.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define QC_MP_SPAN 1024

/* v[0, n) = r (first != 0) or max(v, r): 32 bytes at a time, the last 32 overlapping the ones
 * before (max and copy may repeat), rows shorter than 32 one byte at a time (AVX-512: masked) */
static void qc_mp_vrow(int8_t *v, const int8_t *r, int32_t n, int32_t first) {
    int32_t i = 0;
#if defined(__AVX2__)
    if (n >= 32) {
        for (;; i += 32) {
            __m256i b;
            if (i + 32 > n) i = n - 32;
            b = _mm256_loadu_si256((const __m256i *)(r + i));
            if (!first) b = _mm256_max_epi8(b, _mm256_loadu_si256((const __m256i *)(v + i)));
            _mm256_storeu_si256((__m256i *)(v + i), b);
            if (i + 32 == n) return;
        }
    }
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    {
        const __mmask32 k = (__mmask32)((1u << n) - 1u); /* n < 32 */
        __m256i b = _mm256_maskz_loadu_epi8(k, r);
        if (!first) b = _mm256_max_epi8(b, _mm256_maskz_loadu_epi8(k, v));
        _mm256_mask_storeu_epi8(v, k, b);
        return;
    }
#endif
#endif
    for (; i < n; ++i)
        if (first || r[i] > v[i]) v[i] = r[i];
}

/* y[o] = max over kx < kw of v[o*sw + kx*dw], o < n. The vector paths read up to 63 bytes past
 * the strip (its spare bytes; their outputs are not stored). */
static void qc_mp_hmax(const int8_t *v, int8_t *y, int32_t n, int32_t kw, int32_t sw, int32_t dw) {
    int32_t o = 0, kx;
#if defined(__AVX2__)
    if (sw == 1 || sw == 2) {
        /* per 128-bit lane: its 8 even bytes to the low half */
        const __m256i even = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1,
                                              0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
        for (; o < n; o += 32) {
            __m256i m = _mm256_set1_epi8(-128);
            int8_t t[32];
            for (kx = 0; kx < kw; ++kx) {
                const int8_t *s = v + sw * o + kx * dw;
                if (sw == 1) {
                    m = _mm256_max_epi8(m, _mm256_loadu_si256((const __m256i *)s));
                } else {
                    __m256i lo = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)s), even);
                    __m256i hi = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(s + 32)), even);
                    m = _mm256_max_epi8(m, _mm256_unpacklo_epi64(lo, hi));
                }
            }
            /* stride 2, qwords: lo lane 0, hi lane 0, lo lane 1, hi lane 1 -> lo 0, lo 1, hi 0, hi 1 */
            if (sw == 2) m = _mm256_permute4x64_epi64(m, 0xd8);
            if (o + 32 <= n) {
                _mm256_storeu_si256((__m256i *)(y + o), m);
                continue;
            }
            _mm256_storeu_si256((__m256i *)t, m);
            memcpy(y + o, t, (size_t)(n - o));
        }
        return;
    }
#endif
    for (; o < n; ++o) {
        int8_t m = v[o * sw];
        for (kx = 1; kx < kw; ++kx)
            if (v[o * sw + kx * dw] > m) m = v[o * sw + kx * dw];
        y[o] = m;
    }
}

/* v[0, span) = max over the in-bounds rows of output row oy of input columns c0 + j, -128 for
 * columns outside the input or when no row is inside */
static void qc_mp_strip(const int8_t *xc, const qc_pool_params_t *p, int32_t oy, int32_t c0,
                        int32_t span, int8_t *v) {
    int32_t j0 = c0 < 0 ? -c0 : 0, j1 = p->w - c0 < span ? p->w - c0 : span, first = 1, ky;
    if (j1 > j0) {
        for (ky = 0; ky < p->kh; ++ky) {
            int32_t iy = oy * p->sh - p->pt + ky * p->dh;
            if (iy < 0 || iy >= p->h) continue;
            qc_mp_vrow(v + j0, xc + (ptrdiff_t)iy * p->w + c0 + j0, j1 - j0, first);
            first = 0;
        }
    }
    if (first) {
        memset(v, -128, (size_t)span);
        return;
    }
    memset(v, -128, (size_t)j0);
    memset(v + j1, -128, (size_t)(span - j1));
}

void qc_maxpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   int32_t mult, int32_t shift) {
    int8_t v[QC_MP_SPAN + 64];
    const int32_t reach = (p->kw - 1) * p->dw + 1; /* strip bytes of one output */
    /* taps per strip for windows wider than the strip (one output at a time, in parts) */
    const int32_t kpart = reach > QC_MP_SPAN ? (QC_MP_SPAN - 1) / p->dw + 1 : p->kw;
    int32_t nc, oy, ox0, nb, i;
    if (p->oh <= 0 || p->ow <= 0) return;
    /* outputs per block: the strip (nb - 1) * sw + reach bytes long, at least one output */
    nb = reach > QC_MP_SPAN ? 1 : (QC_MP_SPAN - reach) / p->sw + 1;
    if (nb > p->ow) nb = p->ow;
    memset(v, -128, sizeof v); /* the spare bytes past a strip stay defined */
    for (nc = 0; nc < p->n * p->c; ++nc) {
        const int8_t *xc = x + (ptrdiff_t)nc * p->h * p->w;
        int8_t *yc = y + (ptrdiff_t)nc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            int8_t *yr = yc + (ptrdiff_t)oy * p->ow;
            for (ox0 = 0; ox0 < p->ow; ox0 += nb) {
                const int32_t no = p->ow - ox0 < nb ? p->ow - ox0 : nb;
                const int32_t c0 = ox0 * p->sw - p->pl;
                int32_t k0;
                for (k0 = 0; k0 < p->kw; k0 += kpart) {
                    const int32_t nk = p->kw - k0 < kpart ? p->kw - k0 : kpart;
                    int8_t part;
                    qc_mp_strip(xc, p, oy, c0 + k0 * p->dw, (no - 1) * p->sw + (nk - 1) * p->dw + 1, v);
                    if (k0 == 0) {
                        qc_mp_hmax(v, yr + ox0, no, nk, p->sw, p->dw);
                        continue;
                    }
                    qc_mp_hmax(v, &part, 1, nk, p->sw, p->dw); /* no == 1 here */
                    if (part > yr[ox0]) yr[ox0] = part;
                }
                if (mult != 0)
                    for (i = ox0; i < ox0 + no; ++i)
                        yr[i] = (int8_t)qc_clamp_i32(qc_mulq(yr[i] - zi, mult, shift) + zo, -128, 127);
            }
        }
    }
}
