/* uses: qc_gemm_s8 */
/* qc_conv_s8, Cortex-M (and any little-endian target): bit-identical to
 * kernels/reference/qc_conv_s8.c, same scratch (min(64, oh*ow) * K bytes), same im2col layout
 * (QC_CONV_S8_CHUNK output pixels at a time, K = cin/group*kh*kw int8 per pixel row) and the
 * same qc_gemm_s8 calls; only the im2col copies are faster:
 *  - 1x1, stride 1, no padding, output plane = input plane (pointwise convolutions): the chunk's
 *    pixels are one contiguous run of every channel row, so 4 channels x 4 pixels are read as 4
 *    words and transposed in registers (masks and PKHBT/PKHTB) into 4 pixel words;
 *  - 3x3 undilated (any stride, padding): one pixel at a time, a 3-tap run one word copy when
 *    the pixel's taps are inside the input, else per-tap selects of x_zp (no per-tap set-up);
 *  - anything else: the reference's tap-at-a-time loop.
 * Without the little-endian byte order this file is the reference. */
#include "qc_kernels.h"
#include "qc_conv_util.h"

#ifndef QC_NOIPA
#define QC_NOIPA /* the benchmark defines it as __attribute__((noipa)) */
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define QC_CONV_LE 1
#endif

int32_t qc_conv_s8_scratch(const qc_conv_params_t *p) {
    return qc_conv_s8_rows(p) * (p->cin / p->group) * p->kh * p->kw;
}

#if defined(QC_CONV_LE)
static inline uint32_t qc_ld32(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void qc_st32(int8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Pointwise im2col: col[r * K + c] = xg[c * hw + pix0 + r] for r < np, c < K (= cin_g). */
static void qc_im2col_1x1(const int8_t *xg, int32_t hw, int32_t K, int32_t pix0, int32_t np,
                          int8_t *col) {
    const int8_t *x0 = xg + pix0;
    const ptrdiff_t K2 = 2 * (ptrdiff_t)K, K3 = 3 * (ptrdiff_t)K;
    int32_t c = 0, r;
    for (; c + 4 <= K; c += 4) {
        const int8_t *s0 = x0 + (ptrdiff_t)c * hw, *s1 = s0 + hw, *s2 = s1 + hw, *s3 = s2 + hw;
        int8_t *d = col + c;
        for (r = 0; r + 4 <= np; r += 4, d += 4 * (ptrdiff_t)K) {
            /* r0..r3: 4 pixels of channels c..c+3 */
            const uint32_t r0 = qc_ld32(s0 + r), r1 = qc_ld32(s1 + r), r2 = qc_ld32(s2 + r),
                           r3 = qc_ld32(s3 + r);
            /* a = r0b0 r1b0 r0b2 r1b2, b = r0b1 r1b1 r0b3 r1b3; c, d the same of r2, r3 */
            const uint32_t a = (r0 & 0x00ff00ffu) | ((r1 & 0x00ff00ffu) << 8);
            const uint32_t b = ((r0 >> 8) & 0x00ff00ffu) | (r1 & 0xff00ff00u);
            const uint32_t e = (r2 & 0x00ff00ffu) | ((r3 & 0x00ff00ffu) << 8);
            const uint32_t f = ((r2 >> 8) & 0x00ff00ffu) | (r3 & 0xff00ff00u);
            qc_st32(d, (a & 0xffffu) | (e << 16));
            qc_st32(d + K, (b & 0xffffu) | (f << 16));
            qc_st32(d + K2, (a >> 16) | (e & 0xffff0000u));
            qc_st32(d + K3, (b >> 16) | (f & 0xffff0000u));
        }
        for (; r < np; ++r, d += K) {
            d[0] = s0[r];
            d[1] = s1[r];
            d[2] = s2[r];
            d[3] = s3[r];
        }
    }
    for (; c < K; ++c) {
        const int8_t *s = x0 + (ptrdiff_t)c * hw;
        int8_t *d = col + c;
        for (r = 0; r < np; ++r, d += K) *d = s[r];
    }
}
#endif

/* Pixels [s0, s1) of an output-row segment of a 3x3 undilated kernel, one pixel at a time (no
 * per-tap set-up). A pixel whose 9 taps are inside the input copies per input channel three
 * 3-byte runs, each one word copy whose 4th byte is rewritten later (by the next run, or by the
 * next pixel's first run: pixels go in order), except where that byte would leave the scratch
 * (the chunk's last pixel, `last`) or the read would leave the input row; the others select
 * x_zp for the taps outside. */
static void qc_im2col_px3(const int8_t *xg, const qc_conv_params_t *p, int32_t cin_g, int32_t K,
                          int32_t iy0, int32_t off0, int32_t s0, int32_t s1, int32_t last,
                          int8_t *cb) {
    const int32_t hw = p->h * p->w;
    const ptrdiff_t r1 = p->w, r2 = 2 * (ptrdiff_t)p->w;
    const int8_t zp = (int8_t)p->x_zp;
    const int rows = iy0 >= 0 && iy0 + 3 <= p->h;
    const int y0 = iy0 >= 0 && iy0 < p->h, y1 = iy0 + 1 >= 0 && iy0 + 1 < p->h,
              y2 = iy0 + 2 >= 0 && iy0 + 2 < p->h;
    int32_t s, ci;
    for (s = s0; s < s1; ++s) {
        const int32_t col0 = off0 + s * p->sw;
        const int8_t *xs = xg + (ptrdiff_t)iy0 * p->w + col0;
        int8_t *d = cb + (ptrdiff_t)s * K;
        if (rows && col0 >= 0 && col0 + 4 <= p->w && s != last) {
            for (ci = 0; ci < cin_g; ++ci, xs += hw, d += 9) {
                qc_st32(d, qc_ld32(xs));
                qc_st32(d + 3, qc_ld32(xs + r1));
                qc_st32(d + 6, qc_ld32(xs + r2));
            }
        } else {
            const int c0 = col0 >= 0 && col0 < p->w, c1 = col0 + 1 >= 0 && col0 + 1 < p->w,
                      c2 = col0 + 2 >= 0 && col0 + 2 < p->w;
            for (ci = 0; ci < cin_g; ++ci, xs += hw, d += 9) {
                d[0] = y0 && c0 ? xs[0] : zp;
                d[1] = y0 && c1 ? xs[1] : zp;
                d[2] = y0 && c2 ? xs[2] : zp;
                d[3] = y1 && c0 ? xs[r1] : zp;
                d[4] = y1 && c1 ? xs[r1 + 1] : zp;
                d[5] = y1 && c2 ? xs[r1 + 2] : zp;
                d[6] = y2 && c0 ? xs[r2] : zp;
                d[7] = y2 && c1 ? xs[r2 + 1] : zp;
                d[8] = y2 && c2 ? xs[r2 + 2] : zp;
            }
        }
    }
}

/* Rows [pix0, pix0 + np) of the im2col matrix of one group of one image, as the reference. */
static void qc_im2col_s8(const int8_t *xg, const qc_conv_params_t *p, int32_t cin_g, int32_t pix0,
                         int32_t np, int8_t *col) {
    const int32_t K = cin_g * p->kh * p->kw, sw = p->sw;
    int32_t r = 0;
#if defined(QC_CONV_LE)
    if (p->kh == 1 && p->kw == 1 && p->sh == 1 && sw == 1 && p->pt == 0 && p->pl == 0 &&
        p->oh == p->h && p->ow == p->w) {
        qc_im2col_1x1(xg, p->h * p->w, K, pix0, np, col);
        return;
    }
#endif
    while (r < np) {
        const int32_t oy = (pix0 + r) / p->ow, ox0 = (pix0 + r) % p->ow;
        const int32_t seg = p->ow - ox0 < np - r ? p->ow - ox0 : np - r;
        const int32_t iy0 = oy * p->sh - p->pt, off0 = ox0 * sw - p->pl;
        int8_t *const cb = col + (ptrdiff_t)r * K;
#if defined(QC_CONV_LE)
        if (p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1)
            qc_im2col_px3(xg, p, cin_g, K, iy0, off0, 0, seg, np - 1 - r, cb);
        else
#endif
            qc_im2col_taps(xg, p, cin_g, K, iy0, off0, 0, seg, cb);
        r += seg;
    }
}

QC_NOIPA void qc_conv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                         const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y, int8_t *col) {
    qc_conv_s8_groups(x, wt, bias, p, rq, y, col, qc_im2col_s8);
}
