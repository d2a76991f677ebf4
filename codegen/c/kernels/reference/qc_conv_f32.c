/* qc_conv_f32: float Conv2D (NCHW, groups, strides, dilation, pads), reference version.
 * y = act(clamp(sum + bias[co], lo, hi)) with the sum over (ci, ky, kx) in that order, in float,
 * over in-bounds taps; bias NULL means 0; act is QC_ACT_* with alpha/beta. The output plane is
 * the accumulator: one weight times a shifted input window is added per (ci, ky, kx). */
#include "qc_kernels.h"

/* First o >= 0 with o*s + off >= 0. */
static int32_t qc_first(int32_t off, int32_t s) {
    return off >= 0 ? 0 : (-off + s - 1) / s;
}

/* One past the last o < osize with o*s + off < size. */
static int32_t qc_end(int32_t off, int32_t s, int32_t size, int32_t osize) {
    int32_t lim = size - off, e;
    if (lim <= 0) return 0;
    e = (lim - 1) / s + 1;
    return e < osize ? e : osize;
}

void qc_conv_f32(const float *x, const float *wt, const float *bias, const qc_conv_params_t *p,
                 float lo, float hi, int32_t act, float alpha, float beta, float *y) {
    const int32_t cin_g = p->cin / p->group, cout_g = p->cout / p->group;
    const int32_t hw = p->h * p->w, ohw = p->oh * p->ow;
    int32_t n, co, ci, ky, kx, oy, ox, i;
    for (n = 0; n < p->n; ++n) {
        for (co = 0; co < p->cout; ++co) {
            const float *xg = x + ((ptrdiff_t)n * p->cin + (ptrdiff_t)(co / cout_g) * cin_g) * hw;
            const float *wc = wt + (ptrdiff_t)co * cin_g * p->kh * p->kw;
            float *yc = y + ((ptrdiff_t)n * p->cout + co) * ohw;
            const float b = bias ? bias[co] : 0.0f;
            for (i = 0; i < ohw; ++i) yc[i] = 0.0f;
            for (ci = 0; ci < cin_g; ++ci) {
                const float *xc = xg + (ptrdiff_t)ci * hw;
                for (ky = 0; ky < p->kh; ++ky) {
                    const int32_t offy = ky * p->dh - p->pt;
                    const int32_t oy0 = qc_first(offy, p->sh), oy1 = qc_end(offy, p->sh, p->h, p->oh);
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int32_t offx = kx * p->dw - p->pl;
                        const int32_t ox0 = qc_first(offx, p->sw), ox1 = qc_end(offx, p->sw, p->w, p->ow);
                        const float wv = *wc++;
                        for (oy = oy0; oy < oy1; ++oy) {
                            const float *xr = xc + (ptrdiff_t)(oy * p->sh + offy) * p->w;
                            float *yr = yc + (ptrdiff_t)oy * p->ow;
                            for (ox = ox0; ox < ox1; ++ox) yr[ox] += wv * xr[ox * p->sw + offx];
                        }
                    }
                }
            }
            for (i = 0; i < ohw; ++i) {
                float v = yc[i] + b;
                v = v < lo ? lo : (v > hi ? hi : v);
                yc[i] = qc_act_f32(v, act, alpha, beta);
            }
        }
    }
}
