/* qcompiler C kernel library: pieces shared by the target variants of qc_conv_s8 (reference,
 * x86, cortex-m): the reference's im2col, one tap at a time over a run of pixels of one output
 * row, and the chunk loop of one group (im2col QC_CONV_S8_CHUNK pixels, then qc_gemm_s8). */
#ifndef QC_CONV_UTIL_H
#define QC_CONV_UTIL_H

#include "qc_kernels.h"

/* y[i * ys] = qc_requant(acc[i], ch, rq) for i < n: qc_requant_row with its fixed-point loop
 * (shift >= 33, mult >= 0) written so that compilers vectorize the high word with one unsigned
 * 32x32->64 multiply per lane (pmuludq on SSE2, umull on Arm), for a unit stride and for a
 * strided row alike: the same arithmetic as qc_mul_hi (acc >> 31 is 0 or -1) and, since
 * qmin <= qmax, the same clamp. */
static inline void qc_requant_row_vec(const int32_t *acc, int32_t n, int32_t ch, const qc_requant_t *rq, int8_t *y,
                                      ptrdiff_t ys) {
    const int32_t c = rq->per_channel ? ch : 0;
    int32_t i;
    if (rq->act == QC_ACT_NONE && rq->shift[c] >= 33 && rq->mult[c] >= 0) {
        const uint32_t m = (uint32_t)rq->mult[c];
        const int32_t sh = rq->shift[c] - 32, r = (int32_t)1 << (sh - 1);
        const int32_t zp = rq->out_zp, lo = rq->qmin, hi = rq->qmax;
        if (ys == 1) {
            for (i = 0; i < n; ++i) {
                const uint32_t h = (uint32_t)(((uint64_t)(uint32_t)acc[i] * m) >> 32);
                int32_t v = (((int32_t)(h - (m & (uint32_t)(acc[i] >> 31))) + r) >> sh) + zp;
                v = v < lo ? lo : v;
                v = v > hi ? hi : v;
                y[i] = (int8_t)v;
            }
        } else {
            for (i = 0; i < n; ++i) {
                const uint32_t h = (uint32_t)(((uint64_t)(uint32_t)acc[i] * m) >> 32);
                int32_t v = (((int32_t)(h - (m & (uint32_t)(acc[i] >> 31))) + r) >> sh) + zp;
                v = v < lo ? lo : v;
                v = v > hi ? hi : v;
                y[(ptrdiff_t)i * ys] = (int8_t)v;
            }
        }
        return;
    }
    qc_requant_row(acc, n, ch, rq, y, ys);
}

/* An im2col of rows [pix0, pix0 + np) of one group of one image (row r: the K taps of output
 * pixel pix0 + r, contiguous). */
typedef void (*qc_im2col_fn)(const int8_t *xg, const qc_conv_params_t *p, int32_t cin_g, int32_t pix0,
                             int32_t np, int8_t *col);

/* Pixels [s0, s1) of one output-row segment, tap at a time (the reference's loop): cb is the
 * im2col row of s = 0, iy0 the input row of ky = 0, off0 the input column of s = 0, kx = 0. */
static inline void qc_im2col_taps(const int8_t *xg, const qc_conv_params_t *p, int32_t cin_g,
                                  int32_t K, int32_t iy0, int32_t off0, int32_t s0, int32_t s1, int8_t *cb) {
    const int32_t sw = p->sw;
    const int8_t zp = (int8_t)p->x_zp;
    int32_t ci, ky, kx, s, k = 0;
    for (ci = 0; ci < cin_g; ++ci) {
        const int8_t *xc = xg + (ptrdiff_t)ci * p->h * p->w;
        for (ky = 0; ky < p->kh; ++ky) {
            const int32_t iy = iy0 + ky * p->dh;
            if (iy < 0 || iy >= p->h) {
                for (kx = 0; kx < p->kw; ++kx, ++k) {
                    int8_t *d = cb + (ptrdiff_t)s0 * K + k;
                    for (s = s0; s < s1; ++s, d += K) *d = zp;
                }
                continue;
            }
            for (kx = 0; kx < p->kw; ++kx, ++k) {
                const int32_t off = off0 + kx * p->dw; /* input column of s = 0 */
                int32_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int32_t hi = off > p->w - 1 ? 0 : (p->w - 1 - off) / sw + 1;
                const int8_t *src = xc + (ptrdiff_t)iy * p->w + off;
                int8_t *d = cb + (ptrdiff_t)s0 * K + k;
                if (hi > s1) hi = s1;
                if (lo < s0) lo = s0;
                if (lo > hi) lo = hi;
                for (s = s0; s < lo; ++s, d += K) *d = zp;
                if (sw == 1) {
                    for (; s < hi; ++s, d += K) *d = src[s];
                } else {
                    for (; s < hi; ++s, d += K) *d = src[(ptrdiff_t)s * sw];
                }
                for (; s < s1; ++s, d += K) *d = zp;
            }
        }
    }
}

/* The reference's im2col: each output-row segment of the rows, tap at a time. The in-bounds
 * pixels of a tap form one range, so the inner loops carry no bounds checks (a strided copy and
 * two fills with the zero point; padding taps read x_zp since the bias holds -x_zp*sum(w)). */
static inline void qc_im2col_rows(const int8_t *xg, const qc_conv_params_t *p, int32_t cin_g, int32_t pix0,
                                  int32_t np, int8_t *col) {
    const int32_t K = cin_g * p->kh * p->kw;
    int32_t r = 0;
    while (r < np) {
        const int32_t oy = (pix0 + r) / p->ow, ox0 = (pix0 + r) % p->ow;
        const int32_t seg = p->ow - ox0 < np - r ? p->ow - ox0 : np - r;
        qc_im2col_taps(xg, p, cin_g, K, oy * p->sh - p->pt, ox0 * p->sw - p->pl, 0, seg, col + (ptrdiff_t)r * K);
        r += seg;
    }
}

/* The reference's pixel-major im2col (horizontal dilation 1): each im2col row is written in order,
 * kw contiguous input bytes per (channel, kernel row) with x_zp for the taps outside the input,
 * so the copies need no per-byte strided stores; 3x3 taps all inside the input are one unrolled
 * loop over the channels. Dilated kernel columns go through qc_im2col_rows. A 1x1 stride-1
 * unpadded kernel reads the chunk straight from the [cin][h*w] planes, four pixels at a time. */
static inline void qc_im2col_rows_px(const int8_t *xg, const qc_conv_params_t *p, int32_t cin_g, int32_t pix0,
                                     int32_t np, int8_t *col) {
    const int32_t kh = p->kh, kw = p->kw, K = cin_g * kh * kw, w = p->w, sw = p->sw;
    const ptrdiff_t hw = (ptrdiff_t)p->h * w, rs = (ptrdiff_t)p->dh * w;
    const int8_t zp = (int8_t)p->x_zp;
    int32_t r = 0, ci, ky, kx;
    if (p->dw != 1) {
        qc_im2col_rows(xg, p, cin_g, pix0, np, col);
        return;
    }
    if (kh == 1 && kw == 1 && sw == 1 && p->sh == 1 && p->pt == 0 && p->pl == 0 && p->ow == w && p->oh == p->h) {
        const int8_t *x0 = xg + pix0; /* output pixel pix0 + r reads x[ci][pix0 + r] */
        for (; r + 4 <= np; r += 4) {
            const int8_t *q = x0 + r;
            int8_t *d = col + (ptrdiff_t)r * K;
            for (ci = 0; ci < K; ++ci, q += hw) {
                d[ci] = q[0];
                d[K + ci] = q[1];
                d[2 * K + ci] = q[2];
                d[3 * K + ci] = q[3];
            }
        }
        for (; r < np; ++r) {
            const int8_t *q = x0 + r;
            int8_t *d = col + (ptrdiff_t)r * K;
            for (ci = 0; ci < K; ++ci) d[ci] = q[(ptrdiff_t)ci * hw];
        }
        return;
    }
    for (; r < np; ++r) {
        const int32_t oy = (pix0 + r) / p->ow, ox = (pix0 + r) % p->ow;
        const int32_t iy0 = oy * p->sh - p->pt, ix0 = ox * sw - p->pl;
        /* kernel rows [ky0, ky1) and columns [kx0, kx1) fall inside the input */
        const int32_t kx0 = ix0 >= 0 ? 0 : (-ix0 < kw ? -ix0 : kw);
        const int32_t kx1 = w - ix0 >= kw ? kw : (w - ix0 > kx0 ? w - ix0 : kx0);
        int32_t ky0 = 0, ky1 = kh;
        const int8_t *q = xg + (ptrdiff_t)iy0 * w + ix0; /* tap (0, 0, 0), maybe outside */
        int8_t *d = col + (ptrdiff_t)r * K;
        while (ky0 < ky1 && iy0 + ky0 * p->dh < 0) ++ky0;
        while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dh >= p->h) --ky1;
        if (kh == 3 && kw == 3 && ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {
            const int8_t *q1 = q + rs, *q2 = q1 + rs;
            for (ci = 0; ci < cin_g; ++ci, q += hw, q1 += hw, q2 += hw, d += 9) {
                d[0] = q[0];
                d[1] = q[1];
                d[2] = q[2];
                d[3] = q1[0];
                d[4] = q1[1];
                d[5] = q1[2];
                d[6] = q2[0];
                d[7] = q2[1];
                d[8] = q2[2];
            }
            continue;
        }
        for (ci = 0; ci < cin_g; ++ci, q += hw) {
            for (ky = 0; ky < kh; ++ky, d += kw) {
                const int8_t *qr = q + ky * rs;
                if (ky < ky0 || ky >= ky1) {
                    for (kx = 0; kx < kw; ++kx) d[kx] = zp;
                    continue;
                }
                for (kx = 0; kx < kx0; ++kx) d[kx] = zp;
                for (; kx < kx1; ++kx) d[kx] = qr[kx];
                for (; kx < kw; ++kx) d[kx] = zp;
            }
        }
    }
}

/* The requantization of group g (per-channel parameters offset to its first channel). */
static inline qc_requant_t qc_conv_group_rq(const qc_requant_t *rq, int32_t g, int32_t cout_g) {
    qc_requant_t rg = *rq;
    if (rq->per_channel) {
        rg.mult += g * cout_g;
        rg.shift += g * cout_g;
        if (rg.fscale) rg.fscale += g * cout_g;
    }
    return rg;
}

/* One group of one image the reference way: QC_CONV_S8_CHUNK pixels at a time through `im2col`
 * into col, then qc_gemm_s8 writes them to the cout/group output rows (sm = 1, sn = oh*ow). */
static inline void qc_conv_group_chunks(const int8_t *xg, const int8_t *wg, const int32_t *bg,
                                        const qc_conv_params_t *p, const qc_requant_t *rg, int8_t *yg,
                                        int8_t *col, qc_im2col_fn im2col) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t K = cin_g * p->kh * p->kw, pix = p->oh * p->ow, rows = qc_conv_s8_rows(p);
    int32_t pix0;
    for (pix0 = 0; pix0 < pix; pix0 += rows) {
        int32_t np = pix - pix0 < rows ? pix - pix0 : rows;
        im2col(xg, p, cin_g, pix0, np, col);
        qc_gemm_s8(col, wg, bg, np, cout_g, K, rg, yg + pix0, 1, pix);
    }
}

/* qc_conv_s8 over images and groups, each group through qc_conv_group_chunks. */
static inline void qc_conv_s8_groups(const int8_t *x, const int8_t *wt, const int32_t *bias,
                                     const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y,
                                     int8_t *col, qc_im2col_fn im2col) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t K = cin_g * p->kh * p->kw, pix = p->oh * p->ow;
    int32_t n, g;
    for (n = 0; n < p->n; ++n) {
        for (g = 0; g < p->group; ++g) {
            const qc_requant_t rg = qc_conv_group_rq(rq, g, cout_g);
            qc_conv_group_chunks(x + ((ptrdiff_t)n * p->cin + (ptrdiff_t)g * cin_g) * p->h * p->w,
                                 wt + (ptrdiff_t)g * cout_g * K, bias ? bias + g * cout_g : NULL, p, &rg,
                                 y + ((ptrdiff_t)n * p->cout + (ptrdiff_t)g * cout_g) * pix, col, im2col);
        }
    }
}

#endif /* QC_CONV_UTIL_H */
