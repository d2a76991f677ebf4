/* qc_scatter_f32: ScatterND and ScatterElements with constant indices. y starts as a copy of
 * `data` (`size` floats; skipped when y == data, in place), then update row i (`inner`
 * contiguous values of upd) is combined into y at element offset idx[i], rows in order (a
 * repeated offset: the last row wins with QC_SC_NONE, as onnxruntime). Reductions as onnxruntime:
 * MAX y = y < u ? u : y, MIN y = u < y ? u : y. Reference version. */
#include "qc_kernels.h"

void qc_scatter_f32(const float *data, const float *upd, float *y, int32_t size, const int32_t *idx,
                    int32_t rows, int32_t inner, int32_t reduction) {
    int32_t i, j;
    if (y != data) memcpy(y, data, (size_t)size * sizeof(float));
    for (i = 0; i < rows; ++i) {
        float *d = y + idx[i];
        const float *u = upd + (ptrdiff_t)i * inner;
        switch (reduction) {
        case QC_SC_ADD:
            for (j = 0; j < inner; ++j) d[j] += u[j];
            break;
        case QC_SC_MUL:
            for (j = 0; j < inner; ++j) d[j] *= u[j];
            break;
        case QC_SC_MAX:
            for (j = 0; j < inner; ++j) d[j] = d[j] < u[j] ? u[j] : d[j];
            break;
        case QC_SC_MIN:
            for (j = 0; j < inner; ++j) d[j] = u[j] < d[j] ? u[j] : d[j];
            break;
        default:
            memcpy(d, u, (size_t)inner * sizeof(float));
            break;
        }
    }
}
