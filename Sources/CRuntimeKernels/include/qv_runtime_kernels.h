#ifndef QV_RUNTIME_KERNELS_H
#define QV_RUNTIME_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One row pair of a gated batch norm (Runtime's GatedNorm.swift): the
/// value channel xa and gate channel xg, `l` floats each, normalized by
/// â = xa·sa + ta and ĝ = xg·sg + tg. Every float operation is the one the
/// Swift reference performs, in its order, with Runtime's exp/sigmoid
/// (VectorMath.swift), so results are equal bit for bit; the loops
/// vectorize here (AVX-512 or AVX2 + FMA) where Swift's SIMD selects do not.
///
/// Forward: y = act(â)·σ(ĝ), then y·(kept ? scale : 0) when `kept` is not
/// NULL; act = ReLU when relu != 0, else the identity.
void qvr_gated_norm_forward(const float *xa, const float *xg, float *y, long l,
                            float sa, float ta, float sg, float tg, int relu,
                            const unsigned char *kept, float scale);

/// Backward: with d = dy (or dy·(kept ? scale : 0)), s = σ(ĝ):
/// da = d·s·act'(â), dg = d·act(â)·s·(1 − s).
void qvr_gated_norm_backward(const float *xa, const float *xg, const float *dy,
                             float *da, float *dg, long l,
                             float sa, float ta, float sg, float tg, int relu,
                             const unsigned char *kept, float scale);

/// Dropout keep-masks from eight xoshiro256++ streams at once, one per
/// lane: lane l (0..7) continues the stream whose state words are
/// state[8·i + l], i = 0..3 (Runtime's `Generator`), and writes
/// out[start[l] + j] = 1 if (next() >> 40) < threshold else 0 for
/// j < len[l] (`uniform() < keep` exactly, with threshold = ⌈keep·2^24⌉).
/// Every lane's state is advanced by the longest lane's count.
void qvr_keep_mask8(uint64_t *state, unsigned char *out, const long *start, const long *len,
                    uint64_t threshold);

/// Whether the kernels use their AVX-512 copy (the default where the CPU
/// has AVX-512 F/DQ/VL/BW), and a switch to turn it off (tests compare the
/// copies: both must give the same bits).
int qvr_uses_avx512(void);
void qvr_set_avx512(int on);

#ifdef __cplusplus
}
#endif
#endif
