/* qc_softmax_s8: int8 Softmax over `n` contiguous values per row, in float, reference version.
 * v = (x - zi) * si; e = qc_expf(v - max v) (no libm: the same bits on every board); y = qc_quantize_one(e / sum e, so, zo, -128, 127).
 * Rows of up to QC_SOFTMAX_ROW values keep their exponentials on the stack (computed once, by
 * qc_sm_expf, a branch-free qc_expf that compilers vectorize) and
 * quantize with the rounding written out as qc_requant_row does (the same values, a loop
 * compilers vectorize); longer rows compute the exponentials twice (no scratch). */
#include "qc_kernels.h"

#define QC_SOFTMAX_ROW 256 /* floats on the stack: 1 KiB */

static inline float qc_sm_f(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* qc_expf(x), the same bits, without branches so that compilers vectorize it: x outside
 * [-104, 89] (and NaN) computes from 0 and selects qc_expf's special value at the end; rintf is
 * the (t + 1.5 * 2^23) - 1.5 * 2^23 round trip, the same rounding for |t| <= 2^22 (here
 * |t| < 151); the two rare rescalings multiply by a selected 2^-24 or 2 (else by 1, exact). */
static inline float qc_sm_expf(float x) {
    uint32_t ux, ax, pb;
    int32_t i, lo, hi, nan, big, small;
    float n, r, p, xs;
    memcpy(&ux, &x, sizeof ux);
    ax = ux & 0x7fffffffu;
    nan = -(int32_t)(ax > 0x7f800000u);
    big = -(int32_t)((int32_t)ux > 0x42b17218);                  /* x > 88.72283935546875f */
    small = -(int32_t)((ux >> 31) != 0 && ax > 0x42cff1b5u);     /* x < -103.97208404541015625f */
    xs = qc_sm_f(ux & ~(uint32_t)(nan | big | small));           /* x, or 0 */
    n = (xs * 1.44269502162933349609375f + 12582912.0f) - 12582912.0f;
    r = xs - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667163372039795f + r * (0.041666667908430099487f +
        r * (0.0083333337679505348206f + r * (0.0013888889225199818611f + r * 0.00019841270113829523325f))))));
    i = (int32_t)n;
    lo = -(int32_t)(i < -125);
    p = p * qc_sm_f(((uint32_t)lo & 0x33800000u) | (~(uint32_t)lo & 0x3f800000u)); /* 2^-24 or 1 */
    i += lo & 24;
    hi = -(int32_t)(i > 127);
    p = p * qc_sm_f(((uint32_t)hi & 0x40000000u) | (~(uint32_t)hi & 0x3f800000u)); /* 2 or 1 */
    i -= hi & 1;
    p = p * qc_sm_f((uint32_t)(i + 127) << 23);
    memcpy(&pb, &p, sizeof pb);
    pb = ((uint32_t)big & 0x7f800000u) | (~(uint32_t)(big | small) & pb); /* HUGE_VALF, 0 */
    pb = ((uint32_t)nan & ux) | (~(uint32_t)nan & pb);
    return qc_sm_f(pb);
}

void qc_softmax_s8(const int8_t *x, int8_t *y, int32_t rows, int32_t n, float si, int32_t zi,
                   float so, int32_t zo) {
    float e[QC_SOFTMAX_ROW];
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + (ptrdiff_t)r * n;
        int8_t *yr = y + (ptrdiff_t)r * n;
        int32_t mx = -128;
        float vmax, sum = 0.0f;
        for (i = 0; i < n; ++i)
            if (xr[i] > mx) mx = xr[i];
        vmax = (float)(mx - zi) * si;
        if (n <= QC_SOFTMAX_ROW) {
            /* qc_quantize_one(e / sum, so, zo, -128, 127) with rintf as (t + 1.5 * 2^23) - 1.5 * 2^23
             * after clamping t to [-129 - zo, 128 - zo] (NaN to the low end; rounding is monotonic) */
            const float tlo = -129.0f - (float)zo, thi = 128.0f - (float)zo, big = 12582912.0f, z = (float)zo;
            for (i = 0; i < n; ++i) e[i] = qc_sm_expf((float)(xr[i] - zi) * si - vmax);
            for (i = 0; i < n; ++i) sum += e[i]; /* in order: the same float sum */
            for (i = 0; i < n; ++i) {
                float t = e[i] / sum / so, q;
                t = !(t >= tlo) ? tlo : (t > thi ? thi : t);
                q = ((t + big) - big) + z;
                q = q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q);
                yr[i] = (int8_t)q;
            }
            continue;
        }
        for (i = 0; i < n; ++i) sum += qc_expf((float)(xr[i] - zi) * si - vmax);
        for (i = 0; i < n; ++i)
            yr[i] = qc_quantize_one(qc_expf((float)(xr[i] - zi) * si - vmax) / sum, so, zo, -128, 127);
    }
}
