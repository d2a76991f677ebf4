/* uses: qc_gemm_s8 */
/* qc_conv_s8: int8 Conv2D (NCHW, groups, strides, dilation, pads), reference version.
 * im2col into `col` (QC_CONV_S8_CHUNK output pixels at a time, K = cin/group*kh*kw int8 values
 * contiguous per pixel, padding taps read as x_zp since the bias holds -x_zp*sum(w)), then
 * qc_gemm_s8 per group writes the chunk's pixels of cout/group channels (sm = 1, sn = oh*ow). */
#include "qc_kernels.h"

int32_t qc_conv_s8_scratch(const qc_conv_params_t *p) {
    return qc_conv_s8_rows(p) * (p->cin / p->group) * p->kh * p->kw;
}

/* Rows [pix0, pix0 + np) of the im2col matrix of one group of one image, row r holding the K
 * taps of output pixel pix0 + r. Filled one tap (ci, ky, kx) at a time over a run of pixels of
 * one output row: the in-bounds pixels of a tap form one range, so the inner loops carry no
 * bounds checks (a strided copy and two fills with the zero point). */
static void qc_im2col_s8(const int8_t *xg, const qc_conv_params_t *p, int32_t cin_g, int32_t pix0,
                         int32_t np, int8_t *col) {
    const int32_t K = cin_g * p->kh * p->kw, sw = p->sw;
    const int8_t zp = (int8_t)p->x_zp;
    int32_t r = 0;
    while (r < np) {
        const int32_t oy = (pix0 + r) / p->ow, ox0 = (pix0 + r) % p->ow;
        const int32_t seg = p->ow - ox0 < np - r ? p->ow - ox0 : np - r;
        const int32_t iy0 = oy * p->sh - p->pt;
        int8_t *const cb = col + (ptrdiff_t)r * K;
        int32_t ci, ky, kx, s, k = 0;
        for (ci = 0; ci < cin_g; ++ci) {
            const int8_t *xc = xg + (ptrdiff_t)ci * p->h * p->w;
            for (ky = 0; ky < p->kh; ++ky) {
                const int32_t iy = iy0 + ky * p->dh;
                if (iy < 0 || iy >= p->h) {
                    for (kx = 0; kx < p->kw; ++kx, ++k) {
                        for (s = 0; s < seg; ++s) cb[(ptrdiff_t)s * K + k] = zp;
                    }
                    continue;
                }
                for (kx = 0; kx < p->kw; ++kx, ++k) {
                    const int32_t off = ox0 * sw - p->pl + kx * p->dw; /* input column of s = 0 */
                    int32_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                    int32_t hi = off > p->w - 1 ? 0 : (p->w - 1 - off) / sw + 1;
                    const int8_t *src = xc + (ptrdiff_t)iy * p->w + off;
                    int8_t *d = cb + k;
                    if (hi > seg) hi = seg;
                    if (lo > hi) lo = hi;
                    for (s = 0; s < lo; ++s) d[(ptrdiff_t)s * K] = zp;
                    if (sw == 1) {
                        for (; s < hi; ++s) d[(ptrdiff_t)s * K] = src[s];
                    } else {
                        for (; s < hi; ++s) d[(ptrdiff_t)s * K] = src[(ptrdiff_t)s * sw];
                    }
                    for (; s < seg; ++s) d[(ptrdiff_t)s * K] = zp;
                }
            }
        }
        r += seg;
    }
}

void qc_conv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                const qc_requant_t *rq, int8_t *y, int8_t *col) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t K = cin_g * p->kh * p->kw, pix = p->oh * p->ow, rows = qc_conv_s8_rows(p);
    int32_t n, g, pix0;
    for (n = 0; n < p->n; ++n) {
        for (g = 0; g < p->group; ++g) {
            const int8_t *xg = x + ((ptrdiff_t)n * p->cin + (ptrdiff_t)g * cin_g) * p->h * p->w;
            int8_t *yg = y + ((ptrdiff_t)n * p->cout + (ptrdiff_t)g * cout_g) * pix;
            qc_requant_t rg = *rq;
            if (rq->per_channel) {
                rg.mult += g * cout_g;
                rg.shift += g * cout_g;
                if (rg.fscale) rg.fscale += g * cout_g;
            }
            for (pix0 = 0; pix0 < pix; pix0 += rows) {
                int32_t np = pix - pix0 < rows ? pix - pix0 : rows;
                qc_im2col_s8(xg, p, cin_g, pix0, np, col);
                qc_gemm_s8(col, wt + (ptrdiff_t)g * cout_g * K, bias ? bias + g * cout_g : NULL, np,
                           cout_g, K, &rg, yg + pix0, 1, pix);
            }
        }
    }
}
