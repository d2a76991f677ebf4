/* qcompiler C kernel library: every kernel's declaration. One kernel per .c file
 * (kernels/reference/qc_<op>_<dtype>.c); target folders hold optimized files of the same name
 * that give bit-identical results. Shapes are row-major; scratch is caller-owned. A file that
 * calls kernels of other files names them on its first line: "uses: qc_gemm_s8" in a comment. */
#ifndef QC_KERNELS_H
#define QC_KERNELS_H

#include "qc_common.h"

/* ---- int8 ---------------------------------------------------------------------------- */

/* out[m*sm + n*sn] = requant(bias[n] + sum_k a[m*K+k] * w[n*K+k], n): the int8 GEMM core.
 * int32 accumulation; bias NULL means 0. */
void qc_gemm_s8(const int8_t *a, const int8_t *w, const int32_t *bias, int32_t M, int32_t N,
                int32_t K, const qc_requant_t *rq, int8_t *out, int32_t sm, int32_t sn);

/* Conv2D, NCHW, groups and dilation; weights [Cout][Cin/g][kh][kw]; bias (NULL: 0) already
 * holds -x_zp * sum(w), so padding taps read as x_zp. `col` scratch: qc_conv_s8_scratch() bytes
 * (the reference: min(64, oh*ow) * (cin/group)*kh*kw, an im2col block of output pixels). */
typedef struct {
    int32_t n, cin, h, w, cout, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, group, x_zp;
} qc_conv_params_t;
int32_t qc_conv_s8_scratch(const qc_conv_params_t *p);
/* im2col rows per chunk: QC_CONV_S8_CHUNK output pixels (fewer for small outputs). Every variant
 * of qc_conv_s8 sizes its scratch as qc_conv_s8_rows(p) * K bytes; the lowering mirrors it
 * (CONV_CHUNK in codegen/c/int8_rules.py). */
#define QC_CONV_S8_CHUNK 64
static inline int32_t qc_conv_s8_rows(const qc_conv_params_t *p) {
    int32_t pix = p->oh * p->ow;
    return pix < QC_CONV_S8_CHUNK ? (pix > 0 ? pix : 1) : QC_CONV_S8_CHUNK;
}
void qc_conv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                const qc_requant_t *rq, int8_t *y, int8_t *col);
/* Conv3D, NCDHW, through qc_conv_s8 one output depth slice at a time: p2 is the 2-D
 * convolution of a slice over cin*kd planes (n = 1, weights [cout][cin/g*kd][kh][kw], bias with
 * -x_zp * sum(w)), d the depth geometry. Scratch: qc_conv3d_s8_scratch() bytes. */
typedef struct {
    int32_t n, d, od, kd, sd, dd, pd;
} qc_conv3d_params_t;
int32_t qc_conv3d_s8_scratch(const qc_conv3d_params_t *d, const qc_conv_params_t *p2);
void qc_conv3d_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv3d_params_t *d,
                  const qc_conv_params_t *p2, const qc_requant_t *rq, int8_t *y, int8_t *scratch);
/* Depthwise (group == cin, cout = cin * multiplier; output channel c reads input channel
 * c / multiplier); bias is the plain bias (NULL: 0): acc = bias + sum over in-bounds taps of
 * (x - x_zp) * w, padding contributes 0. */
void qc_dwconv_s8(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                  const qc_requant_t *rq, int8_t *y);
/* ConvTranspose2D, NCHW, groups, dilation; weights [Cin][Cout/g][kh][kw]; `acc` scratch holds
 * cout*oh*ow int32 (per batch). p->oh/ow are the output size (output_padding included), pt/pl
 * the begin pads: x[iy][ix] feeds oy = iy*sh - pt + ky*dh. acc = bias (NULL: 0) +
 * sum (x - x_zp) * w; requant per output channel. */
void qc_convtranspose_s8(const int8_t *x, const int8_t *wt, const int32_t *bias,
                         const qc_conv_params_t *p, const qc_requant_t *rq, int8_t *y, int32_t *acc);

/* Batched A[b][M][K] x B[b][K][N] with both operands activations; batch strides in elements
 * (0 broadcasts). Output [b][M][N] = requant(sum_k (a - a_zp) * (b - b_zp), 0): rq per tensor. */
void qc_matmul_s8(const int8_t *a, const int8_t *b, int32_t batch, int32_t M, int32_t K, int32_t N,
                  int32_t a_bstride, int32_t b_bstride, int32_t a_zp, int32_t b_zp,
                  const qc_requant_t *rq, int8_t *y);

/* TFLite's Add: a' = (a - a_zp) * 2^left_shift, b' likewise;
 * s = mulq(a', a_mult, a_shift) + mulq(b', b_mult, b_shift) (b_mult < 0 for Sub);
 * y = clamp(mulq(s, y_mult, y_shift) + y_zp, qmin, qmax). `dims` is the output shape
 * (ndim <= QC_MAX_DIMS; 0 = one element), as/bs the element strides of a and b per output dim
 * (0 = broadcast); y is contiguous. qc_mul_s8 broadcasts the same way with
 * y = clamp(mulq((a - a_zp) * (b - b_zp), mult, shift) + y_zp, qmin, qmax). */
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

/* y = clamp(mulq(x - zi, mult, shift) + zo, qmin, qmax); mult == 0 copies (memmove). In place
 * (x == y) is allowed. */
void qc_requant_s8(const int8_t *x, int8_t *y, int32_t n, int32_t zi, int32_t zo, int32_t mult,
                   int32_t shift, int32_t qmin, int32_t qmax);

/* Pooling over [n][c][h][w] -> [n][c][oh][ow]: tap (ky, kx) of output (oy, ox) reads
 * (oy*sh - pt + ky*dh, ox*sw - pl + kx*dw); ceil_mode is in oh/ow. pb/pr, the end pads, matter
 * only to average pooling with count_include_pad: taps inside [-pt, h + pb) x [-pl, w + pr) are
 * counted, taps past them (the extra window ceil_mode adds) are not, as onnxruntime does. */
typedef struct {
    int32_t n, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, count_include_pad, pb, pr;
} qc_pool_params_t;
/* Max pooling keeps the input's parameters; requant (mult=0: none) when the output differs:
 * y = clamp(mulq(max - zi, mult, shift) + zo, -128, 127). Padding never wins. */
void qc_maxpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   int32_t mult, int32_t shift);
/* Average pooling: y = clamp(rintf((float)(sum - cnt*zi) * ratio / (float)cnt) + zo, -128, 127),
 * ratio = s_in / s_out, sum over in-bounds taps, cnt as qc_pool_params_t says. */
void qc_avgpool_s8(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                   float ratio);
/* Mean over `r` values for each of `outer` x `inner` positions (GlobalAveragePool, ReduceMean
 * over adjacent axes): layout [outer][r][inner]; rounding as qc_avgpool_s8 with cnt = r. */
void qc_mean_s8(const int8_t *x, int8_t *y, int32_t outer, int32_t r, int32_t inner, int32_t zi,
                int32_t zo, float ratio);

/* Softmax over `n` contiguous values for each of `rows` rows, in float: v = (x - zi) * si,
 * y = qc_quantize_one(qc_expf(v - max v) / sum, so, zo, -128, 127). */
void qc_softmax_s8(const int8_t *x, int8_t *y, int32_t rows, int32_t n, float si, int32_t zi,
                   float so, int32_t zo);

/* Resize of the two last dims of [nc][h][w] with precomputed source indices and weights.
 * Nearest: y[c][oy][ox] = x[c][hi[oy]][wi[ox]], requantized as qc_requant_s8 (mult 0: copy).
 * Linear: rows h0/h1, columns w0/w1, hf/wf the weights of the second (h1/w1) neighbour, on
 * dequantized values (x - zi) * si: v = (1-hf)*((1-wf)*x00 + wf*x01) + hf*((1-wf)*x10 + wf*x11),
 * y = qc_quantize_one(v, so, zo, -128, 127). The float versions compute the same. */
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
 * of `elem` bytes: Transpose, Slice, Split, Concat, Expand, Pad's interior. Offsets and strides
 * in elements (negative allowed); ndim <= QC_MAX_DIMS (0 = one element). */
void qc_strided_copy(const void *src, int32_t src_off, const int32_t *src_strides, void *dst,
                     int32_t dst_off, const int32_t *dst_strides, int32_t ndim, const int32_t *dims,
                     int32_t elem);
/* The same walk (source offset 0) with y = clamp(mulq(x - zi, mult, shift) + zo, -128, 127);
 * mult == 0 copies (Concat of inputs with other parameters). */
void qc_strided_requant_s8(const int8_t *src, const int32_t *src_strides, int8_t *dst,
                           int32_t dst_off, const int32_t *dst_strides, int32_t ndim,
                           const int32_t *dims, int32_t zi, int32_t zo, int32_t mult, int32_t shift);
/* Fill `n` elements of `elem` bytes with one value. */
void qc_fill(void *dst, int32_t n, const void *value, int32_t elem);
/* Gather with constant indices: dst[o][i][j] = src[o][idx[i]][j], src [outer][axis_len][inner],
 * dst [outer][ni][inner], idx already in [0, axis_len). */
void qc_gather(const void *src, void *dst, int32_t outer, int32_t axis_len, int32_t inner,
               const int32_t *idx, int32_t ni, int32_t elem);

/* ---- float32 ----------------------------------------------------------------------------- */
enum {
    QC_F_ADD = 0, QC_F_SUB, QC_F_MUL, QC_F_DIV, QC_F_POW, QC_F_MAX, QC_F_MIN, QC_F_PRELU,
    /* comparisons and logic give 1.0f / 0.0f (any nonzero input is true); MOD is fmodf */
    QC_F_EQUAL, QC_F_NOT_EQUAL, QC_F_LESS, QC_F_LESS_EQUAL, QC_F_GREATER, QC_F_GREATER_EQUAL,
    QC_F_AND, QC_F_OR, QC_F_XOR, QC_F_MOD
};
/* Broadcast as qc_add_s8. MAX/MIN propagate NaN; PRELU: y = a >= 0 ? a : a * b. */
void qc_binary_f32(int32_t op, const float *a, const float *b, float *y, int32_t ndim,
                   const int32_t *dims, const int32_t *as, const int32_t *bs);
enum {
    QC_U_RELU = 0, QC_U_SIGMOID, QC_U_TANH, QC_U_EXP, QC_U_LOG, QC_U_SQRT, QC_U_NEG, QC_U_ABS,
    QC_U_ERF, QC_U_LEAKY_RELU, QC_U_HARD_SIGMOID, QC_U_HARD_SWISH, QC_U_CLIP, QC_U_GELU,
    QC_U_GELU_TANH, QC_U_MISH, QC_U_SILU, QC_U_RECIPROCAL, QC_U_SOFTPLUS, QC_U_FLOOR, QC_U_CEIL,
    QC_U_IDENTITY, QC_U_ELU, QC_U_SELU, QC_U_SIN, QC_U_COS, QC_U_ROUND, QC_U_SIGN,
    QC_U_NOT, /* 1.0f where x == 0 */
    QC_U_TRUNC, /* toward zero: a float-to-integer Cast */
    QC_U_SOFTSIGN, QC_U_THRESHOLDED_RELU, QC_U_CELU, QC_U_TAN, QC_U_ASIN, QC_U_ACOS, QC_U_ATAN,
    QC_U_SINH, QC_U_COSH, QC_U_ASINH, QC_U_ACOSH, QC_U_ATANH,
    QC_U_SHRINK, /* x < -alpha ? x + beta : (x > alpha ? x - beta : 0): lambd, bias */
    QC_U_ISNAN,  /* 1.0f where x is NaN */
    QC_U_ISINF   /* 1.0f where x is +inf (alpha != 0) or -inf (beta != 0) */
};
/* ONNX semantics. alpha/beta: LEAKY_RELU, ELU, CELU and THRESHOLDED_RELU alpha; HARD_SIGMOID
 * max(0, min(1, alpha*x + beta)); CLIP min(max(x, alpha), beta); SELU alpha and gamma (= beta).
 * GELU is the erf form, GELU_TANH the tanh approximation, ROUND half to even. In place is
 * allowed. */
void qc_unary_f32(int32_t op, const float *x, float *y, int32_t n, float alpha, float beta);
/* Conv2D float, NCHW, groups, dilation; optional bias (NULL); y = act(clamp(sum + bias, lo, hi))
 * with act a QC_ACT_* (alpha, beta); relu/clip through lo/hi (+-INFINITY: none). */
void qc_conv_f32(const float *x, const float *wt, const float *bias, const qc_conv_params_t *p,
                 float lo, float hi, int32_t act, float alpha, float beta, float *y);
/* LSTM (mode 0), GRU (1), RNN (2), ONNX semantics with the default activations; direction 0
 * forward, 1 reverse, 2 bidirectional (num_dir 2); layout as the ONNX attribute; clip <= 0: none. */
typedef struct {
    int32_t mode, seq, batch, input, hidden, num_dir, direction, layout, linear_before_reset, input_forget;
    float clip;
} qc_rnn_params_t;
int32_t qc_rnn_f32_scratch(const qc_rnn_params_t *p);
void qc_rnn_f32(const float *x, const float *w, const float *r, const float *b, const float *peep,
                const int32_t *seq_lens, const float *h0, const float *c0, const qc_rnn_params_t *p,
                float *y, float *y_h, float *y_c, float *scratch);
/* Bicubic resize of the two last dims of [nc][h][w]: four row taps hi/hw per output row and
 * four column taps wi/ww per output column (the lowering's tables). */
void qc_resize_cubic_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh, int32_t ow,
                         const int32_t *hi, const float *hw, const int32_t *wi, const float *ww);
/* CumSum over the middle axis of [outer][r][inner] (exclusive, reverse as ONNX). In place is
 * allowed. */
void qc_cumsum_f32(const float *x, float *y, int32_t outer, int32_t r, int32_t inner, int32_t exclusive,
                   int32_t reverse);
/* TopK over the middle axis of [outer][r][inner], sorted: values [outer][k][inner] and their
 * indices as floats (idx NULL: not wanted); ties in order of index. */
void qc_topk_f32(const float *x, float *vals, float *idx, int32_t outer, int32_t r, int32_t inner, int32_t k,
                 int32_t largest);
/* ScatterND / ScatterElements with constant indices: y = data (copied unless y == data), then
 * update row i (`inner` values of upd) goes to element offset idx[i] of y, rows in order, stored
 * (QC_SC_NONE: the last of repeated offsets wins) or combined (add, mul, max, min). */
enum { QC_SC_NONE = 0, QC_SC_ADD, QC_SC_MUL, QC_SC_MAX, QC_SC_MIN };
void qc_scatter_f32(const float *data, const float *upd, float *y, int32_t size, const int32_t *idx,
                    int32_t rows, int32_t inner, int32_t reduction);
/* Trilu over the two last axes of [outer][rows][cols]: x where col - row >= k (upper) or
 * <= k (lower), else 0. In place is allowed. */
void qc_trilu_f32(const float *x, float *y, int32_t outer, int32_t rows, int32_t cols, int32_t k,
                  int32_t upper);
/* Einsum of a and optionally b, c (NULL when absent) over nl letters (at most 52): y is
 * contiguous over the first nout letters, the others are summed; strides[o * nl + l] is operand
 * o's element stride for letter l (0 where it lacks or broadcasts it). Not in place. */
void qc_einsum_f32(const float *a, const float *b, const float *c, float *y, int32_t nl, int32_t nout,
                   const int32_t *dims, const int32_t *strides);
/* GridSample (ONNX opsets 16 and 20) of x [n][c][h][w] at grid [n][oh][ow][2] (normalized x, y)
 * into y [n][c][oh][ow], with onnxruntime's arithmetic. Not in place. */
enum { QC_GS_LINEAR = 0, QC_GS_NEAREST, QC_GS_CUBIC };
enum { QC_GS_ZEROS = 0, QC_GS_BORDER, QC_GS_REFLECTION };
void qc_gridsample_f32(const float *x, const float *grid, float *y, int32_t n, int32_t c, int32_t h, int32_t w,
                       int32_t oh, int32_t ow, int32_t mode, int32_t padding, int32_t align_corners);
/* Hardmax over the middle axis of [outer][r][inner]: 1.0f at the first maximum of each column,
 * 0 elsewhere (a column whose first value is NaN is all 0, later NaNs are passed over). In place
 * is allowed. */
void qc_hardmax_f32(const float *x, float *y, int32_t outer, int32_t r, int32_t inner);
/* LRN across channels (ONNX): x is [n][c][inner]; y = x * (bias + alpha/size * sum over the
 * channel window of x^2)^-beta. Not in place. */
void qc_lrn_f32(const float *x, float *y, int32_t n, int32_t c, int32_t inner, int32_t size, float alpha,
                float beta, float bias);
/* Conv3D float, NCDHW, through qc_conv_f32 (as qc_conv3d_s8; planes outside the input are 0).
 * Scratch: qc_conv3d_f32_scratch() floats. */
int32_t qc_conv3d_f32_scratch(const qc_conv3d_params_t *d, const qc_conv_params_t *p2);
void qc_conv3d_f32(const float *x, const float *wt, const float *bias, const qc_conv3d_params_t *d,
                   const qc_conv_params_t *p2, float lo, float hi, int32_t act, float alpha, float beta,
                   float *y, float *scratch);
void qc_convtranspose_f32(const float *x, const float *wt, const float *bias,
                          const qc_conv_params_t *p, float lo, float hi, int32_t act, float alpha,
                          float beta, float *y);
/* ConvTranspose3D float, NCDHW, through qc_convtranspose_f32 per (output slice, kernel depth);
 * weights [kd][Cin][Cout/g][kh][kw]; scratch cin*h*w + 2*cout*oh*ow floats. */
void qc_convtranspose3d_f32(const float *x, const float *wt, const float *bias, const qc_conv3d_params_t *d,
                            const qc_conv_params_t *p, float lo, float hi, int32_t act, float alpha, float beta,
                            float *y, float *scratch);
/* y[b][m][n] = alpha * sum_k a[b*a_bs + m*am + k*ak] * b[b*b_bs + k*bk + n*bn]
 *              + beta * c[m*cm + n*cn]   (c NULL: no term; strides 0 broadcast),
 * then act(clamp(., lo, hi), aa, ab); y contiguous. MatMul, Gemm (transA/B by the strides), FC. */
void qc_matmul_f32(const float *a, const float *b, float *y, int32_t batch, int32_t M, int32_t K,
                   int32_t N, int32_t a_bs, int32_t am, int32_t ak, int32_t b_bs, int32_t bk,
                   int32_t bn, float alpha, const float *c, int32_t cm, int32_t cn, float beta,
                   float lo, float hi, int32_t act, float aa, float ab);
void qc_maxpool_f32(const float *x, float *y, const qc_pool_params_t *p);
void qc_avgpool_f32(const float *x, float *y, const qc_pool_params_t *p);
/* Softmax over `n` contiguous values per row; log != 0: LogSoftmax. In place is allowed. */
void qc_softmax_f32(const float *x, float *y, int32_t rows, int32_t n, int32_t log);
/* ARGMAX/ARGMIN write the index (first on ties) as a float. */
enum { QC_R_MEAN = 0, QC_R_SUM, QC_R_MAX, QC_R_MIN, QC_R_PROD, QC_R_SUMSQ, QC_R_L2, QC_R_ARGMAX, QC_R_ARGMIN,
       QC_R_L1, QC_R_LOGSUMEXP, QC_R_ARGMAX_LAST, QC_R_ARGMIN_LAST };
/* LpNormalization: y = x / norm over r ([outer][r][inner]), norm the L1 (p = 1) or L2 (p = 2)
 * norm; where the norm is 0, y = 0 (as onnxruntime). */
void qc_lpnorm_f32(const float *x, float *y, int32_t outer, int32_t r, int32_t inner, int32_t p);
/* Reduce `r` values, layout [outer][r][inner] -> [outer][inner]; L2 = sqrt(SUMSQ). */
void qc_reduce_f32(int32_t op, const float *x, float *y, int32_t outer, int32_t r, int32_t inner);
void qc_resize_nearest_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                           int32_t ow, const int32_t *hi, const int32_t *wi);
void qc_resize_linear_f32(const float *x, float *y, int32_t nc, int32_t h, int32_t w, int32_t oh,
                          int32_t ow, const int32_t *h0, const int32_t *h1, const float *hf,
                          const int32_t *w0, const int32_t *w1, const float *wf);
/* y = c != 0 ? a : b with broadcasting (strides per output dim, 0 broadcasts), y contiguous. */
void qc_where_f32(const float *c, const float *a, const float *b, float *y, int32_t ndim,
                  const int32_t *dims, const int32_t *cs, const int32_t *as, const int32_t *bs);
/* Gather with runtime indices held as floats (integer values; negative ones count from the end,
 * out-of-range ones are clamped): dst[o][i][j] = src[o][idx[i]][j], `elem`-byte elements. */
void qc_gather_idx(const void *src, void *dst, int32_t outer, int32_t axis_len, int32_t inner,
                   const float *idx, int32_t ni, int32_t elem);
/* Normalize each of `rows` rows of `n` values: (x - mean) / sqrtf(var + eps) (two passes);
 * scale/bias [n] (NULL: none). */
void qc_layernorm_f32(const float *x, const float *scale, const float *bias, float *y,
                      int32_t rows, int32_t n, float eps);
/* The same on int8 in and out (x dequantized with si/zi where read, y quantized with so/zo and
 * clamped to [qmin, qmax]): the bits of dequantize -> qc_layernorm_f32 -> quantize. */
void qc_layernorm_s8(const int8_t *x, const float *scale, const float *bias, int8_t *y, int32_t rows,
                     int32_t n, float eps, float si, int32_t zi, float so, int32_t zo, int32_t qmin,
                     int32_t qmax);
/* Quantize-dequantize in float (a Q/DQ pair whose integer type has no int8 kernel):
 * y = (clamp(rintf(x / scale) + zp, qmin, qmax) - zp) * scale, NaN -> qmin. */
void qc_fakequant_f32(const float *x, float *y, int32_t n, float scale, int32_t zp, int32_t qmin,
                      int32_t qmax);

#endif /* QC_KERNELS_H */
