#ifndef QV_MODEL_KERNELS_H
#define QV_MODEL_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Tile width (chains per tile) must be a multiple of this.
#define QVM_LANES 32

/// Eight interleaved xoshiro256++ streams (one per 64-bit lane); each step
/// yields 16 uniform floats with 24 random bits.
typedef struct { uint64_t s[4][8]; } qvm_rng_t;

/// Seeds the eight lanes from one 64-bit seed (SplitMix64).
void qvm_rng_seed(qvm_rng_t *rng, uint64_t seed);

/// Fills out[0..<n] (n a multiple of 16) with uniforms in [0, 1).
void qvm_rng_uniform(qvm_rng_t *rng, float *out, long n);

/// Runs `nsweeps` sequential sweeps over one tile of `T` chains (T a positive
/// multiple of 32). The tile is stored unit-major and 64-byte aligned:
/// unit l of chain c is z[l * T + c].
///
/// mode 0, heat bath on z in {0,1}: for each unit l in `order`,
///   f = bb[s] * bias[l] + bw[s] * sum_{k in row l} w[k] * z[nbr[k]],
///   z_l = 1 with probability sigmoid(-f)   (p(z) ∝ exp(-H)).
/// mode 1, Metropolis on spins s in {-1,+1}:
///   F = bb[s] * bias[l] + bw[s] * sum w s,  flip with probability min(1, exp(2 s_l F)).
///
/// The graph is CSR: neighbours of unit l are nbr[rowstart[l] ..< rowstart[l+1]],
/// with coupling w[k] (both directions stored).
///
/// Before sweep s, when logw is not NULL:
///   logw[c] -= cb[s] * Eb(c) + cw[s] * Ew(c),
/// with Eb = sum_l bias_l x_l and Ew = sum_edges w x_u x_v of the current state.
/// After the last sweep, eb_out / ew_out (when not NULL) receive Eb and Ew.
/// nsweeps may be 0 (energies only).
void qvm_sweeps(int mode, int units, const int32_t *order,
                const int32_t *rowstart, const int32_t *nbr, const float *w,
                const float *bias, float *z, int T, int nsweeps,
                const float *bb, const float *bw,
                const float *cb, const float *cw, double *logw,
                double *eb_out, double *ew_out, qvm_rng_t *rng);

/// Heat-bath block Gibbs sweeps (mode 0 of qvm_sweeps, constant bb, bw) on
/// one tile for a bipartite graph with dense couplings between the sides
/// A = ua[0..<na] and B = ub[0..<nb] (unit indices). Each sweep updates all
/// of A, then all of B; the fields are register-blocked dense products
/// (8 units × 32 chains per pass over the other side), so no neighbour
/// indices are loaded. w_ab[j * lda + i] = W(ua[i], ub[j]) (lda a multiple
/// of 8 >= na, padding zero) and w_ba[i * ldb + j] = W(ua[i], ub[j]) (ldb a
/// multiple of 8 >= nb). Same conditionals and the same stationary
/// distribution as qvm_sweeps; the random numbers are used in another order.
void qvm_dense_bipartite_sweeps(int na, const int32_t *ua, int nb, const int32_t *ub,
                                const float *w_ab, int lda, const float *w_ba, int ldb,
                                const float *bias, float *z, int T, int nsweeps, float bb, float bw,
                                double *eb_out, double *ew_out, qvm_rng_t *rng);

/// Path-integral Monte Carlo of a transverse-field Ising model (Suzuki–Trotter,
/// M = `slices` replicas of the N = `units` classical units, periodic in
/// imaginary time) on one tile of T chains. Unit l of slice k of chain c is
/// z[(k * N + l) * T + c], values in {0,1}. The weight of a path is
///   exp(-sum_k scale * H_cl(z^k) + sum_{k,l} K_l s_l^k s_l^{k+1}),  s = 2z - 1,
/// H_cl(z) = sum_l bias_l z_l + sum_edges w z_u z_v (CSR as in qvm_sweeps),
/// K_l = kperp[l] (may be +inf: rigid world lines). Each sweep s:
///   1. heat bath on every spin of every slice (skipped for sites with K_l > 8,
///      where aligned spins essentially never flip), classical scale scale[s];
///   2. Swendsen–Wang along imaginary time for every site: bonds between equal
///      neighbouring slices with probability 1 - exp(-2 K_l), each segment of
///      the ring flipped with Metropolis probability under the classical energy.
/// Before sweep s, when logw is not NULL: logw[c] -= cscale[s] * sum_k H_cl(z^k).
/// After the last sweep ecl_out[c] (when not NULL) = (1/M) sum_k H_cl(z^k).
void qvm_pimc_sweeps(int units, int slices, const int32_t *order,
                     const int32_t *rowstart, const int32_t *nbr, const float *w,
                     const float *bias, const float *kperp, float *z, int T, int nsweeps,
                     const float *scale, const float *cscale, double *logw,
                     double *ecl_out, qvm_rng_t *rng);

/// Which instruction set qvm_sweeps runs with: 2 = AVX-512, 1 = AVX2+FMA, 0 = generic.
int qvm_kernel_level(void);

/// Caps the instruction set (for tests): 0 generic, 1 AVX2, 2 AVX-512;
/// −1 restores the automatic choice. Not thread-safe against running kernels.
void qvm_set_kernel_level(int level);

#ifdef __cplusplus
}
#endif
#endif
