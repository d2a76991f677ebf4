/* qc_add_s8: int8 Add/Sub with broadcasting (TFLite arithmetic), reference version.
 * a' = (a - a_zp) * 2^left_shift, b' likewise; s = mulq(a', a_mult, a_shift) +
 * mulq(b', b_mult, b_shift) (b_mult < 0 for Sub); y = clamp(mulq(s, y_mult, y_shift) + y_zp).
 * `dims` is the output shape (ndim <= QC_MAX_DIMS, 0 = one element), as/bs the element strides
 * of a and b per output dim (0 broadcasts); y is contiguous. The walk and the scalar row are
 * qc_binary_s8.h's, which the x86 version shares; when qc_mulhw applies to all three products
 * (|a - a_zp| <= 255, |s| < 2^30) rows take the same arithmetic in that form, which compilers
 * vectorize. */
#include "qc_binary_s8.h"

typedef struct {
    const qc_add_params_t *p;
    qc_mulhw_t a, b, y;
} qc_add_hw_t;

static void qc_add_row_hw(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                          int32_t n, const void *pv) {
    const qc_add_hw_t *h = (const qc_add_hw_t *)pv;
    const int32_t za = h->p->a_zp, zb = h->p->b_zp, zy = h->p->y_zp, lo = h->p->qmin, hi = h->p->qmax;
    const int32_t na = h->a.neg, ka = h->a.k, sha = h->a.sh, ra = h->a.r;
    const int32_t nb = h->b.neg, kb = h->b.k, shb = h->b.sh, rb = h->b.r;
    const int32_t ny = h->y.neg, ky = h->y.k, shy = h->y.sh, ry = h->y.r;
    const int32_t ma = h->a.m, mb = h->b.m, my = h->y.m;
    int32_t i;
    if (sa == 1 && sb == 0) { /* b broadcast: its term once */
        const int32_t tb = qc_mulhw(b[0] - zb, nb, kb, mb, shb, rb);
        for (i = 0; i < n; ++i) {
            const int32_t v = qc_mulhw(qc_mulhw(a[i] - za, na, ka, ma, sha, ra) + tb, ny, ky, my, shy, ry) + zy;
            y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
        }
        return;
    }
    if (sa == 0 && sb == 1) { /* a broadcast */
        const int32_t ta = qc_mulhw(a[0] - za, na, ka, ma, sha, ra);
        for (i = 0; i < n; ++i) {
            const int32_t v = qc_mulhw(ta + qc_mulhw(b[i] - zb, nb, kb, mb, shb, rb), ny, ky, my, shy, ry) + zy;
            y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
        }
        return;
    }
    if (sa != 1 || sb != 1) {
        for (i = 0; i < n; ++i) {
            const int32_t s = qc_mulhw(a[(ptrdiff_t)i * sa] - za, na, ka, ma, sha, ra) +
                              qc_mulhw(b[(ptrdiff_t)i * sb] - zb, nb, kb, mb, shb, rb);
            const int32_t v = qc_mulhw(s, ny, ky, my, shy, ry) + zy;
            y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
        }
        return;
    }
    for (i = 0; i < n; ++i) {
        const int32_t s = qc_mulhw(a[i] - za, na, ka, ma, sha, ra) + qc_mulhw(b[i] - zb, nb, kb, mb, shb, rb);
        const int32_t v = qc_mulhw(s, ny, ky, my, shy, ry) + zy;
        y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}

static void qc_add_row_v(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y,
                         int32_t n, const void *p) {
    qc_add_row_ref(a, sa, b, sb, y, n, (const qc_add_params_t *)p);
}

void qc_add_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_add_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs) {
    qc_add_hw_t h;
    h.p = p;
    /* |a - a_zp| < 2^8; then |mulq(a', ...)| < 2^29 each (qc_mulhw_init's bound), |s| < 2^30 */
    if (qc_mulhw_init(&h.a, p->left_shift, p->a_mult, p->a_shift, 8) &&
        qc_mulhw_init(&h.b, p->left_shift, p->b_mult, p->b_shift, 8) &&
        qc_mulhw_init(&h.y, 0, p->y_mult, p->y_shift, 30)) {
        qc_rows2(a, b, y, ndim, dims, as, bs, qc_add_row_hw, &h);
        return;
    }
    qc_rows2(a, b, y, ndim, dims, as, bs, qc_add_row_v, p);
}
