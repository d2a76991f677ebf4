/* qc_topk_f32: ONNX TopK over the middle axis of [outer][r][inner] (sorted output): the k
 * largest (largest != 0) or smallest values, ties in order of index (onnxruntime's order), and
 * their indices as floats (the runner's outputs are float32; NULL: not wanted). Each output is
 * [outer][k][inner]. Insertion into the running k best: r*k steps a column. NaN compares as
 * neither larger nor smaller. Not in place. */
#include "qc_kernels.h"

void qc_topk_f32(const float *x, float *vals, float *idx, int32_t outer, int32_t r, int32_t inner, int32_t k,
                 int32_t largest) {
    int32_t o, i, j, n, m;
    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * r * inner;
        float *vo = vals + (ptrdiff_t)o * k * inner;
        float *io = idx ? idx + (ptrdiff_t)o * k * inner : NULL;
        for (i = 0; i < inner; ++i) {
            n = 0; /* entries held so far, best first, in vo[m*inner + i] with their index in jo */
            for (j = 0; j < r; ++j) {
                const float v = xo[(ptrdiff_t)j * inner + i];
                m = n;
                while (m > 0) { /* find the place: after every held value at least as good */
                    const float h = vo[(ptrdiff_t)(m - 1) * inner + i];
                    if (largest ? !(v > h) : !(v < h)) break;
                    --m;
                }
                if (m >= k) continue;
                if (n < k) ++n;
                {
                    int32_t q;
                    for (q = n - 1; q > m; --q) {
                        vo[(ptrdiff_t)q * inner + i] = vo[(ptrdiff_t)(q - 1) * inner + i];
                        if (io) io[(ptrdiff_t)q * inner + i] = io[(ptrdiff_t)(q - 1) * inner + i];
                    }
                }
                vo[(ptrdiff_t)m * inner + i] = v;
                if (io) io[(ptrdiff_t)m * inner + i] = (float)j;
            }
        }
    }
}
