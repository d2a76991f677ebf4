/* uses: qc_gemm_s8 */
/* qc_conv_s8, x86 (AVX2; AVX-512 VNNI when built with it): bit-identical to
 * kernels/reference/qc_conv_s8.c, same scratch size (qc_conv_s8_scratch).
 *
 * Pixels in the vector lanes instead of dot products along K: output channels are few (16-96)
 * and pixels many in the models we run, so a dot-product GEMM spends its time in horizontal
 * reductions. A chunk of P output pixels (P a multiple of 16, P * K rounded up to the tap
 * group <= the reference's scratch) is im2col'ed tap-group-major: col[k / G][p][k % G], G taps
 * of one pixel side by side (G = 4 for vpdpbusd and vpmaddubsw, 2 for vpmaddwd). Each tap's
 * row of pixels is built with vector loads (masked loads with AVX-512; stride 2 through a byte
 * pack; a pointwise convolution reads the input planes in place) and G rows are interleaved
 * with unpacks. The kernel broadcasts G weights of one output channel and accumulates 16 (8)
 * pixels per vector for 4 channels at a time; results go straight to the NCHW output row of
 * each channel, requantized exactly as qc_requant (float epilogues call it). With G = 4 the activations are made unsigned, x ^ 0x80 = x + 128, and
 * the excess 128 * sum(w) of each channel is taken off the bias once per call.
 *   VNNI: vpdpbusd (4 products per int32 lane, no saturation).
 *   AVX2, every weight of the group in [-64, 64] (checked per call; the quantizer's
 *         reduce-range weights are): vpmaddubsw multiplies unsigned by signed bytes and adds
 *         pairs into int16 with saturation, exact here since 255 * (64 + 64) < 32768; vpmaddwd
 *         by ones adds the pairs into int32 (32 products per 3 instructions).
 *   AVX2, other weights: int8 sign-extended to int16 (vpmovsxbw), pairs multiplied and summed
 *         (vpmaddwd, exact for int8); the weights of 4 channels widened to int16 pairs per chunk.
 * Chunks below 16 pixels (tiny images), K > QC_KMAX (AVX2 with weights outside [-64, 64]) and
 * builds without AVX2 take the reference path (im2col + qc_gemm_s8). */
#include "qc_kernels.h"
#include "qc_conv_util.h" /* the reference path: qc_conv_group_chunks, qc_im2col_rows */

int32_t qc_conv_s8_scratch(const qc_conv_params_t *p) {
    return qc_conv_s8_rows(p) * (p->cin / p->group) * p->kh * p->kw;
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__)
#define QC_LANES_VNNI 1
#define QC_G 4 /* the most taps side by side per pixel */
#elif defined(__AVX2__)
#define QC_LANES_AVX2 1
#define QC_G 4
#endif
#define QC_KMAX 2048 /* G = 2: widened weights of 4 channels on the stack, 4 * QC_KMAX * 2 bytes */

#ifdef QC_G
#include <immintrin.h>
#include "qc_x86_simd.h" /* QC_FORCE_INLINE, QC_OPAQUE, qc_copy_n */

#if defined(__GNUC__)
#define QC_UNROLL _Pragma("GCC unroll 16")
#else
#define QC_UNROLL
#endif

#define QC_NR 4   /* output channels per tile */
#define QC_CB 256 /* channels whose bias is adjusted at once */
#define QC_LINE 128

#if defined(QC_LANES_VNNI)
/* bits [0, n), n <= 64 */
QC_FORCE_INLINE __mmask64 qc_m64(int32_t n) {
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}
#endif

/* One output row's run of a tap: d[s] = src[s * sw] for s in [lo, hi), zp elsewhere in [0, seg);
 * seg <= 64. x_end bounds reads (the input tensor's end). */
static void qc_seg(int8_t *d, const int8_t *src, int32_t lo, int32_t hi, int32_t seg, int32_t sw,
                   int8_t zp, const int8_t *x_end) {
    int32_t s;
#if defined(QC_LANES_VNNI)
    const __m512i z = _mm512_set1_epi8(zp);
    const __mmask64 in = qc_m64(hi) & ~qc_m64(lo), sm = qc_m64(seg);
    if (sw == 1 || lo >= hi) {
        _mm512_mask_storeu_epi8(d, sm, _mm512_mask_loadu_epi8(z, in, src));
        return;
    }
    if (sw == 2 && src + 2 * (ptrdiff_t)hi <= x_end) { /* words s in range: bytes 2s, 2s + 1 */
        __m256i a = _mm512_cvtepi16_epi8(_mm512_maskz_loadu_epi16((__mmask32)in, src));
        __m256i b = _mm512_cvtepi16_epi8(_mm512_maskz_loadu_epi16((__mmask32)(in >> 32), src + 64));
        __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
        _mm512_mask_storeu_epi8(d, sm, _mm512_mask_blend_epi8(in, z, v));
        return;
    }
    for (s = 0; s < lo; ++s) d[s] = zp;
    for (; s < hi; ++s) d[s] = src[(ptrdiff_t)s * sw];
    for (; s < seg; ++s) d[s] = zp;
#else
    const __m128i z = _mm_set1_epi8(zp);
    for (s = 0; s < seg; s += 16) _mm_storeu_si128((__m128i *)(d + s), z); /* line has slack */
    if (lo >= hi) return;
    if (sw == 1) {
        qc_copy_n(d + lo, src + lo, hi - lo);
        return;
    }
    s = lo;
    if (sw == 2) {
        const __m256i lo8 = _mm256_set1_epi16(0xff);
        for (; s + 16 <= hi && src + 2 * (ptrdiff_t)s + 32 <= x_end; s += 16) {
            __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * (ptrdiff_t)s)), lo8);
            _mm_storeu_si128((__m128i *)(d + s), _mm_packus_epi16(_mm256_castsi256_si128(v),
                                                                  _mm256_extracti128_si256(v, 1)));
        }
    }
    for (; s < hi; ++s) d[s] = src[(ptrdiff_t)s * sw];
#endif
}

/* line[r] = tap (ky, kx) of channel plane xc for output pixel pix0 + r, r < np; x_zp for r in
 * [np, round up to 16). */
static void qc_line(const int8_t *xc, const int8_t *x_end, const qc_conv_params_t *p, int32_t ky,
                    int32_t kx, int32_t pix0, int32_t np, int8_t *line) {
    const int8_t zp = (int8_t)p->x_zp;
    int32_t r = 0, oy = pix0 / p->ow, ox0 = pix0 % p->ow, s;
    while (r < np) {
        const int32_t seg = p->ow - ox0 < np - r ? p->ow - ox0 : np - r;
        const int32_t iy = oy * p->sh - p->pt + ky * p->dh;
        if (iy < 0 || iy >= p->h) {
            memset(line + r, zp, (size_t)seg);
        } else {
            const int32_t sw = p->sw, off = ox0 * sw - p->pl + kx * p->dw;
            int32_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
            int32_t hi = off > p->w - 1 ? 0 : (p->w - 1 - off) / sw + 1;
            if (hi > seg) hi = seg;
            if (lo > hi) lo = hi;
            qc_seg(line + r, xc + (ptrdiff_t)iy * p->w + off, lo, hi, seg, sw, zp, x_end);
        }
        r += seg;
        ox0 = 0;
        ++oy;
    }
    for (s = np; s & 15; ++s) line[s] = zp;
}

#define QC_ROWBUF 8192 /* padded input rows of one (channel, kernel row) for a chunk */

/* rows[j][c] for the nrows output rows from oy_a: input row oy * sh - pt + ky * dh at column
 * c - pl, x_zp outside the image and in the slack up to the row stride rs (a multiple of 16). */
static void qc_padded_rows(const int8_t *xc, const qc_conv_params_t *p, int32_t ky, int32_t oy_a,
                           int32_t nrows, int32_t wp, int32_t rs, int8_t *rows) {
    const __m128i z = _mm_set1_epi8((char)p->x_zp);
    const int32_t n = wp - p->pl < p->w ? wp - p->pl : p->w;
    int32_t j, c;
    for (j = 0; j < nrows; ++j) {
        const int32_t iy = (oy_a + j) * p->sh - p->pt + ky * p->dh;
        int8_t *d = rows + (ptrdiff_t)j * rs;
        if (iy >= 0 && iy < p->h && n > 0) { /* pads, the row, x_zp from its end to rs (+15) */
            for (c = 0; c < p->pl; c += 16) _mm_storeu_si128((__m128i *)(d + c), z);
            qc_copy_n(d + p->pl, xc + (ptrdiff_t)iy * p->w, n);
            for (c = p->pl + n; c < rs; c += 16) _mm_storeu_si128((__m128i *)(d + c), z);
        } else {
            for (c = 0; c < rs; c += 16) _mm_storeu_si128((__m128i *)(d + c), z);
        }
    }
}

/* The line of tap column kx from the padded rows (first row: output row oy_a). */
static void qc_line_rows(const int8_t *rows, int32_t rs, const qc_conv_params_t *p, int32_t kx,
                         int32_t ox0, int32_t np, int8_t *line) {
    const int32_t sw = p->sw;
    int32_t r = 0, j = 0, s;
    while (r < np) {
        const int32_t seg = p->ow - ox0 < np - r ? p->ow - ox0 : np - r;
        const int8_t *src = rows + (ptrdiff_t)j * rs + (ptrdiff_t)ox0 * sw + kx * p->dw;
        int8_t *d = line + r;
        if (sw == 1) {
            for (s = 0; s < seg; s += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(src + s));
                QC_OPAQUE(v);
                _mm_storeu_si128((__m128i *)(d + s), v);
            }
        } else if (sw == 2) {
            const __m256i lo8 = _mm256_set1_epi16(0xff);
            for (s = 0; s < seg; s += 16) {
                __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * s)), lo8);
                _mm_storeu_si128((__m128i *)(d + s), _mm_packus_epi16(_mm256_castsi256_si128(v),
                                                                      _mm256_extracti128_si256(v, 1)));
            }
        } else {
            for (s = 0; s < seg; ++s) d[s] = src[(ptrdiff_t)s * sw];
        }
        r += seg;
        ox0 = 0;
        ++j;
    }
    for (s = np; s & 15; ++s) line[s] = (int8_t)p->x_zp;
}

/* col[q][p][G] for tap groups q < KG and pixels p < nv * 16 (row stride P * G bytes), G = 4
 * (values flipped to unsigned) or 2. A pointwise convolution (1x1, stride 1, no padding: the
 * input planes are the lines) reads its lines in place; only a partial last block of 16
 * pixels is copied. */
static void qc_im2col_lanes(const int8_t *xg, const int8_t *x_end, const qc_conv_params_t *p,
                            int32_t K, int32_t G, int32_t P, int32_t pix0, int32_t np, int8_t *col) {
    int8_t lines[QC_G][QC_LINE] QC_ALIGNED(64);
    int8_t rows[QC_ROWBUF + 64];
    const int8_t *src[QC_G];
    const int32_t KG = (K + G - 1) / G, n16 = (np + 15) & ~15, full = np & ~15;
    const int pointwise = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 &&
                          p->pl == 0 && p->oh == p->h && p->ow == p->w;
    /* padded rows: width wp (+ slack: 16 bytes for the copies, 32 for stride-2 loads) */
    const int32_t wp = (p->ow - 1) * p->sw + (p->kw - 1) * p->dw + 1;
    const int32_t rs = (wp + 16 + (p->sw == 2 ? 2 * 16 : 16) + 15) & ~15;
    const int32_t oy_a = pix0 / p->ow, nrows = (pix0 + np - 1) / p->ow - oy_a + 1;
    const int use_rows = (int64_t)nrows * rs <= QC_ROWBUF;
    const int32_t ox0 = pix0 % p->ow;
    int32_t q, i, t, pp, ci = 0, ky = 0, kx = 0; /* tap t = (ci, ky, kx) */
    for (q = 0; q < KG; ++q) {
        int8_t *cq = col + (ptrdiff_t)q * P * G;
        for (i = 0; i < G; ++i) {
            t = q * G + i;
            src[i] = lines[i];
            if (t < K && pointwise) {
                src[i] = xg + (ptrdiff_t)t * p->h * p->w + pix0;
                if (full < np) {
                    memcpy(lines[i] + full, src[i] + full, (size_t)(np - full));
                    memset(lines[i] + np, p->x_zp, (size_t)(n16 - np));
                }
            } else if (t < K) {
                const int8_t *xc = xg + (ptrdiff_t)ci * p->h * p->w;
                if (use_rows) {
                    if (kx == 0) qc_padded_rows(xc, p, ky, oy_a, nrows, wp, rs, rows);
                    qc_line_rows(rows, rs, p, kx, ox0, np, lines[i]);
                } else {
                    qc_line(xc, x_end, p, ky, kx, pix0, np, lines[i]);
                }
                if (++kx == p->kw) {
                    kx = 0;
                    if (++ky == p->kh) {
                        ky = 0;
                        ++ci;
                    }
                }
            } else {
                memset(lines[i], 0, (size_t)n16);
            }
        }
        for (pp = 0; pp < n16 && G == 4; pp += 16) {
            const int8_t *s0 = pp < full ? src[0] : lines[0], *s1 = pp < full ? src[1] : lines[1];
            const __m128i f = _mm_set1_epi8((char)0x80);
            const int8_t *s2 = pp < full ? src[2] : lines[2], *s3 = pp < full ? src[3] : lines[3];
            __m128i l0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s0 + pp)), f);
            __m128i l1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s1 + pp)), f);
            __m128i l2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s2 + pp)), f);
            __m128i l3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s3 + pp)), f);
            __m128i a0 = _mm_unpacklo_epi8(l0, l1), a1 = _mm_unpackhi_epi8(l0, l1);
            __m128i b0 = _mm_unpacklo_epi8(l2, l3), b1 = _mm_unpackhi_epi8(l2, l3);
            int8_t *o = cq + (ptrdiff_t)pp * 4;
            _mm_storeu_si128((__m128i *)o, _mm_unpacklo_epi16(a0, b0));
            _mm_storeu_si128((__m128i *)(o + 16), _mm_unpackhi_epi16(a0, b0));
            _mm_storeu_si128((__m128i *)(o + 32), _mm_unpacklo_epi16(a1, b1));
            _mm_storeu_si128((__m128i *)(o + 48), _mm_unpackhi_epi16(a1, b1));
        }
        for (pp = 0; pp < n16 && G == 2; pp += 16) {
            const int8_t *s0 = pp < full ? src[0] : lines[0], *s1 = pp < full ? src[1] : lines[1];
            __m128i l0 = _mm_loadu_si128((const __m128i *)(s0 + pp));
            __m128i l1 = _mm_loadu_si128((const __m128i *)(s1 + pp));
            int8_t *o = cq + (ptrdiff_t)pp * 2;
            _mm_storeu_si128((__m128i *)o, _mm_unpacklo_epi8(l0, l1));
            _mm_storeu_si128((__m128i *)(o + 16), _mm_unpackhi_epi8(l0, l1));
        }
    }
}

#if defined(QC_LANES_VNNI)
#define QC_V 16 /* pixels per vector */
#define QC_PV 4 /* vectors per tile, at most */
typedef __m512i qc_vec;
#define QC_VZERO() _mm512_setzero_si512()
#define QC_VSET1(t) _mm512_set1_epi32(t)
#define QC_VLOAD(p) _mm512_loadu_si512((const void *)(p))
#define QC_VADD(a, b) _mm512_add_epi32(a, b)
/* acc + the sums of 4 products of unsigned x by signed w bytes, per int32 lane */
#define QC_DOT4(acc, x, w) _mm512_dpbusd_epi32(acc, x, w)
#define QC_VSUM(v) _mm512_reduce_add_epi32(v)

QC_FORCE_INLINE void qc_out(__m512i s, int32_t c, const qc_requant_t *rq, int8_t *o, int32_t valid) {
    const __mmask16 vm = valid >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << valid) - 1);
    if (rq->act == QC_ACT_NONE) {
        const int32_t ci = rq->per_channel ? c : 0, sh = rq->shift[ci];
        const __m512i m = _mm512_set1_epi64(rq->mult[ci]);
        __m512i pe = _mm512_mul_epi32(s, m), po = _mm512_mul_epi32(_mm512_srli_epi64(s, 32), m), v;
        if (sh >= 33) { /* qc_mulq from the high words (see qc_requant_row) */
            v = _mm512_mask_blend_epi32(0xaaaa, _mm512_srli_epi64(pe, 32), po);
            v = _mm512_sra_epi32(_mm512_add_epi32(v, _mm512_set1_epi32((int32_t)1 << (sh - 33))),
                                 _mm_cvtsi32_si128(sh - 32));
        } else {
            const __m512i rnd = _mm512_set1_epi64((int64_t)1 << (sh - 1));
            const __m128i cnt = _mm_cvtsi32_si128(sh);
            pe = _mm512_sra_epi64(_mm512_add_epi64(pe, rnd), cnt);
            po = _mm512_sra_epi64(_mm512_add_epi64(po, rnd), cnt);
            v = _mm512_mask_blend_epi32(0xaaaa, pe, _mm512_slli_epi64(po, 32));
        }
        v = _mm512_add_epi32(v, _mm512_set1_epi32(rq->out_zp));
        v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(rq->qmin)),
                             _mm512_set1_epi32(rq->qmax));
        _mm_mask_storeu_epi8(o, vm, _mm512_cvtepi32_epi8(v));
    } else {
        int32_t t[16], l;
        _mm512_storeu_si512(t, s);
        for (l = 0; l < valid && l < 16; ++l) o[l] = qc_requant(t[l], c, rq);
    }
}

#else /* AVX2 */
#define QC_V 8
#define QC_PV 2
typedef __m256i qc_vec;
#define QC_VZERO() _mm256_setzero_si256()
#define QC_VSET1(t) _mm256_set1_epi32(t)
#define QC_VLOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define QC_VADD(a, b) _mm256_add_epi32(a, b)
/* vpmaddubsw's int16 pair sums are exact for weights in [-64, 64] (qc_w_small) */
#define QC_DOT4(acc, x, w) \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)))
#define QC_VSUM(v) qc_hsum8(v)

QC_FORCE_INLINE int32_t qc_hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* 1 when every one of the n weights is in [-64, 64] (vpmaddubsw cannot saturate) */
static int qc_w_small(const int8_t *w, int32_t n) {
    const __m256i hi = _mm256_set1_epi8(64), lo = _mm256_set1_epi8(-64);
    __m256i bad = _mm256_setzero_si256();
    int32_t i;
    for (i = 0; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(w + i));
        bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi8(v, hi), _mm256_cmpgt_epi8(lo, v)));
    }
    if (!_mm256_testz_si256(bad, bad)) return 0;
    for (; i < n; ++i)
        if (w[i] > 64 || w[i] < -64) return 0;
    return 1;
}

QC_FORCE_INLINE void qc_out(__m256i s, int32_t c, const qc_requant_t *rq, int8_t *o, int32_t valid) {
    if (rq->act == QC_ACT_NONE) {
        const int32_t ci = rq->per_channel ? c : 0, sh = rq->shift[ci];
        const __m256i m = _mm256_set1_epi64x(rq->mult[ci]);
        __m256i pe = _mm256_mul_epi32(s, m), po = _mm256_mul_epi32(_mm256_srli_epi64(s, 32), m), v;
        __m128i b;
        if (sh >= 33) { /* qc_mulq from the high words (see qc_requant_row) */
            v = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xaa);
            v = _mm256_sra_epi32(_mm256_add_epi32(v, _mm256_set1_epi32((int32_t)1 << (sh - 33))),
                                 _mm_cvtsi32_si128(sh - 32));
        } else {
            const __m256i rnd = _mm256_set1_epi64x((int64_t)1 << (sh - 1));
            const __m256i sign = _mm256_set1_epi64x(INT64_MIN);
            const __m128i cnt = _mm_cvtsi32_si128(sh);
            const __m256i sbias = _mm256_srl_epi64(sign, cnt);
            /* arithmetic shift from the logical one: (p ^ 2^63) >> s minus 2^63 >> s */
            pe = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_xor_si256(_mm256_add_epi64(pe, rnd), sign), cnt), sbias);
            po = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_xor_si256(_mm256_add_epi64(po, rnd), sign), cnt), sbias);
            v = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa);
        }
        v = _mm256_add_epi32(v, _mm256_set1_epi32(rq->out_zp));
        v = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(rq->qmin)),
                             _mm256_set1_epi32(rq->qmax));
        v = _mm256_packs_epi32(v, v);
        v = _mm256_packs_epi16(v, v); /* bytes 0-3: lanes 0-3; bytes 16-19: lanes 4-7 */
        b = _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        if (valid >= 8) {
            _mm_storel_epi64((__m128i *)o, b);
        } else {
            int8_t t[16];
            _mm_storeu_si128((__m128i *)t, b);
            memcpy(o, t, (size_t)valid);
        }
    } else {
        int32_t t[8], l;
        _mm256_storeu_si256((__m256i *)t, s);
        for (l = 0; l < valid && l < 8; ++l) o[l] = qc_requant(t[l], c, rq);
    }
}

/* qc_out of two vectors (16 pixels) of channel c, packed to one 16-byte store when they are
 * all valid and the epilogue is the high-word one: the clamp to [qmin, qmax] after packs with
 * saturation (monotone, exact on [-128, 127]) gives the same bytes. */
QC_FORCE_INLINE void qc_out2(__m256i s0, __m256i s1, int32_t c, const qc_requant_t *rq, int8_t *o,
                             int32_t valid) {
    const int32_t ci = rq->per_channel ? c : 0, sh = rq->shift[ci];
    if (valid >= 16 && rq->act == QC_ACT_NONE && sh >= 33) {
        const __m256i m = _mm256_set1_epi32(rq->mult[ci]);
        const __m256i r = _mm256_set1_epi32((int32_t)1 << (sh - 33)), zp = _mm256_set1_epi32(rq->out_zp);
        const __m128i cnt = _mm_cvtsi32_si128(sh - 32);
        __m256i v0 = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epi32(s0, m), 32),
                                        _mm256_mul_epi32(_mm256_srli_epi64(s0, 32), m), 0xaa);
        __m256i v1 = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epi32(s1, m), 32),
                                        _mm256_mul_epi32(_mm256_srli_epi64(s1, 32), m), 0xaa);
        __m256i t;
        __m128i b;
        v0 = _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(v0, r), cnt), zp);
        v1 = _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(v1, r), cnt), zp);
        t = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xd8);
        b = _mm_packs_epi16(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        b = _mm_min_epi8(_mm_max_epi8(b, _mm_set1_epi8((char)rq->qmin)), _mm_set1_epi8((char)rq->qmax));
        _mm_storeu_si128((__m128i *)o, b);
        return;
    }
    qc_out(s0, c, rq, o, valid);
    qc_out(s1, c, rq, o + 8, valid - 8);
}

/* One tap group of G = 2: acc[i * PV + v] += the int16 pair products of the PV vectors of 16
 * bytes at s (sign-extended) and channel i's weight pair w[i * ws] (broadcast), i < NR. */
QC_FORCE_INLINE void qc_madd2(__m256i *acc, const int8_t *s, const int32_t *w, ptrdiff_t ws, int NR, int PV) {
    __m256i x[QC_PV];
    int i, v;
    QC_UNROLL
    for (v = 0; v < PV; ++v) x[v] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(s + v * 16)));
    QC_UNROLL
    for (i = 0; i < NR; ++i) {
        const __m256i wb = _mm256_set1_epi32(w[(ptrdiff_t)i * ws]);
        QC_UNROLL
        for (v = 0; v < PV; ++v) acc[i * PV + v] = _mm256_add_epi32(acc[i * PV + v], _mm256_madd_epi16(x[v], wb));
    }
}

/* G = 2: NR channels (weights widened to int16 pairs in wp, row stride KG) x PV vectors of 8
 * pixels. */
QC_FORCE_INLINE void qc_tile2(const int8_t *col, int32_t P, int32_t KG, const int32_t *wp,
                              const int32_t *bv, int32_t c0, const qc_requant_t *rq, int8_t *y,
                              int32_t pix, int32_t np, int NR, int PV) {
    __m256i acc[QC_NR * 2];
    int32_t q;
    int i, v;
    QC_UNROLL
    for (i = 0; i < NR * PV; ++i) acc[i] = _mm256_setzero_si256();
    for (q = 0; q < KG; ++q) qc_madd2(acc, col + (ptrdiff_t)q * P * 2, wp + q, KG, NR, PV);
    QC_UNROLL
    for (i = 0; i < NR; ++i) {
        const __m256i b = _mm256_set1_epi32(bv[i]);
        if (PV == 2) {
            qc_out2(_mm256_add_epi32(acc[i * PV], b), _mm256_add_epi32(acc[i * PV + 1], b), c0 + i, rq,
                    y + (ptrdiff_t)(c0 + i) * pix, np);
            continue;
        }
        QC_UNROLL
        for (v = 0; v < PV; ++v)
            qc_out(_mm256_add_epi32(acc[i * PV + v], b), c0 + i, rq,
                   y + (ptrdiff_t)(c0 + i) * pix + v * 8, np - v * 8);
    }
}

/* wp[i][q] = int16 pair (w[i][2q], w[i][2q + 1]) (0 past K) for n channels. */
static void qc_widen(const int8_t *w, int32_t n, int32_t K, int32_t *wp) {
    const int32_t KG = (K + 1) / 2;
    int32_t i, k;
    for (i = 0; i < n; ++i) {
        const int8_t *wr = w + (ptrdiff_t)i * K;
        int16_t *o = (int16_t *)(wp + (ptrdiff_t)i * KG);
        for (k = 0; k + 16 <= K; k += 16)
            _mm256_storeu_si256((__m256i *)(o + k),
                                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wr + k))));
        for (; k < K; ++k) o[k] = wr[k];
        if (K & 1) o[K] = 0;
    }
}
#endif

/* the n (< 4: zero-padded) weights at p as the 4 bytes of an int32 */
static int32_t qc_w4(const int8_t *p, int32_t n) {
    uint32_t t = 0;
    int32_t j;
    for (j = 0; j < n; ++j) t |= (uint32_t)(uint8_t)p[j] << (8 * j);
    return (int32_t)t;
}

/* acc[i * PV + v] += tap group cq of vector v times the 4 weights wb[i] of channel i */
QC_FORCE_INLINE void qc_q4(qc_vec *acc, const int8_t *cq, const qc_vec *wb, int NR, int PV) {
    int i, v;
    QC_UNROLL
    for (v = 0; v < PV; ++v) {
        qc_vec x = QC_VLOAD(cq + v * QC_V * 4);
        QC_UNROLL
        for (i = 0; i < NR; ++i) acc[i * PV + v] = QC_DOT4(acc[i * PV + v], x, wb[i]);
    }
}

/* G = 4 (activations unsigned): NR channels (weights w, row stride K) x PV vectors of QC_V
 * pixels, over the K / 4 tap groups and a last partial one (K % 4 != 0). */
QC_FORCE_INLINE void qc_tile4(const int8_t *col, int32_t P, int32_t K, const int8_t *w,
                              const int32_t *bv, int32_t c0, const qc_requant_t *rq, int8_t *y,
                              int32_t pix, int32_t np, int NR, int PV) {
    qc_vec acc[QC_NR * QC_PV], wb[QC_NR];
    const int32_t KQ = K / 4;
    int32_t q;
    int i, v;
    QC_UNROLL
    for (i = 0; i < NR * PV; ++i) acc[i] = QC_VZERO();
    for (q = 0; q < KQ; ++q) {
        QC_UNROLL
        for (i = 0; i < NR; ++i) {
            int32_t t;
            memcpy(&t, w + (ptrdiff_t)i * K + q * 4, 4);
            wb[i] = QC_VSET1(t);
        }
        qc_q4(acc, col + (ptrdiff_t)q * P * 4, wb, NR, PV);
    }
    if (K % 4) {
        QC_UNROLL
        for (i = 0; i < NR; ++i) wb[i] = QC_VSET1(qc_w4(w + (ptrdiff_t)i * K + KQ * 4, K % 4));
        qc_q4(acc, col + (ptrdiff_t)KQ * P * 4, wb, NR, PV);
    }
    QC_UNROLL
    for (i = 0; i < NR; ++i) {
        const qc_vec b = QC_VSET1(bv[i]);
#if defined(QC_LANES_AVX2)
        if (PV == 2) {
            qc_out2(QC_VADD(acc[i * PV], b), QC_VADD(acc[i * PV + 1], b), c0 + i, rq,
                    y + (ptrdiff_t)(c0 + i) * pix, np);
            continue;
        }
#endif
        QC_UNROLL
        for (v = 0; v < PV; ++v)
            qc_out(QC_VADD(acc[i * PV + v], b), c0 + i, rq, y + (ptrdiff_t)(c0 + i) * pix + v * QC_V,
                   np - v * QC_V);
    }
}

/* bv[c] = bias - 128 * sum of channel c's weights (the activations are flipped). */
static void qc_bias_adj(const int8_t *w, const int32_t *bias, int32_t n, int32_t K, int32_t *bv) {
    const qc_vec ones = QC_VSET1(0x01010101);
    int32_t c, k;
    for (c = 0; c < n; ++c) {
        const int8_t *wc = w + (ptrdiff_t)c * K;
        qc_vec acc = QC_VZERO();
        int32_t sum;
        for (k = 0; k + (int32_t)sizeof(qc_vec) <= K; k += (int32_t)sizeof(qc_vec))
            acc = QC_DOT4(acc, ones, QC_VLOAD(wc + k));
        for (sum = QC_VSUM(acc); k < K; ++k) sum += wc[k];
        bv[c] = (int32_t)((uint32_t)(bias ? bias[c] : 0) - 128u * (uint32_t)sum);
    }
}

/* The tile call for nr channels and pv vectors (constant arguments: one inlined copy each) */
#define QC_CASES12(T, NR) case NR * 8 + 1: T(NR, 1); break; case NR * 8 + 2: T(NR, 2); break;
#if defined(QC_LANES_VNNI)
#define QC_CASES(T, NR) QC_CASES12(T, NR) case NR * 8 + 3: T(NR, 3); break; case NR * 8 + 4: T(NR, 4); break;
#else
#define QC_CASES(T, NR) QC_CASES12(T, NR)
#endif
#define QC_SWITCH(T) \
    switch (nr * 8 + pv) { QC_CASES(T, 4) QC_CASES(T, 3) QC_CASES(T, 2) QC_CASES(T, 1) default: break; }
#define QC_T4(NR, PV)                                                                             \
    qc_tile4(col + v0 * QC_V * 4, P, K, wg + (ptrdiff_t)c * K, bv + c0, c, rg, y0 + v0 * QC_V, pix, \
             np - v0 * QC_V, NR, PV)
#define QC_T2(NR, PV) \
    qc_tile2(col + v0 * 16, P, KG, wp, bv + c0, c, rg, y0 + v0 * 8, pix, np - v0 * 8, NR, PV)

/* ---- direct convolution (kh * kw > 1): no im2col --------------------------------------------
 * The scratch holds a band of padded input rows of the group, G channels side by side per pixel
 * (band[cg][r][s][j][G]: channel group cg, band row r, column phase s < sw, phase column j; the
 * padded column of (s, j) is j * sw + s, x_zp outside the image; flipped to unsigned for G = 4).
 * Tap (ky, kx) of output pixel (oy, ox) is then band row (oy - oy0) * sh + ky * dh, phase
 * (kx * dw) % sw, column ox + (kx * dw) / sw: a vector of pixels of one output row is one load
 * from the band at a per-tap offset, so each input byte is copied about once per band instead
 * of kh * kw times. The G channels of a tap replace the G taps of the im2col (the same products
 * in another order: int32 sums, exact). Channels past cin_g get weight 0. */
#ifndef QC_DPV
#define QC_DPV QC_PV /* vectors per direct tile, at most */
#endif
#define QC_DROW 4096 /* sw * Wj: bytes of one padded, phase-split input row, at most */
#define QC_WALL 16384 /* int32: the direct path's prepared weights of a whole group, at most */

/* band rows [0, nb) (input rows iy0 + r) of every channel group; Wj phase columns. */
static void qc_band(const int8_t *xg, const qc_conv_params_t *p, int32_t G, int32_t CG,
                    int32_t iy0, int32_t nb, int32_t Wj, int8_t *band) {
    int8_t tmp[QC_G][QC_DROW + 64] QC_ALIGNED(32);
    int8_t ph[QC_G][QC_DROW + 64] QC_ALIGNED(32);
    const int32_t cin_g = p->cin / p->group, sw = p->sw, L = sw * Wj, RB = L * G;
    const int32_t Wj16 = (Wj + 15) & ~15, L32 = (L + 31) & ~31;
    const int8_t zp = (int8_t)p->x_zp, fz = (int8_t)(G == 4 ? (zp ^ 0x80) : zp);
    const int32_t n_in = p->w < L - p->pl ? p->w : L - p->pl; /* image columns in the row */
    const __m128i f = _mm_set1_epi8(G == 4 ? (char)0x80 : 0);
    int32_t cg, r, i, s, j;
    for (cg = 0; cg < CG; ++cg) {
        for (r = 0; r < nb; ++r) {
            const int32_t iy = iy0 + r;
            int8_t *d = band + ((ptrdiff_t)cg * nb + r) * RB;
            if (iy < 0 || iy >= p->h) {
                memset(d, fz, (size_t)RB);
                continue;
            }
            for (i = 0; i < G; ++i) {
                const int32_t ci = cg * G + i;
                int8_t *t = tmp[i];
                if (ci >= cin_g || n_in <= 0) {
                    memset(t, zp, (size_t)L32);
                    continue;
                }
                memset(t, zp, (size_t)(p->pl < L ? p->pl : L));
                qc_copy_n(t + p->pl, xg + ((ptrdiff_t)ci * p->h + iy) * p->w, n_in);
                memset(t + p->pl + n_in, zp, (size_t)(L32 - p->pl - n_in));
            }
            for (s = 0; s < sw; ++s) {
                const int8_t *rw[QC_G];
                int8_t *o = d + (ptrdiff_t)s * Wj * G;
                for (i = 0; i < G; ++i) {
                    if (sw == 1) {
                        rw[i] = tmp[i];
                        continue;
                    }
                    rw[i] = ph[i];
                    if (sw == 2) {
                        const __m256i lo8 = _mm256_set1_epi16(0xff);
                        for (j = 0; j < Wj; j += 16) {
                            __m256i v = _mm256_loadu_si256((const __m256i *)(tmp[i] + 2 * j));
                            v = s ? _mm256_srli_epi16(v, 8) : _mm256_and_si256(v, lo8);
                            _mm_storeu_si128((__m128i *)(ph[i] + j),
                                             _mm_packus_epi16(_mm256_castsi256_si128(v),
                                                              _mm256_extracti128_si256(v, 1)));
                        }
                    } else {
                        for (j = 0; j < Wj; ++j) ph[i][j] = tmp[i][(ptrdiff_t)j * sw + s];
                        for (; j < Wj16; ++j) ph[i][j] = zp;
                    }
                }
                for (j = 0; j < Wj; j += 16) {
                    int8_t last[64];
                    int8_t *oj = j + 16 <= Wj ? o + (ptrdiff_t)j * G : last;
                    if (G == 2) {
                        __m128i a = _mm_loadu_si128((const __m128i *)(rw[0] + j));
                        __m128i b = _mm_loadu_si128((const __m128i *)(rw[1] + j));
                        _mm_storeu_si128((__m128i *)oj, _mm_unpacklo_epi8(a, b));
                        _mm_storeu_si128((__m128i *)(oj + 16), _mm_unpackhi_epi8(a, b));
                    } else {
                        __m128i l0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rw[0] + j)), f);
                        __m128i l1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rw[1] + j)), f);
                        __m128i l2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rw[2] + j)), f);
                        __m128i l3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rw[3] + j)), f);
                        __m128i a0 = _mm_unpacklo_epi8(l0, l1), a1 = _mm_unpackhi_epi8(l0, l1);
                        __m128i b0 = _mm_unpacklo_epi8(l2, l3), b1 = _mm_unpackhi_epi8(l2, l3);
                        _mm_storeu_si128((__m128i *)oj, _mm_unpacklo_epi16(a0, b0));
                        _mm_storeu_si128((__m128i *)(oj + 16), _mm_unpackhi_epi16(a0, b0));
                        _mm_storeu_si128((__m128i *)(oj + 32), _mm_unpacklo_epi16(a1, b1));
                        _mm_storeu_si128((__m128i *)(oj + 48), _mm_unpackhi_epi16(a1, b1));
                    }
                    if (oj == last) memcpy(o + (ptrdiff_t)j * G, last, (size_t)((Wj - j) * G));
                }
            }
        }
    }
}

/* wq[i][q] for n channels, q = (cg, ky, kx) < KQ: the G weights of channels cg * G + [0, G) of
 * tap (ky, kx), int16 pairs (G = 2) or bytes (G = 4), 0 past cin_g. */
static void qc_dweights(const int8_t *w, int32_t n, int32_t K, int32_t cin_g, int32_t khw,
                        int32_t G, int32_t CG, int32_t *wq) {
    const int32_t KQ = CG * khw;
    int32_t i, cg, t, j;
    for (i = 0; i < n; ++i) {
        const int8_t *wi = w + (ptrdiff_t)i * K;
        for (cg = 0; cg < CG; ++cg) {
            for (t = 0; t < khw; ++t) {
                uint32_t u = 0;
                for (j = 0; j < G; ++j) {
                    const int32_t ci = cg * G + j;
                    const int32_t v = ci < cin_g ? wi[(ptrdiff_t)ci * khw + t] : 0;
                    u |= G == 2 ? (uint32_t)(uint16_t)v << (16 * j) : (uint32_t)(uint8_t)v << (8 * j);
                }
                wq[(ptrdiff_t)i * KQ + cg * khw + t] = (int32_t)u;
            }
        }
    }
}

/* NR channels x PV vectors of QC_V pixels of one output row: base + offs[q] is tap group q of
 * the first pixel. */
QC_FORCE_INLINE void qc_dtile(const int8_t *base, const int32_t *offs, int32_t KQ, const int32_t *wq,
                              const int32_t *bv, int32_t c, const qc_requant_t *rq, int8_t *y,
                              int32_t pix, int32_t np, int G, int NR, int PV) {
    qc_vec acc[QC_NR * QC_DPV];
    int32_t q;
    int i, v;
    QC_UNROLL
    for (i = 0; i < NR * PV; ++i) acc[i] = QC_VZERO();
    for (q = 0; q < KQ; ++q) {
        const int8_t *s = base + offs[q];
        qc_vec x[QC_DPV];
#if defined(QC_LANES_AVX2)
        if (G == 2) {
            qc_madd2(acc, s, wq + q, KQ, NR, PV);
            continue;
        }
#endif
        QC_UNROLL
        for (v = 0; v < PV; ++v) x[v] = QC_VLOAD(s + v * QC_V * 4);
        QC_UNROLL
        for (i = 0; i < NR; ++i) {
            const qc_vec wb = QC_VSET1(wq[(ptrdiff_t)i * KQ + q]);
            QC_UNROLL
            for (v = 0; v < PV; ++v) acc[i * PV + v] = QC_DOT4(acc[i * PV + v], x[v], wb);
        }
    }
    (void)G;
    QC_UNROLL
    for (i = 0; i < NR; ++i) {
        const qc_vec b = QC_VSET1(bv[i]);
#if defined(QC_LANES_AVX2)
        if (PV == 2) {
            qc_out2(QC_VADD(acc[i * PV], b), QC_VADD(acc[i * PV + 1], b), c + i, rq,
                    y + (ptrdiff_t)i * pix, np);
            continue;
        }
#endif
        QC_UNROLL
        for (v = 0; v < PV; ++v)
            qc_out(QC_VADD(acc[i * PV + v], b), c + i, rq, y + (ptrdiff_t)i * pix + v * QC_V,
                   np - v * QC_V);
    }
}

#define QC_TDG(NR, PV, GG)                                                                     \
    qc_dtile(band + (ptrdiff_t)t * p->sh * RB + (ptrdiff_t)ox0 * GG, offs, KQ, wq, bv, c0, rg, \
             yg + (ptrdiff_t)c0 * pix + (ptrdiff_t)(oy0 + t) * p->ow + ox0, pix, p->ow - ox0, GG, NR, PV)
#define QC_TD(NR, PV) QC_TDG(NR, PV, 4)
#if QC_DPV >= 4
#define QC_DC4(T, NR) QC_DC3(T, NR) case NR * 8 + 4: T(NR, 4); break;
#else
#define QC_DC4(T, NR) QC_DC3(T, NR)
#endif
#if QC_DPV >= 3
#define QC_DC3(T, NR) QC_CASES12(T, NR) case NR * 8 + 3: T(NR, 3); break;
#else
#define QC_DC3(T, NR) QC_CASES12(T, NR)
#endif
#define QC_DSWITCH(T) \
    switch (nr * 8 + pv) { QC_DC4(T, 4) QC_DC4(T, 3) QC_DC4(T, 2) QC_DC4(T, 1) default: break; }
#define QC_TD2(NR, PV) QC_TDG(NR, PV, 2)

/* One group of one image by direct convolution, G = 4 (bias adjusted in bv) or 2. Returns 0
 * when the shape does not suit it (the band of one output row does not fit the scratch). */
static int qc_conv_group_direct(const int8_t *xg, const int8_t *wg, const int32_t *bg,
                                const qc_conv_params_t *p, const qc_requant_t *rg, int8_t *yg,
                                int8_t *band, int32_t G) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group, khw = p->kh * p->kw;
    const int32_t K = cin_g * khw, pix = p->oh * p->ow, CG = (cin_g + G - 1) / G, KQ = CG * khw;
    const int32_t nv = (p->ow + QC_V - 1) / QC_V, Wj = nv * QC_V + (p->kw - 1) * p->dw / p->sw;
    const int32_t RB = p->sw * Wj * G, S = qc_conv_s8_scratch(p);
    const int32_t nb1 = (p->kh - 1) * p->dh + 1; /* band rows of one output row */
    /* all channels' weights and biases prepared once (pre) when they fit wall, else per band */
    const int pre = (int64_t)cout_g * KQ <= QC_WALL && cout_g <= QC_CB;
    int32_t offs[QC_KMAX / 2], wq1[QC_NR * (QC_KMAX / 2)], bv1[QC_NR], wall[QC_WALL], ball[QC_CB];
    int32_t R, oy0, cg, ky, kx, c0, i;
    if (KQ > QC_KMAX / 2 || p->sw * Wj > QC_DROW || (int64_t)CG * nb1 * RB > S) return 0;
    if (pre) {
        qc_dweights(wg, cout_g, K, cin_g, khw, G, CG, wall);
        if (G == 4) qc_bias_adj(wg, bg, cout_g, K, ball);
        else
            for (i = 0; i < cout_g; ++i) ball[i] = bg ? bg[i] : 0;
    }
    R = (int32_t)(((int64_t)S / ((int64_t)CG * RB) - nb1) / p->sh) + 1;
    if (R > p->oh) R = p->oh;
    for (oy0 = 0; oy0 < p->oh; oy0 += R) {
        const int32_t nr_rows = p->oh - oy0 < R ? p->oh - oy0 : R;
        const int32_t nb = (nr_rows - 1) * p->sh + nb1;
        const int32_t PB = nb * RB;
        for (cg = 0; cg < CG; ++cg)
            for (ky = 0; ky < p->kh; ++ky)
                for (kx = 0; kx < p->kw; ++kx)
                    offs[(cg * p->kh + ky) * p->kw + kx] =
                        cg * PB + ky * p->dh * RB + (kx * p->dw % p->sw) * Wj * G + (kx * p->dw / p->sw) * G;
        qc_band(xg, p, G, CG, oy0 * p->sh - p->pt, nb, Wj, band);
        for (c0 = 0; c0 < cout_g; c0 += QC_NR) {
            const int32_t nr = cout_g - c0 < QC_NR ? cout_g - c0 : QC_NR;
            const int32_t *wq = wall + (ptrdiff_t)c0 * KQ, *bv = ball + c0;
            int32_t t, v0;
            if (!pre) {
                qc_dweights(wg + (ptrdiff_t)c0 * K, nr, K, cin_g, khw, G, CG, wq1);
                if (G == 4) qc_bias_adj(wg + (ptrdiff_t)c0 * K, bg ? bg + c0 : NULL, nr, K, bv1);
                else
                    for (i = 0; i < nr; ++i) bv1[i] = bg ? bg[c0 + i] : 0;
                wq = wq1;
                bv = bv1;
            }
            for (t = 0; t < nr_rows; ++t) {
                for (v0 = 0; v0 < nv; v0 += QC_DPV) {
                    const int32_t pv = nv - v0 < QC_DPV ? nv - v0 : QC_DPV, ox0 = v0 * QC_V;
#if defined(QC_LANES_AVX2)
                    if (G == 2) {
                        QC_DSWITCH(QC_TD2)
                        continue;
                    }
#endif
                    QC_DSWITCH(QC_TD)
                }
            }
        }
    }
    return 1;
}

/* One group of one image through the pixel-lane kernels. Returns 0 (nothing done) when the
 * shape does not suit them. */
static int qc_conv_group_lanes(const int8_t *xg, const int8_t *x_end, const int8_t *wg,
                               const int32_t *bg, const qc_conv_params_t *p,
                               const qc_requant_t *rg, int8_t *yg, int8_t *col) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t K = cin_g * p->kh * p->kw, pix = p->oh * p->ow;
#if defined(QC_LANES_VNNI)
    const int32_t G = 4;
#else
    const int32_t G = qc_w_small(wg, cout_g * K) ? 4 : 2;
    int32_t wp[QC_NR * (QC_KMAX / 2)];
#endif
    const int32_t KG = (K + G - 1) / G;
    const int32_t P = K > 0 ? (int32_t)(((int64_t)qc_conv_s8_rows(p) * K / ((int64_t)KG * G)) & ~15) : 0;
    int32_t bv[QC_CB], cb, pix0;
    /* direct for kh * kw > 1 on rows of a vector or more; with G = 4 not for fewer than 4 input
     * channels (a stem conv: the padded quad costs more than the im2col saves) */
    if (p->kh * p->kw > 1 && p->ow >= QC_V && (G == 2 || cin_g >= G) &&
        qc_conv_group_direct(xg, wg, bg, p, rg, yg, col, G))
        return 1;
    if (P < 16 || (G == 2 && K > QC_KMAX)) return 0;
    for (cb = 0; cb < cout_g; cb += QC_CB) {
        const int32_t nc = cout_g - cb < QC_CB ? cout_g - cb : QC_CB;
        int32_t c;
        if (G == 4) qc_bias_adj(wg + (ptrdiff_t)cb * K, bg ? bg + cb : NULL, nc, K, bv);
        else
            for (c = 0; c < nc; ++c) bv[c] = bg ? bg[cb + c] : 0;
        for (pix0 = 0; pix0 < pix; pix0 += P) {
            const int32_t np = pix - pix0 < P ? pix - pix0 : P;
            const int32_t nv = (np + QC_V - 1) / QC_V;
            int8_t *y0 = yg + pix0;
            int32_t c0, v0;
            qc_im2col_lanes(xg, x_end, p, K, G, P, pix0, np, col);
            for (c0 = 0; c0 < nc; c0 += QC_NR) {
                const int32_t nr = nc - c0 < QC_NR ? nc - c0 : QC_NR;
                c = cb + c0;
#if defined(QC_LANES_AVX2)
                if (G == 2) {
                    qc_widen(wg + (ptrdiff_t)c * K, nr, K, wp);
                    for (v0 = 0; v0 < nv; v0 += 2) {
                        const int32_t pv = nv - v0 < 2 ? nv - v0 : 2;
                        QC_SWITCH(QC_T2)
                    }
                    continue;
                }
#endif
                for (v0 = 0; v0 < nv; v0 += QC_PV) {
                    const int32_t pv = nv - v0 < QC_PV ? nv - v0 : QC_PV;
                    QC_SWITCH(QC_T4)
                }
            }
        }
    }
    return 1;
}
#endif /* QC_G */

void qc_conv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                const qc_requant_t *rq, int8_t *y, int8_t *col) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t K = cin_g * p->kh * p->kw, pix = p->oh * p->ow;
    const int8_t *x_end = x + (ptrdiff_t)p->n * p->cin * p->h * p->w;
    int32_t n, g;
    (void)x_end;
    for (n = 0; n < p->n; ++n) {
        for (g = 0; g < p->group; ++g) {
            const int8_t *xg = x + ((ptrdiff_t)n * p->cin + (ptrdiff_t)g * cin_g) * p->h * p->w;
            int8_t *yg = y + ((ptrdiff_t)n * p->cout + (ptrdiff_t)g * cout_g) * pix;
            const int8_t *wg = wt + (ptrdiff_t)g * cout_g * K;
            const int32_t *bg = bias ? bias + g * cout_g : NULL;
            const qc_requant_t rg = qc_conv_group_rq(rq, g, cout_g);
#ifdef QC_G
            if (qc_conv_group_lanes(xg, x_end, wg, bg, p, &rg, yg, col)) continue;
#endif
            qc_conv_group_chunks(xg, wg, bg, p, &rg, yg, col, qc_im2col_rows);
        }
    }
}
