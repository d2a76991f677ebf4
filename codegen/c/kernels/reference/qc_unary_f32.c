/* qc_unary_f32: float elementwise functions of one input (ONNX semantics), reference version.
 * alpha/beta: LEAKY_RELU, THRESHOLDED_RELU and CELU alpha; HARD_SIGMOID max(0, min(1, alpha*x + beta)); CLIP
 * min(max(x, alpha), beta); ELU alpha; SELU alpha and gamma (= beta); SHRINK lambd (alpha) and
 * bias (beta); ISINF detects +inf if alpha != 0, -inf if beta != 0. GELU is the erf form,
 * GELU_TANH the tanh approximation, ROUND half to even, SOFTPLUS log(1 + e^x) computed stably.
 * SIGMOID, TANH, EXP, LOG and SILU use qc_expf/qc_tanhf/qc_logf (qc_common.h, no libm: the same
 * bits on every board); the others call libm. In place (x == y) is allowed. */
#include "qc_kernels.h"

static float qc_softplus(float x) {
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

static float qc_unary_one(int32_t op, float x, float alpha, float beta) {
    switch (op) {
    case QC_U_RELU: return x > 0.0f ? x : (x != x ? x : 0.0f);
    case QC_U_SIGMOID: return 1.0f / (1.0f + qc_expf(-x));
    case QC_U_TANH: return qc_tanhf(x);
    case QC_U_EXP: return qc_expf(x);
    case QC_U_LOG: return qc_logf(x);
    case QC_U_SQRT: return sqrtf(x);
    case QC_U_NEG: return -x;
    case QC_U_ABS: return fabsf(x);
    case QC_U_ERF: return erff(x);
    case QC_U_LEAKY_RELU: return x >= 0.0f ? x : alpha * x;
    case QC_U_HARD_SIGMOID: {
        float v = alpha * x + beta;
        return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
    case QC_U_HARD_SWISH: {
        float v = x / 6.0f + 0.5f;
        return x * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
    }
    case QC_U_CLIP: {
        float v = x < alpha ? alpha : x;
        return v > beta ? beta : v;
    }
    case QC_U_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case QC_U_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case QC_U_MISH: return x * tanhf(qc_softplus(x));
    case QC_U_SILU: return x / (1.0f + qc_expf(-x));
    case QC_U_RECIPROCAL: return 1.0f / x;
    case QC_U_SOFTPLUS: return qc_softplus(x);
    case QC_U_FLOOR: return floorf(x);
    case QC_U_CEIL: return ceilf(x);
    case QC_U_IDENTITY: return x;
    case QC_U_ELU: return x >= 0.0f ? x : alpha * expm1f(x);
    case QC_U_SELU: return x > 0.0f ? beta * x : beta * alpha * expm1f(x);
    case QC_U_SIN: return sinf(x);
    case QC_U_COS: return cosf(x);
    case QC_U_ROUND: return rintf(x);
    case QC_U_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case QC_U_NOT: return x == 0.0f ? 1.0f : 0.0f;
    case QC_U_TRUNC: return truncf(x);
    case QC_U_SOFTSIGN: return x / (1.0f + fabsf(x));
    case QC_U_THRESHOLDED_RELU: return x > alpha ? x : 0.0f;
    case QC_U_CELU: return x > 0.0f ? x : alpha * expm1f(x / alpha);
    case QC_U_TAN: return tanf(x);
    case QC_U_ASIN: return asinf(x);
    case QC_U_ACOS: return acosf(x);
    case QC_U_ATAN: return atanf(x);
    case QC_U_SINH: return sinhf(x);
    case QC_U_COSH: return coshf(x);
    case QC_U_ASINH: return asinhf(x);
    case QC_U_ACOSH: return acoshf(x);
    case QC_U_ATANH: return atanhf(x);
    case QC_U_SHRINK: return x < -alpha ? x + beta : (x > alpha ? x - beta : 0.0f);
    case QC_U_ISNAN: return x != x ? 1.0f : 0.0f;
    case QC_U_ISINF: return (alpha != 0.0f && x == HUGE_VALF) || (beta != 0.0f && x == -HUGE_VALF) ? 1.0f : 0.0f;
    default: return x;
    }
}

void qc_unary_f32(int32_t op, const float *x, float *y, int32_t n, float alpha, float beta) {
    int32_t i;
    for (i = 0; i < n; ++i) y[i] = qc_unary_one(op, x[i], alpha, beta);
}
