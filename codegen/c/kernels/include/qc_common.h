/* qcompiler C kernel library: shared types and inline helpers.
 *
 * Conventions (see specs/c-api.md):
 * - Quantized activations are int8 everywhere; a uint8 tensor of the ONNX model is stored as
 *   int8 with its zero point moved down by 128 (q_s8 = q_u8 - 128), which represents the same
 *   real values.
 * - Requantization is fixed point: y = zp_out + ((acc * mult + 2^(shift-1)) >> shift) with
 *   mult in [2^30, 2^31) and 1 <= shift <= 62, computed in 64 bits (rounds half up).
 * - Float epilogues (activations that are not a clamp) compute real = acc * scale in float,
 *   apply the activation and quantize with round-half-to-even, as onnxruntime does.
 * - Tensors are dense, row-major (ONNX layout, NCHW for images). No kernel allocates.
 */
#ifndef QC_COMMON_H
#define QC_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define QC_MAX_DIMS 6

#if defined(__GNUC__)
#define QC_ALIGNED(n) __attribute__((aligned(n)))
#define QC_UNUSED __attribute__((unused))
#else
#define QC_ALIGNED(n)
#define QC_UNUSED
#endif

/* Fused activations of an int8 kernel's epilogue. RELU and CLIP are folded into qmin/qmax and
 * keep the fixed-point path; the others compute in float. */
enum {
    QC_ACT_NONE = 0,
    QC_ACT_LEAKY_RELU = 1,
    QC_ACT_HARD_SIGMOID = 2,
    QC_ACT_HARD_SWISH = 3,
    QC_ACT_SIGMOID = 4,
    QC_ACT_TANH = 5,
    QC_ACT_SILU = 6,
    /* No activation, float epilogue: used when a multiplier is >= 1, where the fixed-point
     * product could leave the int32 range. */
    QC_ACT_LINEAR = 7
};

typedef struct {
    const int32_t *mult;  /* Q31 multipliers, one per channel or one */
    const int32_t *shift; /* right shifts, same length */
    int32_t per_channel;  /* 1: index mult/shift/fscale by output channel */
    int32_t out_zp;       /* output zero point (int8 domain) */
    int32_t qmin, qmax;   /* output clamp, fused ReLU/Clip included */
    int32_t act;          /* QC_ACT_NONE: fixed point; otherwise float epilogue */
    const float *fscale;  /* float epilogue: real = acc * fscale[c] */
    float alpha, beta;    /* activation parameters */
    float out_scale;      /* float epilogue: output scale */
} qc_requant_t;

static inline int32_t qc_clamp_i32(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* round(x * mult / 2^shift), half up, in 64-bit arithmetic. */
static inline int32_t qc_mulq(int32_t x, int32_t mult, int32_t shift) {
    int64_t p = (int64_t)x * (int64_t)mult + ((int64_t)1 << (shift - 1));
    return (int32_t)(p >> shift);
}

/* exp(x) without libm, so every board and C library gives the same bits (IEEE float arithmetic,
 * no contraction: build in ISO C mode or with -ffp-contract=off). x = n*ln2 + r, |r| <= ln2/2;
 * exp(r) by its Taylor polynomial to r^7 (relative error below 2e-7); 2^n through the exponent
 * bits, in two steps near the subnormal range. */
static inline float qc_expf(float x) {
    float n, r, p;
    int32_t i;
    union {
        float f;
        uint32_t u;
    } s;
    if (x != x) return x;
    if (x > 88.72283935546875f) return HUGE_VALF;
    if (x < -103.97208404541015625f) return 0.0f;
    n = rintf(x * 1.44269502162933349609375f);
    r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667163372039795f + r * (0.041666667908430099487f +
        r * (0.0083333337679505348206f + r * (0.0013888889225199818611f + r * 0.00019841270113829523325f))))));
    i = (int32_t)n;
    if (i < -125) {
        p *= 5.9604644775390625e-8f; /* 2^-24 */
        i += 24;
    }
    if (i > 127) {
        p *= 2.0f;
        i -= 1;
    }
    s.u = (uint32_t)(i + 127) << 23;
    return p * s.f;
}

/* log(x) without libm (as qc_expf, the same bits on every board): x = m * 2^e with m in
 * [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its series
 * to s^11 (relative error below 1e-10 before rounding). x <= 0, inf and NaN as logf. */
static inline float qc_logf(float x) {
    union {
        float f;
        uint32_t u;
    } v;
    int32_t e;
    float m, s, s2, p;
    if (x != x || x == HUGE_VALF) return x;
    if (x < 0.0f) return (x - x) / (x - x); /* NaN */
    if (x == 0.0f) return -HUGE_VALF;
    v.f = x;
    e = 0;
    if (v.u < 0x00800000u) { /* subnormal: scale by 2^24 first */
        v.f = x * 16777216.0f;
        e = -24;
    }
    e += (int32_t)(v.u >> 23) - 127;
    v.u = (v.u & 0x007fffffu) | 0x3f800000u; /* m in [1, 2) */
    m = v.f;
    if (m > 1.41421356237f) {
        m *= 0.5f;
        e += 1;
    }
    s = (m - 1.0f) / (m + 1.0f);
    s2 = s * s;
    p = s2 * (0.33333333333f + s2 * (0.2f + s2 * (0.14285714286f + s2 * (0.11111111111f + s2 * 0.09090909091f))));
    return (float)e * 0.693145751953125f + ((float)e * 1.428606765330187e-06f + (2.0f * s + 2.0f * s * p));
}

/* tanh(x) from qc_expf: (e^2x - 1) / (e^2x + 1); x itself below 2^-12, +-1 beyond 9.1. */
static inline float qc_tanhf(float x) {
    float a = x < 0.0f ? -x : x, e, t;
    if (a != a) return x;
    if (a < 2.44140625e-4f) return x;
    if (a > 9.1f) return x < 0.0f ? -1.0f : 1.0f;
    e = qc_expf(2.0f * a);
    t = (e - 1.0f) / (e + 1.0f);
    return x < 0.0f ? -t : t;
}

static inline float qc_act_f32(float x, int32_t act, float alpha, float beta) {
    switch (act) {
    case QC_ACT_LEAKY_RELU: return x >= 0.0f ? x : x * alpha;
    case QC_ACT_HARD_SIGMOID: {
        float y = alpha * x + beta;
        return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
    }
    case QC_ACT_HARD_SWISH: {
        float y = x / 6.0f + 0.5f;
        y = y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
        return x * y;
    }
    case QC_ACT_SIGMOID: return 1.0f / (1.0f + qc_expf(-x));
    case QC_ACT_TANH: return qc_tanhf(x);
    case QC_ACT_SILU: return x / (1.0f + qc_expf(-x));
    default: return x;
    }
}

/* Quantize a real value: round half to even (rintf in the default rounding mode), clamp. */
static inline int8_t qc_quantize_one(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax) {
    float q = rintf(x / scale) + (float)zp;
    if (!(q >= (float)qmin)) q = (float)qmin; /* also catches NaN */
    if (q > (float)qmax) q = (float)qmax;
    return (int8_t)q;
}

static inline int8_t qc_requant(int32_t acc, int32_t ch, const qc_requant_t *rq) {
    int32_t c = rq->per_channel ? ch : 0;
    if (rq->act == QC_ACT_NONE) {
        int32_t v = qc_mulq(acc, rq->mult[c], rq->shift[c]) + rq->out_zp;
        return (int8_t)qc_clamp_i32(v, rq->qmin, rq->qmax);
    }
    return qc_quantize_one(qc_act_f32((float)acc * rq->fscale[c], rq->act, rq->alpha, rq->beta),
                           rq->out_scale, rq->out_zp, rq->qmin, rq->qmax);
}

/* floor(a * m / 2^32) for 0 <= m < 2^31, from the unsigned 32x32 product (the signed high word,
 * minus m for negative a): no signed 64-bit products, which baseline SIMD lacks. */
static inline int32_t qc_mul_hi(int32_t a, int32_t m) {
    return (int32_t)(((uint64_t)(uint32_t)a * (uint32_t)m) >> 32) - (m & -(int32_t)(a < 0));
}

/* y = clamp(((qc_mul_hi(a, m) + r) >> sh) + zp, lo, hi): qc_requant's fixed-point epilogue for a
 * shift of sh + 32 >= 33 (r = 2^(sh-1)), see qc_requant_row */
static inline int8_t qc_requant_hi(int32_t a, int32_t m, int32_t sh, int32_t r, int32_t zp, int32_t lo,
                                   int32_t hi) {
    const int32_t v = ((qc_mul_hi(a, m) + r) >> sh) + zp;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* y[i * ys] = qc_requant(acc[i], ch, rq) for i < n: one channel's row of accumulators, in forms
 * compilers vectorize. For the fixed-point epilogue with shift >= 33 the rounding term
 * 2^(shift-1) is a multiple of 2^32, so (acc*mult + 2^(shift-1)) >> shift equals
 * (hi + 2^(shift-33)) >> (shift-32) with hi = qc_mul_hi(acc, mult) (mult >= 0). Float epilogues without exp
 * (linear, leaky ReLU, hard sigmoid, hard swish) are qc_requant's float arithmetic with the
 * rounding written out (below). Other shifts, negative multipliers and sigmoid/tanh/silu call
 * qc_requant per value. */
static inline void qc_requant_row(const int32_t *acc, int32_t n, int32_t ch, const qc_requant_t *rq,
                                  int8_t *y, ptrdiff_t ys) {
    const int32_t c = rq->per_channel ? ch : 0;
    int32_t i;
    if (rq->act == QC_ACT_NONE && rq->shift[c] >= 33 && rq->mult[c] >= 0) {
        const int32_t m = rq->mult[c], sh = rq->shift[c] - 32, r = (int32_t)1 << (sh - 1);
        const int32_t zp = rq->out_zp, lo = rq->qmin, hi = rq->qmax;
        if (ys == 1) { /* a unit stride of its own: the loop compilers vectorize */
            for (i = 0; i < n; ++i) y[i] = qc_requant_hi(acc[i], m, sh, r, zp, lo, hi);
        } else {
            for (i = 0; i < n; ++i) y[(ptrdiff_t)i * ys] = qc_requant_hi(acc[i], m, sh, r, zp, lo, hi);
        }
        return;
    }
    if (rq->act == QC_ACT_LINEAR || rq->act == QC_ACT_LEAKY_RELU || rq->act == QC_ACT_HARD_SIGMOID ||
        rq->act == QC_ACT_HARD_SWISH) {
        /* qc_quantize_one(qc_act_f32(acc * fscale)) with rintf as (t + 1.5 * 2^23) - 1.5 * 2^23 (the
         * same rounding for |t| <= 2^22) after clamping t = x / scale to [qmin - zp - 1, qmax - zp + 1]
         * (NaN to the low end): rounding is monotonic, so the clamped result is unchanged. */
        const float fs = rq->fscale[c], os = rq->out_scale, al = rq->alpha, be = rq->beta;
        const float zp = (float)rq->out_zp, qlo = (float)rq->qmin, qhi = (float)rq->qmax;
        const float tlo = qlo - zp - 1.0f, thi = qhi - zp + 1.0f, big = 12582912.0f;
        const int32_t act = rq->act;
        for (i = 0; i < n; ++i) {
            float x = (float)acc[i] * fs, t, q;
            if (act == QC_ACT_LEAKY_RELU) {
                x = x >= 0.0f ? x : x * al;
            } else if (act == QC_ACT_HARD_SIGMOID) {
                x = al * x + be;
                x = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
            } else if (act == QC_ACT_HARD_SWISH) {
                float h = x / 6.0f + 0.5f;
                h = h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
                x = x * h;
            }
            t = x / os;
            t = !(t >= tlo) ? tlo : (t > thi ? thi : t);
            q = ((t + big) - big) + zp;
            q = q < qlo ? qlo : (q > qhi ? qhi : q);
            y[(ptrdiff_t)i * ys] = (int8_t)q;
        }
        return;
    }
    for (i = 0; i < n; ++i) y[(ptrdiff_t)i * ys] = qc_requant(acc[i], ch, rq);
}

/* qc_mulq(d * 2^lift, m, s) as a high word, the form of qc_requant_row for elementwise rows:
 * with t = max(0, 33 - s), (d * 2^(lift+t) * m + 2^(s+t-1)) >> (s+t) is the same value, and
 * for m < 0 it equals qc_mulq(-d * 2^lift, -m, s). qc_mulhw_init fills q for |d| < 2^dbits and
 * returns 0 when the form does not apply (d * 2^(lift+t) could reach 2^31, m == INT32_MIN). */
typedef struct {
    int32_t neg;   /* -1: negate d (m < 0), else 0 */
    int32_t k;     /* lift + t: d is shifted left by k (in unsigned arithmetic) */
    int32_t m;     /* |m| */
    int32_t sh, r; /* s + t - 32 and 2^(sh - 1) */
} qc_mulhw_t;

static inline int qc_mulhw_init(qc_mulhw_t *q, int32_t lift, int32_t m, int32_t s, int32_t dbits) {
    const int32_t t = s < 33 ? 33 - s : 0;
    if (lift < 0 || dbits + lift + t > 31 || m == INT32_MIN || s < 1 || s > 62) return 0;
    q->neg = m < 0 ? -1 : 0;
    q->k = lift + t;
    q->m = m < 0 ? -m : m;
    q->sh = s + t - 32;
    q->r = (int32_t)1 << (q->sh - 1);
    return 1;
}

/* qc_mulq(d * 2^lift, m, s) from qc_mulhw_init's fields (passed apart so loops keep them in
 * registers) */
static inline int32_t qc_mulhw(int32_t d, int32_t neg, int32_t k, int32_t m, int32_t sh, int32_t r) {
    const int32_t e = (d ^ neg) - neg; /* d or -d; |e| * 2^k < 2^31 (qc_mulhw_init), so the shift keeps its sign */
    return (qc_mul_hi((int32_t)((uint32_t)e << k), m) + r) >> sh;
}

/* An N-d index walk over `dims` (row-major) keeping up to three strided offsets in step. */
typedef struct {
    int32_t ndim;
    int32_t dims[QC_MAX_DIMS];
    int32_t idx[QC_MAX_DIMS];
} qc_walk_t;

static inline void qc_walk_init(qc_walk_t *w, int32_t ndim, const int32_t *dims) {
    int32_t i;
    w->ndim = ndim;
    for (i = 0; i < ndim; ++i) {
        w->dims[i] = dims[i];
        w->idx[i] = 0;
    }
}

/* Advance every dimension but the last; update offsets o[k] += strides[k][d]. Returns 0 at
 * the end. `ns` offsets with their strides (ns <= 3). */
static inline int qc_walk_next(qc_walk_t *w, int32_t ns, int32_t *o, const int32_t *const *strides) {
    int32_t d, k;
    for (d = w->ndim - 2; d >= 0; --d) {
        if (++w->idx[d] < w->dims[d]) {
            for (k = 0; k < ns; ++k) o[k] += strides[k][d];
            return 1;
        }
        w->idx[d] = 0;
        for (k = 0; k < ns; ++k) o[k] -= strides[k][d] * (w->dims[d] - 1);
    }
    return 0;
}

#endif /* QC_COMMON_H */
