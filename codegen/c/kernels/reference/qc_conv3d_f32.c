/* uses: qc_conv_f32 */
/* qc_conv3d_f32: float Conv3D (NCDHW) through qc_conv_f32, slice by slice of the output depth
 * as qc_conv3d_s8 does (planes ci*kd + k; a depth outside the input is a plane of zeros), so
 * the sum runs over (ci, kd, kh, kw) in that order and the bias and activation apply once.
 * Scratch: cin*kd*h*w + cout*oh*ow floats (qc_conv3d_f32_scratch, in floats). */
#include "qc_kernels.h"

int32_t qc_conv3d_f32_scratch(const qc_conv3d_params_t *d, const qc_conv_params_t *p2) {
    (void)d;
    return p2->cin * p2->h * p2->w + p2->cout * p2->oh * p2->ow;
}

void qc_conv3d_f32(const float *x, const float *wt, const float *bias, const qc_conv3d_params_t *d,
                   const qc_conv_params_t *p2, float lo, float hi, int32_t act, float alpha, float beta,
                   float *y, float *scratch) {
    const int32_t plane = p2->h * p2->w, oplane = p2->oh * p2->ow, cin = p2->cin / d->kd;
    float *planes = scratch, *out = scratch + (ptrdiff_t)p2->cin * plane;
    int32_t n, o, ci, k, co, i;
    for (n = 0; n < d->n; ++n) {
        for (o = 0; o < d->od; ++o) {
            for (ci = 0; ci < cin; ++ci) {
                for (k = 0; k < d->kd; ++k) {
                    const int32_t id = o * d->sd + k * d->dd - d->pd;
                    float *dst = planes + (ptrdiff_t)(ci * d->kd + k) * plane;
                    if (id < 0 || id >= d->d)
                        for (i = 0; i < plane; ++i) dst[i] = 0.0f;
                    else
                        memcpy(dst, x + (((ptrdiff_t)n * cin + ci) * d->d + id) * plane, (size_t)plane * sizeof(float));
                }
            }
            qc_conv_f32(planes, wt, bias, p2, lo, hi, act, alpha, beta, out);
            for (co = 0; co < p2->cout; ++co)
                memcpy(y + (((ptrdiff_t)n * p2->cout + co) * d->od + o) * oplane, out + (ptrdiff_t)co * oplane,
                       (size_t)oplane * sizeof(float));
        }
    }
}
