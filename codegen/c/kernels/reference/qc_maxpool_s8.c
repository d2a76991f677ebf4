/* qc_maxpool_s8: int8 MaxPool2D (NCHW, strides, dilation, pads), reference version.
 * Max over the in-bounds taps (padding never wins; ceil_mode is in the caller's oh/ow; a window
 * with no in-bounds tap gives -128); then, if mult != 0, y = clamp(mulq(max - zi, mult, shift)
 * + zo, -128, 127), else y = max.
 *
 * Computed one output row at a time in blocks of QC_MP_BLOCK outputs: the kernel rows inside the
 * input are found once per row, columns whose taps all lie inside (qc_interior) take the max of
 * each tap over the block in loops compilers vectorize, the others check every tap; the
 * requantization uses qc_mulhw where it applies (|max - zi| <= 255). */
#include "qc_kernels.h"
#include "qc_dwconv_util.h"

#define QC_MP_BLOCK 64

void qc_maxpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   int32_t mult, int32_t shift) {
    int8_t mb[QC_MP_BLOCK];
    qc_mulhw_t q;
    const int hw = mult != 0 && qc_mulhw_init(&q, 0, mult, shift, 8);
    int32_t lo, hi, nc, oy, o0, ox, ky, kx, i;
    qc_interior(p->w, p->ow, p->kw, p->sw, p->dw, p->pl, &lo, &hi);
    for (nc = 0; nc < p->n * p->c; ++nc) {
        const int8_t *xc = x + (ptrdiff_t)nc * p->h * p->w;
        int8_t *yc = y + (ptrdiff_t)nc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            const int32_t iy0 = oy * p->sh - p->pt;
            int32_t ky0 = 0, ky1 = p->kh;
            int8_t *yr = yc + (ptrdiff_t)oy * p->ow;
            while (ky0 < ky1 && iy0 + ky0 * p->dh < 0) ++ky0;
            while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dh >= p->h) --ky1;
            for (o0 = 0; o0 < p->ow; o0 += QC_MP_BLOCK) {
                const int32_t o1 = p->ow - o0 < QC_MP_BLOCK ? p->ow : o0 + QC_MP_BLOCK;
                const int32_t a = lo > o0 ? (lo < o1 ? lo : o1) : o0; /* interior [a, e) */
                const int32_t e = hi < o1 ? (hi > a ? hi : a) : o1;
                for (i = 0; i < o1 - o0; ++i) mb[i] = -128;
                for (ox = o0; ox < o1; ++ox) {
                    if (ox == a) ox = e; /* the interior below */
                    if (ox >= o1) break;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *r = xc + (ptrdiff_t)(iy0 + ky * p->dh) * p->w;
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = ox * p->sw - p->pl + kx * p->dw;
                            if (ix >= 0 && ix < p->w && r[ix] > mb[ox - o0]) mb[ox - o0] = r[ix];
                        }
                    }
                }
                for (ky = ky0; ky < ky1 && e > a; ++ky) {
                    const int8_t *r = xc + ((ptrdiff_t)(iy0 + ky * p->dh) * p->w + (ptrdiff_t)a * p->sw - p->pl);
                    int8_t *m = mb + (a - o0);
                    const int32_t n = e - a;
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int8_t *rk = r + (ptrdiff_t)kx * p->dw;
                        if (p->sw == 1) {
                            for (i = 0; i < n; ++i) m[i] = rk[i] > m[i] ? rk[i] : m[i];
                        } else if (p->sw == 2) {
                            for (i = 0; i < n; ++i) m[i] = rk[2 * i] > m[i] ? rk[2 * i] : m[i];
                        } else {
                            for (i = 0; i < n; ++i) m[i] = rk[(ptrdiff_t)i * p->sw] > m[i] ? rk[(ptrdiff_t)i * p->sw] : m[i];
                        }
                    }
                }
                if (mult == 0) {
                    memcpy(yr + o0, mb, (size_t)(o1 - o0));
                } else if (hw) {
                    for (i = 0; i < o1 - o0; ++i) {
                        const int32_t v = qc_mulhw(mb[i] - zi, q.neg, q.k, q.m, q.sh, q.r) + zo;
                        yr[o0 + i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
                    }
                } else {
                    for (i = 0; i < o1 - o0; ++i)
                        yr[o0 + i] = (int8_t)qc_clamp_i32(qc_mulq(mb[i] - zi, mult, shift) + zo, -128, 127);
                }
            }
        }
    }
}
