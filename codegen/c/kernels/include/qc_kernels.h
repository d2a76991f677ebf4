/* qcompiler C kernel library: every kernel's declaration. One kernel per .c file
 * (kernels/reference/qc_<op>_<dtype>.c); target folders hold optimized files of the same name
 * that give bit-identical results. Shapes are row-major; scratch is caller-owned. */
#ifndef QC_KERNELS_H
#define QC_KERNELS_H

#include "qc_common.h"

/* ---- int8 ---------------------------------------------------------------------------- */

/* out[m*sm + n*sn] = requant(bias[n] + sum_k a[m*K+k] * w[n*K+k], n): the int8 GEMM core. */
void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M, int32_t N,
                int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn);

/* Conv2D, NCHW, groups and dilation; weights [Cout][Cin/g][kh][kw]; bias already holds
 * -x_zp * sum(w). `col` scratch: qc_conv_s8_scratch() bytes. */
typedef struct {
    int32_t n, cin, h, w, cout, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, group, x_zp;
} qc_conv_params_t;
int32_t qc_conv_s8_scratch(const qc_conv_params_t *p);
void qc_conv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                const qc_requant_t *rq, int8_t *y, int8_t *col);
/* Depthwise (group == cin, cout = cin * multiplier); bias is the plain bias. */
void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                  const qc_requant_t *rq, int8_t *y);
/* ConvTranspose2D, NCHW, groups; weights [Cin][Cout/g][kh][kw]; `acc` scratch holds
 * cout*oh*ow int32 (per batch). p->oh/ow are the output size, pt/pl the begin pads. */
void qc_convtranspose_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                         const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y, int32_t *acc);

/* Batched A[b][M][K] x B[b][K][N] with both operands activations; batch strides in elements
 * (0 broadcasts). Output [b][M][N]. */
void qc_matmul_s8(const int8_t *a, const int8_t *b, int32_t batch, int32_t M, int32_t K, int32_t N,
                  int32_t a_bstride, int32_t b_bstride, int32_t a_zp, int32_t b_zp,
                  const qc_requant_t *rq, int8_t *y);

/* y = requant((a - za) * ma ± (b - zb) * mb) with TFLite's 20-bit left shift; broadcast by
 * strides over `dims` (0 stride = broadcast). */
typedef struct {
    int32_t a_zp, b_zp, y_zp, left_shift;
    int32_t a_mult, a_shift, b_mult, b_shift, y_mult, y_shift;
    int32_t qmin, qmax;
} qc_add_params_t;
void qc_add_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_add_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs);
typedef struct {
    int32_t a_zp, b_zp, y_zp, mult, shift, qmin, qmax;
} qc_mul_params_t;
void qc_mul_s8(const int8_t *a, const int8_t *b, int8_t *y, const qc_mul_params_t *p, int32_t ndim,
               const int32_t *dims, const int32_t *as, const int32_t *bs);

/* y[i] = table[x[i] + 128]: any elementwise function of one quantized input. */
void qc_lut_s8(const int8_t *x, int8_t *y, int32_t n, const int8_t *table);

/* Requantize n values from (zi) to (zo, mult, shift); identity params copy. */
void qc_requant_s8(const int8_t *x, int8_t *y, int32_t n, int32_t zi, int32_t zo, int32_t mult,
                   int32_t shift, int32_t qmin, int32_t qmax);

/* Pooling over [n][c][h][w] -> [n][c][oh][ow]: tap (ky, kx) of output (oy, ox) reads
 * (oy*sh - pt + ky*dh, ox*sw - pl + kx*dw); ceil_mode is in oh/ow. pb/pr, the end pads, matter
 * only to average pooling with count_include_pad: taps inside [-pt, h + pb) x [-pl, w + pr) are
 * counted, taps past them (the extra window ceil_mode adds) are not, as onnxruntime does. */
typedef struct {
    int32_t n, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, count_include_pad, pb, pr;
} qc_pool_params_t;
/* Max pooling keeps the input's parameters; requant (mult=0: none) when the output differs. */
void qc_maxpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   int32_t mult, int32_t shift);
/* Average pooling: y = zo + round((sum - cnt*zi) * ratio / cnt), ratio = s_in / s_out. */
void qc_avgpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   float ratio);
/* Mean over `r` contiguous values for each of `outer` x `inner` positions (GlobalAveragePool,
 * ReduceMean over trailing-adjacent axes): layout [outer][r][inner]. */
void qc_mean_s8(const int8_t *x, int8_t *y, int32_t outer, int32_t r, int32_t inner, int32_t zi,
                int32_t zo, float ratio);

/* Softmax over `n` contiguous values for each of `rows` rows, in float. */
void qc_softmax_s8(const int8_t *x, int8_t *y, int32_t rows, int32_t n, float si, int32_t zi,
                   float so, int32_t zo);

/* Resize of the two last dims of [nc][h][w] with precomputed source indices and weights. */
void qc_resize_nearest_s8(const int8_t *x, int8_t *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                          int32_t ow, const int32_t *hi, const int32_t *wi, int32_t zi, int32_t zo,
                          int32_t mult, int32_t shift);
void qc_resize_linear_s8(const int8_t *x, int8_t *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                         int32_t ow, const int32_t *h0, const int32_t *h1, const float *hf,
                         const int32_t *w0, const int32_t *w1, const float *wf, float si,
                         int32_t zi, float so, int32_t zo);

void qc_quantize_f32_s8(const float *x, int8_t *y, int32_t n, float scale, int32_t zp, int32_t qmin,
                        int32_t qmax);
void qc_dequantize_s8_f32(const int8_t *x, float *y, int32_t n, float scale, int32_t zp);

/* ---- any element type ------------------------------------------------------------------ */

/* dst[dst_off + sum(i*dst_strides)] = src[src_off + sum(i*src_strides)] over `dims`, element
 * of `elem` bytes: Transpose, Slice, Split, Concat, Expand, Pad's interior. */
void qc_strided_copy(const void *src, int32_t src_off, const int32_t *src_strides, void *dst,
                     int32_t dst_off, const int32_t *dst_strides, int32_t ndim, const int32_t *dims,
                     int32_t elem);
/* The same walk with an int8 requantization (Concat of inputs with other parameters). */
void qc_strided_requant_s8(const int8_t *src, const int32_t *src_strides, int8_t *dst,
                           int32_t dst_off, const int32_t *dst_strides, int32_t ndim,
                           const int32_t *dims, int32_t zi, int32_t zo, int32_t mult, int32_t shift);
/* Fill `n` elements of `elem` bytes with one value. */
void qc_fill(void *dst, int32_t n, const void *value, int32_t elem);
/* dst[i] = src[idx[i % ni]] per outer/inner block: Gather with constant indices. */
void qc_gather(const void *src, void *dst, int32_t outer, int32_t axis_len, int32_t inner,
               const int32_t *idx, int32_t ni, int32_t elem);

/* ---- float32 ----------------------------------------------------------------------------- */
enum {
    QC_F_ADD = 0, QC_F_SUB, QC_F_MUL, QC_F_DIV, QC_F_POW, QC_F_MAX, QC_F_MIN, QC_F_PRELU
};
void qc_binary_f32(int32_t op, const float *a, const float *b, float *y, int32_t ndim,
                   const int32_t *dims, const int32_t *as, const int32_t *bs);
enum {
    QC_U_RELU = 0, QC_U_SIGMOID, QC_U_TANH, QC_U_EXP, QC_U_LOG, QC_U_SQRT, QC_U_NEG, QC_U_ABS,
    QC_U_ERF, QC_U_LEAKY_RELU, QC_U_HARD_SIGMOID, QC_U_HARD_SWISH, QC_U_CLIP, QC_U_GELU,
    QC_U_GELU_TANH, QC_U_MISH, QC_U_SILU, QC_U_RECIPROCAL, QC_U_SOFTPLUS, QC_U_FLOOR, QC_U_CEIL,
    QC_U_IDENTITY, QC_U_ELU, QC_U_SELU, QC_U_SIN, QC_U_COS, QC_U_ROUND, QC_U_SIGN
};
void qc_unary_f32(int32_t op, const float *x, float *y, int32_t n, float alpha, float beta);
/* Conv2D float, NCHW, groups, dilation; optional bias; fused activation (QC_ACT_*, plus
 * relu/clip through lo/hi). */
void qc_conv_f32(const float *x, const float *wt, const float *bias, const qc_conv_params_t *p,
                 float lo, float hi, int32_t act, float alpha, float beta, float *y);
void qc_convtranspose_f32(const float *x, const float *wt, const float *bias,
                          const qc_conv_params_t *p, float lo, float hi, int32_t act, float alpha,
                          float beta, float *y);
/* y[b][m][n] = sum_k A[b][m][k] B[b][k][n] (+ bias broadcast by strides), element strides for
 * A (am, ak), B (bk, bn) and batches. */
void qc_matmul_f32(const float *a, const float *b, float *y, int32_t batch, int32_t M, int32_t K,
                   int32_t N, int32_t a_bs, int32_t am, int32_t ak, int32_t b_bs, int32_t bk,
                   int32_t bn, float alpha, const float *c, int32_t cm, int32_t cn, float beta,
                   float lo, float hi, int32_t act, float aa, float ab);
void qc_maxpool_f32(const float *x, float *y, const qc_pool_params_t *p);
void qc_avgpool_f32(const float *x, float *y, const qc_pool_params_t *p);
void qc_softmax_f32(const float *x, float *y, int32_t rows, int32_t n, int32_t log);
enum { QC_R_MEAN = 0, QC_R_SUM, QC_R_MAX, QC_R_MIN, QC_R_PROD, QC_R_SUMSQ, QC_R_L2 };
void qc_reduce_f32(int32_t op, const float *x, float *y, int32_t outer, int32_t r, int32_t inner);
void qc_resize_nearest_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                           int32_t ow, const int32_t *hi, const int32_t *wi);
void qc_resize_linear_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                          int32_t ow, const int32_t *h0, const int32_t *h1, const float *hf,
                          const int32_t *w0, const int32_t *w1, const float *wf);
/* Normalize each of `rows` rows of `n` values; scale/bias [n] (NULL: none). */
void qc_layernorm_f32(const float *x, const float *scale, const float *bias, float *y,
                      int32_t rows, int32_t n, float eps);
/* Quantize-dequantize in float (a Q/DQ pair whose integer type has no int8 kernel). */
void qc_fakequant_f32(const float *x, float *y, int32_t n, float scale, int32_t zp, int32_t qmin,
                      int32_t qmax);

#endif /* QC_KERNELS_H */
