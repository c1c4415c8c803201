// Path-integral Monte Carlo sweeps (Suzuki–Trotter) on one tile, instantiated
// once per instruction set after kernels_impl.h (uses its vexp, uniform16
// and energies). See qvm_pimc_sweeps in qv_model_kernels.h.

// Field b_l + sum_m W_lm z_m of unit l in the slice starting at zs, for the
// 16 chains starting at chain v*16.
static inline __attribute__((always_inline)) v16f QVM_FN(pimc_field)(
    const int32_t *rowstart, const int32_t *nbr, const float *w, float bl,
    const float *zs, int l, int T, int v) {
    v16f a0 = QVM_SPLAT(0.0f), a1 = QVM_SPLAT(0.0f);
    int k = rowstart[l];
    const int k1 = rowstart[l + 1];
    for (; k + 1 < k1; k += 2) {
        a0 += w[k] * *(const v16f *)(zs + (long)nbr[k] * T + v * 16);
        a1 += w[k + 1] * *(const v16f *)(zs + (long)nbr[k + 1] * T + v * 16);
    }
    if (k < k1) a0 += w[k] * *(const v16f *)(zs + (long)nbr[k] * T + v * 16);
    return a0 + a1 + bl;
}

static void QVM_FN(pimc_sweeps)(int units, int slices, const int32_t *order,
                                const int32_t *rowstart, const int32_t *nbr, const float *w,
                                const float *bias, const float *kperp, float *z, int T, int nsweeps,
                                const float *scale, const float *cscale, double *logw,
                                double *ecl_out, qvm_rng_t *rng) {
    const int V = T / 16, M = slices, N = units;
    const long slice = (long)N * T;
    v8u s[4];
    for (int i = 0; i < 4; i++) __builtin_memcpy(&s[i], rng->s[i], sizeof s[i]);
    float ebuf[T] __attribute__((aligned(64)));
    float wbuf[T] __attribute__((aligned(64)));
    // Per-slice segment sums and segment-end masks of one 16-lane vector.
    v16f seg[M];
    v16i ends[M];
    const v16i onebits = QVM_SPLATI(0x3f800000);
    for (int sw = 0; sw < nsweeps; sw++) {
        const float sc = scale[sw];
        if (logw) {
            // logw -= cscale * sum_k H_cl(z^k) / M   (scale already includes 1/M)
            const double a = cscale[sw];
            for (int k = 0; k < M; k++) {
                QVM_FN(energies)(N, rowstart, nbr, w, bias, z + k * slice, T, ebuf, wbuf);
                for (int c = 0; c < T; c++) logw[c] -= a * ((double)ebuf[c] + (double)wbuf[c]);
            }
        }
        // 1. Local heat bath on every spin of every slice:
        //    dE(0 -> 1) = sc * f - 2K (s_prev + s_next),  s = 2z - 1.
        for (int k = 0; k < M; k++) {
            float *zk = z + k * slice;
            const float *zp = z + ((k + M - 1) % M) * slice, *zn = z + ((k + 1) % M) * slice;
            for (int oi = 0; oi < N; oi++) {
                const int l = order[oi];
                const float K = kperp[l];
                if (!(K <= 8.0f)) continue;   // flips of aligned spins ~e^-32: clusters do the work
                for (int v = 0; v < V; v++) {
                    const v16f f = QVM_FN(pimc_field)(rowstart, nbr, w, bias[l], zk, l, T, v);
                    const long o = (long)l * T + v * 16;
                    v16f nb = *(const v16f *)(zp + o) + *(const v16f *)(zn + o) - 1.0f;  // (s_p + s_n)/2
                    v16f d = f * sc - (4.0f * K) * nb;
                    v16f u; QVM_FN(uniform16)(s, &u);
                    v16f e = d; QVM_FN(vexp)(&e);
                    v16i bits = (v16i)(u * (e + 1.0f) < 1.0f) & onebits;
                    __builtin_memcpy(zk + o, &bits, sizeof bits);
                }
            }
        }
        // 2. Swendsen–Wang along imaginary time, site by site: bond (k, k+1 mod M)
        //    of equal spins is active with probability 1 - e^{-2K}; each segment
        //    (the first and last merged when the wrap bond is active) flips with
        //    Metropolis probability min(1, e^{-dE}), dE = sum over its slices of
        //    sc * (1 - 2z) * f. Segments of one site never interact.
        for (int oi = 0; oi < N; oi++) {
            const int l = order[oi];
            const float pbond = 1.0f - expf(-2.0f * kperp[l]);
            for (int v = 0; v < V; v++) {
                const long o = (long)l * T + v * 16;
                v16f acc = QVM_SPLAT(0.0f);
                v16i firstEnd = QVM_SPLATI(M - 1), haveEnd = QVM_SPLATI(0);
                v16i wrap = QVM_SPLATI(0);
                for (int k = 0; k < M; k++) {
                    const float *zk = z + k * slice;
                    const v16f f = QVM_FN(pimc_field)(rowstart, nbr, w, bias[l], zk, l, T, v);
                    v16f zl = *(const v16f *)(zk + o);
                    acc += (1.0f - 2.0f * zl) * f * sc;
                    v16f zn = *(const v16f *)(z + ((k + 1) % M) * slice + o);
                    v16f u; QVM_FN(uniform16)(s, &u);
                    v16i bond = (v16i)(zl == zn) & (v16i)(u < pbond);
                    v16i end = ~bond;
                    if (k == M - 1) { wrap = bond; end = QVM_SPLATI(-1); }
                    seg[k] = acc;
                    ends[k] = end;
                    v16i first = end & ~haveEnd;
                    firstEnd = (first & QVM_SPLATI(k)) | (~first & firstEnd);
                    haveEnd |= end;
                    acc = (v16f)((v16i)acc & ~end);
                }
                // merged wrap segment: last total += first total (when distinct)
                v16i merge = wrap & (firstEnd != QVM_SPLATI(M - 1));
                v16f firstSum = QVM_SPLAT(0.0f);
                for (int k = 0; k < M - 1; k++) {
                    v16i at = (v16i)(firstEnd == QVM_SPLATI(k));
                    firstSum = (v16f)(((v16i)seg[k] & at) | ((v16i)firstSum & ~at));
                }
                seg[M - 1] += (v16f)((v16i)firstSum & merge);
                v16i dec = QVM_SPLATI(0), lastDec = QVM_SPLATI(0);
                for (int k = M - 1; k >= 0; k--) {
                    float *zk = z + k * slice + o;
                    v16f u; QVM_FN(uniform16)(s, &u);
                    v16f e = -seg[k]; QVM_FN(vexp)(&e);
                    v16i fresh = (v16i)(u < e);
                    v16i useLast = merge & (firstEnd == QVM_SPLATI(k));
                    fresh = (useLast & lastDec) | (~useLast & fresh);
                    dec = (ends[k] & fresh) | (~ends[k] & dec);
                    if (k == M - 1) lastDec = dec;
                    v16f zl = *(v16f *)zk;
                    v16f flipped = 1.0f - zl;
                    v16i nz = (dec & (v16i)flipped) | (~dec & (v16i)zl);
                    __builtin_memcpy(zk, &nz, sizeof nz);
                }
            }
        }
    }
    if (ecl_out) {
        for (int c = 0; c < T; c++) ecl_out[c] = 0;
        for (int k = 0; k < M; k++) {
            QVM_FN(energies)(N, rowstart, nbr, w, bias, z + k * slice, T, ebuf, wbuf);
            for (int c = 0; c < T; c++) ecl_out[c] += (double)ebuf[c] + (double)wbuf[c];
        }
        for (int c = 0; c < T; c++) ecl_out[c] /= M;
    }
    for (int i = 0; i < 4; i++) __builtin_memcpy(rng->s[i], &s[i], sizeof s[i]);
}
