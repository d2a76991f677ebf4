/* qc_rnn_f32: ONNX LSTM, GRU and RNN in float (default activations: sigmoid for the gates, tanh
 * for the cell/hidden candidates; RNN tanh), forward, reverse or bidirectional, layout 0
 * ([seq][batch][input]) or 1 ([batch][seq][input]), optional per-batch sequence lengths,
 * initial states, LSTM peepholes and input_forget, clip on the gate pre-activations.
 *
 * W [dir][G*hidden][input], R [dir][G*hidden][hidden], B [dir][2*G*hidden] (W's then R's
 * biases), gate order as ONNX: LSTM i o f c (G = 4), GRU z r h (3), RNN one. Outputs (NULL: not
 * wanted): Y [seq][dir][batch][hidden] (layout 1: [batch][seq][dir][hidden]; steps past a
 * sequence's length are 0), Y_h and Y_c [dir][batch][hidden] (layout 1: [batch][dir][hidden]),
 * the layouts of initial_h/c too. Scratch: qc_rnn_f32_scratch() floats. exp and tanh are
 * qc_expf/qc_tanhf (qc_common.h, no libm), so every board gives the same bits. */
#include "qc_kernels.h"

static float qc_sigm(float x) {
    return 1.0f / (1.0f + qc_expf(-x));
}

static float qc_clipf(float x, float clip) {
    return clip > 0.0f ? (x < -clip ? -clip : (x > clip ? clip : x)) : x;
}

int32_t qc_rnn_f32_scratch(const qc_rnn_params_t *p) {
    const int32_t g = p->mode == 0 ? 4 : (p->mode == 1 ? 3 : 1);
    return 2 * p->batch * g * p->hidden + 2 * p->batch * p->hidden + p->hidden;
}

/* acc[j] = b0[j] + b1[j] + sum_k v[k] * m[j][k] for j < n (b0/b1 NULL: 0) */
static void qc_matvec(const float *m, const float *v, const float *b0, const float *b1, int32_t n, int32_t k,
                      float *acc) {
    int32_t j, i;
    for (j = 0; j < n; ++j) {
        const float *row = m + (ptrdiff_t)j * k;
        float s = 0.0f;
        for (i = 0; i < k; ++i) s += v[i] * row[i];
        acc[j] = s + (b0 ? b0[j] : 0.0f) + (b1 ? b1[j] : 0.0f);
    }
}

void qc_rnn_f32(const float *x, const float *w, const float *r, const float *b, const float *peep,
                const int32_t *seq_lens, const float *h0, const float *c0, const qc_rnn_params_t *p,
                float *y, float *y_h, float *y_c, float *scratch) {
    const int32_t H = p->hidden, G = p->mode == 0 ? 4 : (p->mode == 1 ? 3 : 1);
    const int32_t S = p->seq, N = p->batch, I = p->input, D = p->num_dir;
    float *gx = scratch, *gh = gx + (ptrdiff_t)N * G * H, *hs = gh + (ptrdiff_t)N * G * H;
    float *cs = hs + (ptrdiff_t)N * H, *tmp = cs + (ptrdiff_t)N * H;
    int32_t d, n, t, step, j;
    for (d = 0; d < D; ++d) {
        const int reverse = p->direction == 1 || d == 1;
        const float *wd = w + (ptrdiff_t)d * G * H * I, *rd = r + (ptrdiff_t)d * G * H * H;
        const float *wb = b ? b + (ptrdiff_t)d * 2 * G * H : NULL, *rb = b ? wb + G * H : NULL;
        const float *pd = peep ? peep + (ptrdiff_t)d * 3 * H : NULL;
        for (n = 0; n < N; ++n) {
            const int32_t len = seq_lens ? seq_lens[n] : S;
            float *h = hs + (ptrdiff_t)n * H, *c = cs + (ptrdiff_t)n * H, *gxn = gx + (ptrdiff_t)n * G * H;
            float *ghn = gh + (ptrdiff_t)n * G * H;
            const ptrdiff_t s0 = p->layout ? ((ptrdiff_t)n * D + d) * H : ((ptrdiff_t)d * N + n) * H;
            for (j = 0; j < H; ++j) {
                h[j] = h0 ? h0[s0 + j] : 0.0f;
                c[j] = c0 ? c0[s0 + j] : 0.0f;
            }
            for (step = 0; step < S; ++step) {
                const int32_t tt = reverse ? len - 1 - step : step;
                float *yt;
                if (step >= len) { /* past this sequence's end: zeros in Y */
                    t = step;
                    if (y) {
                        yt = p->layout ? y + (((ptrdiff_t)n * S + t) * D + d) * H : y + (((ptrdiff_t)t * D + d) * N + n) * H;
                        for (j = 0; j < H; ++j) yt[j] = 0.0f;
                    }
                    continue;
                }
                t = tt;
                {
                    const float *xt = p->layout ? x + ((ptrdiff_t)n * S + t) * I : x + ((ptrdiff_t)t * N + n) * I;
                    qc_matvec(wd, xt, wb, NULL, G * H, I, gxn);
                }
                if (p->mode == 0) { /* LSTM: i o f c */
                    qc_matvec(rd, h, rb, NULL, G * H, H, ghn);
                    for (j = 0; j < H; ++j) {
                        float gi = qc_clipf(gxn[j] + ghn[j] + (pd ? pd[j] * c[j] : 0.0f), p->clip);
                        float gf = qc_clipf(gxn[2 * H + j] + ghn[2 * H + j] + (pd ? pd[2 * H + j] * c[j] : 0.0f), p->clip);
                        float gc = qc_clipf(gxn[3 * H + j] + ghn[3 * H + j], p->clip);
                        float it = qc_sigm(gi), ft = p->input_forget ? 1.0f - it : qc_sigm(gf);
                        float ct = ft * c[j] + it * qc_tanhf(gc), go;
                        tmp[j] = ct;
                        go = qc_clipf(gxn[H + j] + ghn[H + j] + (pd ? pd[H + j] * ct : 0.0f), p->clip);
                        ghn[j] = qc_sigm(go) * qc_tanhf(ct); /* new h, kept apart until every j is done */
                    }
                    for (j = 0; j < H; ++j) {
                        c[j] = tmp[j];
                        h[j] = ghn[j];
                    }
                } else if (p->mode == 1) { /* GRU: z r h */
                    qc_matvec(rd, h, rb, NULL, 2 * H, H, ghn);
                    for (j = 0; j < H; ++j) {
                        ghn[j] = qc_sigm(qc_clipf(gxn[j] + ghn[j], p->clip));             /* z */
                        ghn[H + j] = qc_sigm(qc_clipf(gxn[H + j] + ghn[H + j], p->clip)); /* r */
                    }
                    if (p->linear_before_reset) {
                        qc_matvec(rd + (ptrdiff_t)2 * H * H, h, rb ? rb + 2 * H : NULL, NULL, H, H, tmp);
                        for (j = 0; j < H; ++j) tmp[j] = ghn[H + j] * tmp[j];
                    } else {
                        float *rh = ghn + 2 * H; /* r (.) h, then its product with Rh */
                        for (j = 0; j < H; ++j) rh[j] = ghn[H + j] * h[j];
                        qc_matvec(rd + (ptrdiff_t)2 * H * H, rh, rb ? rb + 2 * H : NULL, NULL, H, H, tmp);
                    }
                    for (j = 0; j < H; ++j) {
                        const float ht = qc_tanhf(qc_clipf(gxn[2 * H + j] + tmp[j], p->clip)), z = ghn[j];
                        tmp[j] = (1.0f - z) * ht + z * h[j];
                    }
                    for (j = 0; j < H; ++j) h[j] = tmp[j];
                } else { /* RNN */
                    qc_matvec(rd, h, rb, NULL, H, H, ghn);
                    for (j = 0; j < H; ++j) tmp[j] = qc_tanhf(qc_clipf(gxn[j] + ghn[j], p->clip));
                    for (j = 0; j < H; ++j) h[j] = tmp[j];
                }
                if (y) {
                    yt = p->layout ? y + (((ptrdiff_t)n * S + t) * D + d) * H : y + (((ptrdiff_t)t * D + d) * N + n) * H;
                    for (j = 0; j < H; ++j) yt[j] = h[j];
                }
            }
            for (j = 0; j < H; ++j) {
                const ptrdiff_t o = p->layout ? ((ptrdiff_t)n * D + d) * H + j : ((ptrdiff_t)d * N + n) * H + j;
                if (y_h) y_h[o] = h[j];
                if (y_c) y_c[o] = c[j];
            }
        }
    }
}
