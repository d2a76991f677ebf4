/* uses: qc_convtranspose_f32 */
/* qc_convtranspose3d_f32: float ConvTranspose over NCDHW through qc_convtranspose_f32. Output
 * depth slice od sums, over the kernel depths kd whose input slice id = (od + pd - kd * dd) / sd
 * is whole and inside [0, d), the 2-D transposed convolution of input slice id (its cin planes
 * gathered into the scratch) with the weights of kd; then bias, clamp and activation.
 * wt is [kd][cin][cout/g][kh][kw] (the ONNX weights with the kernel depth moved first); p is the
 * 2-D geometry of one slice (n = 1). Scratch: cin*h*w + 2*cout*oh*ow floats. Reference version. */
#include "qc_kernels.h"

void qc_convtranspose3d_f32(const float *x, const float *wt, const float *bias, const qc_conv3d_params_t *d,
                            const qc_conv_params_t *p, float lo, float hi, int32_t act, float alpha, float beta,
                            float *y, float *scratch) {
    const ptrdiff_t hw = (ptrdiff_t)p->h * p->w, ohw = (ptrdiff_t)p->oh * p->ow;
    const ptrdiff_t wslice = (ptrdiff_t)p->cin * (p->cout / p->group) * p->kh * p->kw;
    float *xs = scratch, *acc = xs + p->cin * hw, *part = acc + p->cout * ohw;
    int32_t n, od, kd, ci, co;
    ptrdiff_t i;
    for (n = 0; n < d->n; ++n) {
        for (od = 0; od < d->od; ++od) {
            for (i = 0; i < p->cout * ohw; ++i) acc[i] = 0.0f;
            for (kd = 0; kd < d->kd; ++kd) {
                const int32_t num = od + d->pd - kd * d->dd, id = num / d->sd;
                if (num < 0 || num % d->sd != 0 || id >= d->d) continue;
                for (ci = 0; ci < p->cin; ++ci) {
                    const float *src = x + (((ptrdiff_t)n * p->cin + ci) * d->d + id) * hw;
                    for (i = 0; i < hw; ++i) xs[ci * hw + i] = src[i];
                }
                qc_convtranspose_f32(xs, wt + kd * wslice, NULL, p, -HUGE_VALF, HUGE_VALF, 0, 0.0f, 0.0f, part);
                for (i = 0; i < p->cout * ohw; ++i) acc[i] += part[i];
            }
            for (co = 0; co < p->cout; ++co) {
                const float b = bias ? bias[co] : 0.0f;
                float *yc = y + (((ptrdiff_t)n * p->cout + co) * d->od + od) * ohw;
                for (i = 0; i < ohw; ++i) {
                    float v = acc[co * ohw + i] + b;
                    v = v < lo ? lo : (v > hi ? hi : v);
                    yc[i] = qc_act_f32(v, act, alpha, beta);
                }
            }
        }
    }
}
