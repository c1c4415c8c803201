// Runtime's C kernels: the gated batch norm's row loops and dropout
// keep-masks (qv_runtime_kernels.h).
//
// Compiled with -ffp-contract=off: a·b + c stays a product and a sum, as
// in Swift; fmaf is written out where the Swift code calls addingProduct.
// The kernels are compiled twice, for AVX-512 and for AVX2 + FMA, and
// chosen at run time; lanes do the same IEEE operations either way, so
// both copies give the same bits.
#include "qv_runtime_kernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }

#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), apply_to = function)
#define QVR_FN(name) name##_avx512
#include "kernels_impl.h"
#undef QVR_FN
#pragma clang attribute pop

#define QVR_FN(name) name##_avx2
#include "kernels_impl.h"
#undef QVR_FN

static int wide = -1;

void qvr_set_avx512(int on) {
    __builtin_cpu_init();
    int has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
              __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    wide = on && has;
}

int qvr_uses_avx512(void) {
    if (wide < 0) qvr_set_avx512(1);
    return wide;
}

void qvr_gated_norm_forward(const float *xa, const float *xg, float *y, long l,
                            float sa, float ta, float sg, float tg, int relu,
                            const unsigned char *kept, float scale) {
    if (qvr_uses_avx512()) forward_any_avx512(xa, xg, y, l, sa, ta, sg, tg, relu, kept, scale);
    else forward_any_avx2(xa, xg, y, l, sa, ta, sg, tg, relu, kept, scale);
}

void qvr_gated_norm_backward(const float *xa, const float *xg, const float *dy,
                             float *da, float *dg, long l,
                             float sa, float ta, float sg, float tg, int relu,
                             const unsigned char *kept, float scale) {
    if (qvr_uses_avx512()) backward_any_avx512(xa, xg, dy, da, dg, l, sa, ta, sg, tg, relu, kept, scale);
    else backward_any_avx2(xa, xg, dy, da, dg, l, sa, ta, sg, tg, relu, kept, scale);
}

void qvr_keep_mask8(uint64_t *state, unsigned char *out, const long *start, const long *len,
                    uint64_t threshold) {
    uint64_t (*s)[8] = (uint64_t (*)[8])state;
    if (qvr_uses_avx512()) keep_mask8_avx512(s, out, start, len, threshold);
    else keep_mask8_avx2(s, out, start, len, threshold);
}
