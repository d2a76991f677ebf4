/* qc_reduce_f32: float reduction over `r` values, layout [outer][r][inner] -> [outer][inner]:
 * MEAN SUM MAX MIN PROD SUMSQ L2 (sqrt of SUMSQ) L1 LOGSUMEXP, in float in order of r; MAX/MIN propagate
 * NaN; ARGMAX/ARGMIN write the first index of the extreme value as a float (the _LAST forms,
 * select_last_index, the last one). The output row is the accumulator. Reference version. */
#include "qc_kernels.h"

static void qc_argext_f32(int32_t op, const float *x, float *y, int32_t outer, int32_t r, int32_t inner) {
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * r * inner;
        float *yo = y + (ptrdiff_t)o * inner;
        for (i = 0; i < inner; ++i) {
            float best = xo[i];
            int32_t at = 0;
            for (j = 1; j < r; ++j) {
                const float v = xo[(ptrdiff_t)j * inner + i];
                if (op == QC_R_ARGMAX        ? v > best
                    : op == QC_R_ARGMIN      ? v < best
                    : op == QC_R_ARGMAX_LAST ? v >= best
                                             : v <= best) {
                    best = v;
                    at = j;
                }
            }
            yo[i] = (float)at;
        }
    }
}

/* log(sum e^x) as max + log(sum e^(x - max)) (onnxruntime's form; no overflow) */
static void qc_logsumexp_f32(const float *x, float *y, int32_t outer, int32_t r, int32_t inner) {
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * r * inner;
        float *yo = y + (ptrdiff_t)o * inner;
        for (i = 0; i < inner; ++i) {
            float mx = -HUGE_VALF, sum = 0.0f;
            for (j = 0; j < r; ++j)
                if (xo[(ptrdiff_t)j * inner + i] > mx) mx = xo[(ptrdiff_t)j * inner + i];
            if (mx == HUGE_VALF || mx == -HUGE_VALF) {
                yo[i] = mx;
                continue;
            }
            for (j = 0; j < r; ++j) sum += qc_expf(xo[(ptrdiff_t)j * inner + i] - mx);
            yo[i] = mx + qc_logf(sum);
        }
    }
}

void qc_reduce_f32(int32_t op, const float *x, float *y, int32_t outer, int32_t r, int32_t inner) {
    int32_t o, j, i;
    if (op == QC_R_ARGMAX || op == QC_R_ARGMIN || op == QC_R_ARGMAX_LAST || op == QC_R_ARGMIN_LAST) {
        qc_argext_f32(op, x, y, outer, r, inner);
        return;
    }
    if (op == QC_R_LOGSUMEXP) {
        qc_logsumexp_f32(x, y, outer, r, inner);
        return;
    }
    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * r * inner;
        float *yo = y + (ptrdiff_t)o * inner;
        const float init = op == QC_R_MAX ? -HUGE_VALF : op == QC_R_MIN ? HUGE_VALF
                                                         : op == QC_R_PROD ? 1.0f : 0.0f;
        for (i = 0; i < inner; ++i) yo[i] = init;
        for (j = 0; j < r; ++j) {
            const float *xr = xo + (ptrdiff_t)j * inner;
            switch (op) {
            case QC_R_MAX:
                for (i = 0; i < inner; ++i)
                    if (xr[i] > yo[i] || xr[i] != xr[i]) yo[i] = xr[i];
                break;
            case QC_R_MIN:
                for (i = 0; i < inner; ++i)
                    if (xr[i] < yo[i] || xr[i] != xr[i]) yo[i] = xr[i];
                break;
            case QC_R_PROD:
                for (i = 0; i < inner; ++i) yo[i] *= xr[i];
                break;
            case QC_R_L1:
                for (i = 0; i < inner; ++i) yo[i] += fabsf(xr[i]);
                break;
            case QC_R_SUMSQ:
            case QC_R_L2:
                for (i = 0; i < inner; ++i) yo[i] += xr[i] * xr[i];
                break;
            default: /* QC_R_MEAN, QC_R_SUM */
                for (i = 0; i < inner; ++i) yo[i] += xr[i];
                break;
            }
        }
        if (op == QC_R_MEAN)
            for (i = 0; i < inner; ++i) yo[i] /= (float)r;
        else if (op == QC_R_L2)
            for (i = 0; i < inner; ++i) yo[i] = sqrtf(yo[i]);
    }
}
