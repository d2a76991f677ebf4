/* qc_mul_s8: int8 Mul with broadcasting, reference version.
 * y = clamp(mulq((a - a_zp) * (b - b_zp), mult, shift) + y_zp, qmin, qmax); broadcasting as in
 * qc_add_s8 (`dims` the output shape, as/bs element strides, 0 broadcasts; y contiguous). The
 * walk and the scalar row are qc_binary_s8.h's, which the x86 version shares; when qc_mulhw
 * applies (the product is below 2^16 in magnitude) rows take the same arithmetic in that form,
 * which compilers vectorize. */
#include "qc_binary_s8.h"

typedef struct {
    const qc_mul_params_t *p;
    qc_mulhw_t q;
} qc_mul_hw_t;

static void qc_mul_row_hw(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                          int32_t n, const void *pv) {
    const qc_mul_hw_t *h = (const qc_mul_hw_t *)pv;
    const int32_t za = h->p->a_zp, zb = h->p->b_zp, zy = h->p->y_zp, lo = h->p->qmin, hi = h->p->qmax;
    const int32_t ng = h->q.neg, k = h->q.k, sh = h->q.sh, r = h->q.r;
    const int32_t m = h->q.m;
    int32_t i;
    if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1) && sa + sb == 1) { /* one input broadcast */
        const int8_t *v = sa ? a : b;
        const int32_t zv = sa ? za : zb, d = sa ? b[0] - zb : a[0] - za;
        const int16_t dd = (int16_t)d; /* |d| <= 255: int16 products, widening multiplies */
        for (i = 0; i < n; ++i) {
            const int32_t o = qc_mulhw((int16_t)(v[i] - zv) * dd, ng, k, m, sh, r) + zy;
            y[i] = (int8_t)(o < lo ? lo : (o > hi ? hi : o));
        }
        return;
    }
    if (sa != 1 || sb != 1) {
        for (i = 0; i < n; ++i) {
            const int32_t prod = (a[(ptrdiff_t)i * sa] - za) * (b[(ptrdiff_t)i * sb] - zb);
            const int32_t v = qc_mulhw(prod, ng, k, m, sh, r) + zy;
            y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
        }
        return;
    }
    for (i = 0; i < n; ++i) {
        const int32_t v = qc_mulhw((int16_t)(a[i] - za) * (int16_t)(b[i] - zb), ng, k, m, sh, r) + zy;
        y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}

static void qc_mul_row_v(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                         int32_t n, const void *p) {
    qc_mul_row_ref(a, sa, b, sb, y, n, (const qc_mul_params_t *)p);
}

void qc_mul_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_mul_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    qc_mul_hw_t h;
    h.p = p;
    if (qc_mulhw_init(&h.q, 0, p->mult, p->shift, 16)) { /* |(a - a_zp) * (b - b_zp)| <= 255^2 < 2^16 */
        qc_rows2(a, b, y, ndim, dims, as, bs, qc_mul_row_hw, &h);
        return;
    }
    qc_rows2(a, b, y, ndim, dims, as, bs, qc_mul_row_v, p);
}
