/* uses: qc_conv_s8 */
/* qc_conv3d_s8: int8 Conv3D (NCDHW, groups, strides, dilation, pads) through the target's
 * qc_conv_s8. Output depth slice od is a 2-D convolution over cin*kd planes: input depth
 * od*sd + k*dd - pd of channel ci is plane ci*kd + k (a depth outside the input is a plane of
 * x_zp, as the 2-D kernel's padding taps), which is the weight layout [cout][cin/g][kd][kh][kw]
 * read as [cout][cin/g*kd][kh][kw]; p2 is that 2-D convolution (n = 1, cin = cin*kd, the same
 * groups), so the bias holds -x_zp * sum(w) as for qc_conv_s8. Scratch: the gathered planes,
 * the slice's output and qc_conv_s8's scratch (qc_conv_s8_rows(p2) * K bytes, as every variant
 * sizes it), each from a 16-byte boundary (qc_conv3d_s8_scratch). */
#include "qc_kernels.h"

static int32_t qc_up16(int32_t n) {
    return (n + 15) & ~15;
}

int32_t qc_conv3d_s8_scratch(const qc_conv3d_params_t *d, const qc_conv_params_t *p2) {
    (void)d;
    return qc_up16(p2->cin * p2->h * p2->w) + qc_up16(p2->cout * p2->oh * p2->ow) + qc_conv_s8_rows(p2) * (p2->cin / p2->group) * p2->kh * p2->kw;
}

void qc_conv3d_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv3d_params_t *d,
                  const qc_conv_params_t *p2, const qc_requant_t *rq, int8_t *y, int8_t *scratch) {
    const int32_t plane = p2->h * p2->w, oplane = p2->oh * p2->ow, cin = p2->cin / d->kd;
    int8_t *planes = scratch, *out = scratch + qc_up16(p2->cin * plane);
    int8_t *col = out + qc_up16(p2->cout * oplane);
    int32_t n, o, ci, k, co;
    for (n = 0; n < d->n; ++n) {
        for (o = 0; o < d->od; ++o) {
            for (ci = 0; ci < cin; ++ci) {
                for (k = 0; k < d->kd; ++k) {
                    const int32_t id = o * d->sd + k * d->dd - d->pd;
                    int8_t *dst = planes + (ptrdiff_t)(ci * d->kd + k) * plane;
                    if (id < 0 || id >= d->d)
                        memset(dst, (int8_t)p2->x_zp, (size_t)plane);
                    else
                        memcpy(dst, x + (((ptrdiff_t)n * cin + ci) * d->d + id) * plane, (size_t)plane);
                }
            }
            qc_conv_s8(planes, wt, bias, p2, rq, out, col);
            for (co = 0; co < p2->cout; ++co)
                memcpy(y + (((ptrdiff_t)n * p2->cout + co) * d->od + o) * oplane, out + (ptrdiff_t)co * oplane,
                       (size_t)oplane);
        }
    }
}
