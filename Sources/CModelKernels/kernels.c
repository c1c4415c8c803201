#include "qv_model_kernels.h"
#include <string.h>
#include <math.h>

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef uint64_t v8u __attribute__((vector_size(64)));

#define QVM_SPLAT(x) ((v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})
#define QVM_SPLATI(x) ((v16i){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})
#define QVM_MIN(a, b) __builtin_elementwise_min((a), (b))
#define QVM_MAX(a, b) __builtin_elementwise_max((a), (b))

#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), apply_to = function)
#define QVM_FN(name) name##_avx512
#include "kernels_impl.h"
#include "pimc_impl.h"
#undef QVM_FN
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define QVM_FN(name) name##_avx2
#include "kernels_impl.h"
#include "pimc_impl.h"
#undef QVM_FN
#pragma clang attribute pop

#define QVM_FN(name) name##_generic
#include "kernels_impl.h"
#include "pimc_impl.h"
#undef QVM_FN

static uint64_t splitmix(uint64_t *x) {
    *x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void qvm_rng_seed(qvm_rng_t *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int lane = 0; lane < 8; lane++)
        for (int i = 0; i < 4; i++) rng->s[i][lane] = splitmix(&x);
}

void qvm_rng_uniform(qvm_rng_t *rng, float *out, long n) {
    v8u s[4];
    for (int i = 0; i < 4; i++) memcpy(&s[i], rng->s[i], 64);
    for (long i = 0; i + 16 <= n; i += 16) {
        v16f u; uniform16_generic(s, &u);
        memcpy(out + i, &u, 64);
    }
    for (int i = 0; i < 4; i++) memcpy(rng->s[i], &s[i], 64);
}

static int level = -1;

void qvm_set_kernel_level(int l) {
    int best = (level = -1, qvm_kernel_level());
    level = l < 0 ? -1 : (l < best ? l : best);
    if (level < 0) qvm_kernel_level();
}

int qvm_kernel_level(void) {
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
            level = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            level = 1;
        else
            level = 0;
    }
    return level;
}

void qvm_sweeps(int mode, int units, const int32_t *order,
                const int32_t *rowstart, const int32_t *nbr, const float *w,
                const float *bias, float *z, int T, int nsweeps,
                const float *bb, const float *bw,
                const float *cb, const float *cw, double *logw,
                double *eb_out, double *ew_out, qvm_rng_t *rng) {
    switch (qvm_kernel_level()) {
    case 2:
        sweeps_avx512(mode, units, order, rowstart, nbr, w, bias, z, T, nsweeps, bb, bw, cb, cw, logw, eb_out, ew_out, rng);
        break;
    case 1:
        sweeps_avx2(mode, units, order, rowstart, nbr, w, bias, z, T, nsweeps, bb, bw, cb, cw, logw, eb_out, ew_out, rng);
        break;
    default:
        sweeps_generic(mode, units, order, rowstart, nbr, w, bias, z, T, nsweeps, bb, bw, cb, cw, logw, eb_out, ew_out, rng);
    }
}

void qvm_dense_bipartite_sweeps(int na, const int32_t *ua, int nb, const int32_t *ub,
                                const float *w_ab, int lda, const float *w_ba, int ldb,
                                const float *bias, float *z, int T, int nsweeps, float bb, float bw,
                                double *eb_out, double *ew_out, qvm_rng_t *rng) {
    switch (qvm_kernel_level()) {
    case 2:
        dense_sweeps_avx512(na, ua, nb, ub, w_ab, lda, w_ba, ldb, bias, z, T, nsweeps, bb, bw, eb_out, ew_out, rng);
        break;
    case 1:
        dense_sweeps_avx2(na, ua, nb, ub, w_ab, lda, w_ba, ldb, bias, z, T, nsweeps, bb, bw, eb_out, ew_out, rng);
        break;
    default:
        dense_sweeps_generic(na, ua, nb, ub, w_ab, lda, w_ba, ldb, bias, z, T, nsweeps, bb, bw, eb_out, ew_out, rng);
    }
}

void qvm_pimc_sweeps(int units, int slices, const int32_t *order,
                     const int32_t *rowstart, const int32_t *nbr, const float *w,
                     const float *bias, const float *kperp, float *z, int T, int nsweeps,
                     const float *scale, const float *cscale, double *logw,
                     double *ecl_out, qvm_rng_t *rng) {
    switch (qvm_kernel_level()) {
    case 2:
        pimc_sweeps_avx512(units, slices, order, rowstart, nbr, w, bias, kperp, z, T, nsweeps, scale, cscale, logw, ecl_out, rng);
        break;
    case 1:
        pimc_sweeps_avx2(units, slices, order, rowstart, nbr, w, bias, kperp, z, T, nsweeps, scale, cscale, logw, ecl_out, rng);
        break;
    default:
        pimc_sweeps_generic(units, slices, order, rowstart, nbr, w, bias, kperp, z, T, nsweeps, scale, cscale, logw, ecl_out, rng);
    }
}
