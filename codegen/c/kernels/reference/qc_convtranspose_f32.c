/* qc_convtranspose_f32: float ConvTranspose2D (NCHW, groups, strides, dilation), reference.
 * weights [Cin][Cout/g][kh][kw]; y[co][oy][ox] = sum x[ci][iy][ix] * w[ci][co % cout_g][ky][kx]
 * over oy = iy*sh - pt + ky*dh inside [0, oh) (likewise x; p->oh/ow include output_padding),
 * then act(clamp(y + bias[co], lo, hi)); bias NULL means 0. The output is the accumulator. */
#include "qc_kernels.h"

/* First i >= 0 with i*s + off >= 0. */
static int32_t qc_first(int32_t off, int32_t s) {
    return off >= 0 ? 0 : (-off + s - 1) / s;
}

/* One past the last i < isize with i*s + off < size. */
static int32_t qc_end(int32_t off, int32_t s, int32_t size, int32_t isize) {
    int32_t lim = size - off, e;
    if (lim <= 0) return 0;
    e = (lim - 1) / s + 1;
    return e < isize ? e : isize;
}

void qc_convtranspose_f32(const float *x, const float *wt, const float *bias,
                          const qc_conv_params_t *p, float lo, float hi, int32_t act, float alpha,
                          float beta, float *y) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t hw = p->h * p->w, ohw = p->oh * p->ow;
    int32_t n, co, ci, cg, ky, kx, iy, ix, i;
    for (n = 0; n < p->n; ++n) {
        const float *xn = x + (ptrdiff_t)n * p->cin * hw;
        float *yn = y + (ptrdiff_t)n * p->cout * ohw;
        for (i = 0; i < p->cout * ohw; ++i) yn[i] = 0.0f;
        for (ci = 0; ci < p->cin; ++ci) {
            const float *xc = xn + (ptrdiff_t)ci * hw;
            const int32_t co0 = (ci / cin_g) * cout_g;
            for (cg = 0; cg < cout_g; ++cg) {
                const float *wc = wt + ((ptrdiff_t)ci * cout_g + cg) * p->kh * p->kw;
                float *yc = yn + (ptrdiff_t)(co0 + cg) * ohw;
                for (ky = 0; ky < p->kh; ++ky) {
                    const int32_t offy = ky * p->dh - p->pt;
                    const int32_t iy0 = qc_first(offy, p->sh), iy1 = qc_end(offy, p->sh, p->oh, p->h);
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int32_t offx = kx * p->dw - p->pl;
                        const int32_t ix0 = qc_first(offx, p->sw), ix1 = qc_end(offx, p->sw, p->ow, p->w);
                        const float wv = *wc++;
                        for (iy = iy0; iy < iy1; ++iy) {
                            const float *xr = xc + (ptrdiff_t)iy * p->w;
                            float *yr = yc + (ptrdiff_t)(iy * p->sh + offy) * p->ow;
                            for (ix = ix0; ix < ix1; ++ix) yr[ix * p->sw + offx] += xr[ix] * wv;
                        }
                    }
                }
            }
        }
        for (co = 0; co < p->cout; ++co) {
            const float b = bias ? bias[co] : 0.0f;
            float *yc = yn + (ptrdiff_t)co * ohw;
            for (i = 0; i < ohw; ++i) {
                float v = yc[i] + b;
                v = v < lo ? lo : (v > hi ? hi : v);
                yc[i] = qc_act_f32(v, act, alpha, beta);
            }
        }
    }
}
