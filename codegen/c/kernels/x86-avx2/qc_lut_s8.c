/* qc_lut_s8, x86 AVX2: bit-identical to kernels/reference/qc_lut_s8.c.
 *
 * The 256-byte table is held as 16 rows of 16 bytes: vpshufb looks each value's low nibble up in
 * all 16 rows, and a tree of byte blends picks the row by bits 4, 5, 6, 7 of x + 128 (32 values
 * at a time, 64 with AVX-512BW through mask blends). The tail goes one value at a time. In place
 * (x == y) is allowed. */
#include "qc_kernels.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

void qc_lut_s8(const int8_t *x, int8_t *y, int32_t n, const int8_t *table) {
    int32_t i = 0, j;
#if defined(__AVX512F__) && defined(__AVX512BW__)
    if (n >= 64) {
        __m512i t[16];
        const __m512i flip = _mm512_set1_epi8(-128), nib = _mm512_set1_epi8(15);
        for (j = 0; j < 16; ++j)
            t[j] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(table + 16 * j)));
        for (; i + 64 <= n; i += 64) {
            __m512i u = _mm512_xor_si512(_mm512_loadu_si512((const void *)(x + i)), flip), r[8];
            __m512i lo = _mm512_and_si512(u, nib);
            __mmask64 m;
            m = _mm512_test_epi8_mask(u, _mm512_set1_epi8(0x10));
            for (j = 0; j < 8; ++j)
                r[j] = _mm512_mask_blend_epi8(m, _mm512_shuffle_epi8(t[2 * j], lo),
                                              _mm512_shuffle_epi8(t[2 * j + 1], lo));
            m = _mm512_test_epi8_mask(u, _mm512_set1_epi8(0x20));
            for (j = 0; j < 4; ++j) r[j] = _mm512_mask_blend_epi8(m, r[2 * j], r[2 * j + 1]);
            m = _mm512_test_epi8_mask(u, _mm512_set1_epi8(0x40));
            for (j = 0; j < 2; ++j) r[j] = _mm512_mask_blend_epi8(m, r[2 * j], r[2 * j + 1]);
            m = _mm512_test_epi8_mask(u, flip);
            _mm512_storeu_si512((void *)(y + i), _mm512_mask_blend_epi8(m, r[0], r[1]));
        }
    }
#endif
#if defined(__AVX2__)
    if (n - i >= 32) {
        __m256i t[16];
        const __m256i flip = _mm256_set1_epi8(-128), nib = _mm256_set1_epi8(15);
        for (j = 0; j < 16; ++j)
            t[j] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(table + 16 * j)));
        for (; i + 32 <= n; i += 32) {
            __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i)), flip), r[8], m;
            __m256i lo = _mm256_and_si256(u, nib);
            m = _mm256_slli_epi16(u, 3); /* bit 4 to the byte's top bit, vpblendvb's selector */
            for (j = 0; j < 8; ++j)
                r[j] = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[2 * j], lo),
                                          _mm256_shuffle_epi8(t[2 * j + 1], lo), m);
            m = _mm256_slli_epi16(u, 2);
            for (j = 0; j < 4; ++j) r[j] = _mm256_blendv_epi8(r[2 * j], r[2 * j + 1], m);
            m = _mm256_slli_epi16(u, 1);
            for (j = 0; j < 2; ++j) r[j] = _mm256_blendv_epi8(r[2 * j], r[2 * j + 1], m);
            _mm256_storeu_si256((__m256i *)(y + i), _mm256_blendv_epi8(r[0], r[1], u));
        }
    }
#endif
    (void)j;
    for (; i < n; ++i) y[i] = table[(int32_t)x[i] + 128];
}
