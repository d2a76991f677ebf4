/* qc_gridsample_f32: ONNX GridSample (opsets 16 and 20) on x [n][c][h][w] with grid
 * [n][oh][ow][2] (x, y in [-1, 1]), y [n][c][oh][ow], in onnxruntime's arithmetic, operation for
 * operation: its denormalization, floor/rintf of the source position, padding of each tap (zeros,
 * border, reflection by its GsReflect) and, for linear sampling with zeros padding and
 * align_corners 0, its precomputed-weight form (w11*p11 + w12*p12 + w21*p21 + w22*p22; 0 when no
 * tap is inside), else dy2*(dx2*p11 + dx1*p12) + dy1*(dx2*p21 + dx1*p22); cubic: Keys with
 * a = -0.75 over 4x4 taps. Positions are clamped to +-2^22 pixels before they become integers
 * (onnxruntime's casts are undefined for huge values; zeros and border padding give the same
 * result for any position that far out, reflection folds the clamped one; a NaN position reads
 * as far left/up). Not in place. Reference version. */
#include "qc_kernels.h"

#define QC_GS_FAR 4194304.0f

/* floor(v) as an integer, v clamped to [-QC_GS_FAR, QC_GS_FAR] (NaN: -QC_GS_FAR). */
static int32_t qc_gs_floor(float v) {
    if (!(v > -QC_GS_FAR)) return -(int32_t)QC_GS_FAR;
    if (v > QC_GS_FAR) return (int32_t)QC_GS_FAR;
    return (int32_t)floorf(v);
}

/* onnxruntime's GsReflect: fold v into [lo, hi] by reflecting at the nearer border. */
static float qc_gs_reflect(float v, float lo, float hi) {
    const float range = hi - lo;
    float d, r;
    int32_t k;
    if (!(range > 0.0f)) return lo; /* one pixel (align_corners with a side of 1) */
    if (v < lo) {
        d = lo - v;
        k = (int32_t)(d / range);
        r = d - (float)k * range;
        return k % 2 == 0 ? lo + r : hi - r;
    }
    if (v > hi) {
        d = v - hi;
        k = (int32_t)(d / range);
        r = d - (float)k * range;
        return k % 2 == 0 ? hi - r : lo + r;
    }
    return v;
}

typedef struct {
    const float *img;
    int32_t h, w, padding;
    float lo_x, lo_y, hi_x, hi_y;
} qc_gs_plane_t;

static float qc_gs_pixel(const qc_gs_plane_t *p, int32_t r, int32_t c) {
    if (p->padding == QC_GS_BORDER) {
        c = c < 0 ? 0 : (c >= p->w ? p->w - 1 : c);
        r = r < 0 ? 0 : (r >= p->h ? p->h - 1 : r);
    } else if (p->padding == QC_GS_REFLECTION) {
        c = (int32_t)qc_gs_reflect((float)c, p->lo_x, p->hi_x);
        r = (int32_t)qc_gs_reflect((float)r, p->lo_y, p->hi_y);
    } else if (c < 0 || c >= p->w || r < 0 || r >= p->h) {
        return 0.0f;
    }
    return p->img[(ptrdiff_t)r * p->w + c];
}

static void qc_gs_cubic_coeffs(float t, float k[4]) {
    const float a = -0.75f;
    t = fabsf(t);
    k[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
    k[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    k[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
    k[3] = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a;
}

static float qc_gs_linear(const qc_gs_plane_t *p, float x, float y, int32_t planned) {
    const int32_t x1 = qc_gs_floor(x), y1 = qc_gs_floor(y), x2 = x1 + 1, y2 = y1 + 1;
    const float dx2 = (float)x2 - x, dx1 = x - (float)x1, dy2 = (float)y2 - y, dy1 = y - (float)y1;
    const float p11 = qc_gs_pixel(p, y1, x1), p12 = qc_gs_pixel(p, y1, x2);
    const float p21 = qc_gs_pixel(p, y2, x1), p22 = qc_gs_pixel(p, y2, x2);
    if (planned) {
        if (x2 < 0 || x1 >= p->w || y2 < 0 || y1 >= p->h) return 0.0f;
        return dy2 * dx2 * p11 + dy2 * dx1 * p12 + dy1 * dx2 * p21 + dy1 * dx1 * p22;
    }
    return dy2 * (dx2 * p11 + dx1 * p12) + dy1 * (dx2 * p21 + dx1 * p22);
}

static float qc_gs_cubic(const qc_gs_plane_t *p, float x, float y) {
    const int32_t x0 = qc_gs_floor(x) - 1, y0 = qc_gs_floor(y) - 1;
    float kx[4], ky[4], v[4];
    int32_t i;
    qc_gs_cubic_coeffs(x - (float)x0 - 1, kx);
    qc_gs_cubic_coeffs(y - (float)y0 - 1, ky);
    for (i = 0; i < 4; ++i)
        v[i] = kx[0] * qc_gs_pixel(p, y0 + i, x0) + kx[1] * qc_gs_pixel(p, y0 + i, x0 + 1) +
               kx[2] * qc_gs_pixel(p, y0 + i, x0 + 2) + kx[3] * qc_gs_pixel(p, y0 + i, x0 + 3);
    return ky[0] * v[0] + ky[1] * v[1] + ky[2] * v[2] + ky[3] * v[3];
}

void qc_gridsample_f32(const float *x, const float *grid, float *y, int32_t n, int32_t c, int32_t h, int32_t w,
                       int32_t oh, int32_t ow, int32_t mode, int32_t padding, int32_t align_corners) {
    const int32_t planned = mode == QC_GS_LINEAR && padding == QC_GS_ZEROS && !align_corners;
    qc_gs_plane_t p;
    int32_t b, ch, i;
    p.h = h;
    p.w = w;
    p.padding = padding;
    p.lo_x = align_corners ? 0.0f : -0.5f;
    p.lo_y = p.lo_x;
    p.hi_x = align_corners ? (float)w - 1.0f : (float)w - 0.5f;
    p.hi_y = align_corners ? (float)h - 1.0f : (float)h - 0.5f;
    for (b = 0; b < n; ++b) {
        const float *g = grid + (ptrdiff_t)b * oh * ow * 2;
        for (ch = 0; ch < c; ++ch) {
            float *yo = y + ((ptrdiff_t)b * c + ch) * oh * ow;
            p.img = x + ((ptrdiff_t)b * c + ch) * h * w;
            for (i = 0; i < oh * ow; ++i) {
                const float gx = g[2 * i], gy = g[2 * i + 1];
                const float sx = align_corners ? (gx + 1) / 2.0f * (float)(w - 1) : ((gx + 1) * (float)w - 1) / 2.0f;
                const float sy = align_corners ? (gy + 1) / 2.0f * (float)(h - 1) : ((gy + 1) * (float)h - 1) / 2.0f;
                if (mode == QC_GS_NEAREST)
                    yo[i] = qc_gs_pixel(&p, qc_gs_floor(rintf(sy)), qc_gs_floor(rintf(sx)));
                else if (mode == QC_GS_CUBIC)
                    yo[i] = qc_gs_cubic(&p, sx, sy);
                else
                    yo[i] = qc_gs_linear(&p, sx, sy, planned);
            }
        }
    }
}
