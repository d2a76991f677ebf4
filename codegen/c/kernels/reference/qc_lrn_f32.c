/* qc_lrn_f32: LRN across channels (ONNX semantics), NC[spatial] with `inner` = product of the
 * spatial dims: y = x * (bias + alpha / size * sum of x^2 over channels
 * [c - (size-1)/2, c + size/2] inside [0, C))^-beta. The common betas (0.75: AlexNet, GoogLeNet;
 * 0.5; 1) take square roots and a division, which IEEE rounds the same on every target, so the
 * host, AArch64 and Cortex-M give the same bits; others call powf (its last ulp is libm's). */
#include "qc_kernels.h"

static float qc_pow_neg(float s, float beta) {
    if (beta == 0.75f) {
        const float r = sqrtf(s);
        return 1.0f / (r * sqrtf(r));
    }
    if (beta == 0.5f) return 1.0f / sqrtf(s);
    if (beta == 1.0f) return 1.0f / s;
    return powf(s, -beta);
}

void qc_lrn_f32(const float *x, float *y, int32_t n, int32_t c, int32_t inner, int32_t size, float alpha,
                float beta, float bias) {
    const int32_t lo_off = (size - 1) / 2, hi_off = size - 1 - lo_off;
    const float a = alpha / (float)size;
    int32_t b, ch, k, i;
    for (b = 0; b < n; ++b) {
        const float *xb = x + (ptrdiff_t)b * c * inner;
        float *yb = y + (ptrdiff_t)b * c * inner;
        for (ch = 0; ch < c; ++ch) {
            const int32_t k0 = ch - lo_off < 0 ? 0 : ch - lo_off;
            const int32_t k1 = ch + hi_off > c - 1 ? c - 1 : ch + hi_off;
            for (i = 0; i < inner; ++i) {
                float sum = 0.0f;
                for (k = k0; k <= k1; ++k) {
                    const float v = xb[(ptrdiff_t)k * inner + i];
                    sum += v * v;
                }
                yb[(ptrdiff_t)ch * inner + i] = xb[(ptrdiff_t)ch * inner + i] * qc_pow_neg(bias + a * sum, beta);
            }
        }
    }
}
