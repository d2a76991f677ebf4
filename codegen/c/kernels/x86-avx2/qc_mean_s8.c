/* qc_mean_s8, x86 AVX2: bit-identical to kernels/reference/qc_mean_s8.c.
 *
 * With inner == 1 (GlobalAveragePool, a mean over the last axes) each sum runs over r
 * contiguous bytes, 32 at a time (64 with AVX-512BW) by vpsadbw of x ^ 0x80 (= x + 128 as
 * unsigned) against zero, minus 128 per value: the exact int32 sum the reference forms. Other
 * layouts sum one strided value at a time. The rounding is the reference's (qc_quantize_one). */
#include "qc_kernels.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

/* sum of the r values x[j * inner] */
static int32_t qc_mean_sum(const int8_t *x, int32_t r, int32_t inner) {
    int32_t j = 0, sum = 0;
    if (inner == 1) {
#if defined(__AVX512F__) && defined(__AVX512BW__)
        const __m512i flip64 = _mm512_set1_epi8(-128);
        __m512i acc64 = _mm512_setzero_si512();
        for (; j + 64 <= r; j += 64)
            acc64 = _mm512_add_epi64(acc64, _mm512_sad_epu8(_mm512_xor_si512(
                _mm512_loadu_si512((const void *)(x + j)), flip64), _mm512_setzero_si512()));
        sum += (int32_t)_mm512_reduce_add_epi64(acc64) - 128 * j;
#endif
#if defined(__AVX2__)
        {
            const int32_t j0 = j;
            const __m256i flip = _mm256_set1_epi8(-128);
            __m256i acc = _mm256_setzero_si256();
            __m128i s;
            for (; j + 32 <= r; j += 32)
                acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(x + j)), flip), _mm256_setzero_si256()));
            s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
            sum += (int32_t)_mm_cvtsi128_si64(s) - 128 * (j - j0);
        }
#endif
    }
    for (; j < r; ++j) sum += x[(ptrdiff_t)j * inner];
    return sum;
}

void qc_mean_s8(const int8_t *x, int8_t *y, int32_t outer, int32_t r, int32_t inner, int32_t zi,
                int32_t zo, float ratio) {
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        const int8_t *xo = x + (ptrdiff_t)o * r * inner;
        for (i = 0; i < inner; ++i) {
            int32_t sum = qc_mean_sum(xo + i, r, inner);
            y[(ptrdiff_t)o * inner + i] =
                r > 0 ? qc_quantize_one((float)(sum - r * zi) * ratio / (float)r, 1.0f, zo, -128, 127)
                      : (int8_t)qc_clamp_i32(zo, -128, 127);
        }
    }
}
