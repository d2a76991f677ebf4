/* uses: qc_gemm_s8 */
/* qc_conv_s8: int8 Conv2D (NCHW, groups, strides, dilation, pads), reference version.
 * im2col into `col` (QC_CONV_S8_CHUNK output pixels at a time, K = cin/group*kh*kw int8 values
 * contiguous per pixel, padding taps read as x_zp since the bias holds -x_zp*sum(w); written a
 * pixel at a time by qc_im2col_rows_px, a 1x1 stride-1 conv straight from the planes), then
 * qc_gemm_s8 per group writes the chunk's pixels of cout/group channels (sm = 1, sn = oh*ow). */
#include "qc_kernels.h"
#include "qc_conv_util.h"

int32_t qc_conv_s8_scratch(const qc_conv_params_t *p) {
    return qc_conv_s8_rows(p) * (p->cin / p->group) * p->kh * p->kw;
}

void qc_conv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                const qc_requant_t *rq, int8_t *y, int8_t *col) {
    qc_conv_s8_groups(x, wt, bias, p, rq, y, col, qc_im2col_rows_px); /* qc_conv_util.h */
}
