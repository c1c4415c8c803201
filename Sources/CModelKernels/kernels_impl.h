// Instantiated once per instruction set by kernels.c with QVM_FN(name)
// giving the suffixed name. Uses clang/GCC vector extensions; 64-byte
// vectors lower to one AVX-512, two AVX2 or four SSE registers.

static inline __attribute__((always_inline)) void QVM_FN(vexp)(v16f *io) {
    v16f x = *io;
    const v16f hi = QVM_SPLAT(88.0f), lo = QVM_SPLAT(-87.0f);
    x = QVM_MIN(x, hi); x = QVM_MAX(x, lo);
    v16f t = x * 1.44269504088896341f;
    const v16f magic = QVM_SPLAT(12582912.0f);      // 1.5 * 2^23: round to nearest
    v16f n = (t + magic) - magic;
    v16f r = x - n * 0.693359375f;
    r = r - n * (-2.12194440e-4f);
    v16f p = QVM_SPLAT(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    v16i e = __builtin_convertvector(n, v16i);
    e = (e + 127) << 23;
    v16f scale; __builtin_memcpy(&scale, &e, sizeof scale);
    *io = p * scale;
}

static inline __attribute__((always_inline)) void QVM_FN(uniform16)(v8u *s, v16f *out) {
    // xoshiro256++ on eight lanes
    v8u r = s[0] + s[3];
    r = ((r << 23) | (r >> 41)) + s[0];
    v8u t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    v16u h; __builtin_memcpy(&h, &r, sizeof h);
    h = h >> 8;
    v16i hi; __builtin_memcpy(&hi, &h, sizeof hi);
    *out = __builtin_convertvector(hi, v16f) * 0x1p-24f;
}

static void QVM_FN(energies)(int units, const int32_t *rowstart, const int32_t *nbr,
                             const float *w, const float *bias, const float *z, int T,
                             float *eb, float *ew) {
    // Ew = 1/2 sum_l z_l sum_{m in N(l)} w_lm z_m over the symmetric CSR.
    const int V = T / 16;
    for (int v = 0; v < V; v += 2) {
        v16f sb0 = QVM_SPLAT(0.0f), sb1 = QVM_SPLAT(0.0f);
        v16f sw0 = QVM_SPLAT(0.0f), sw1 = QVM_SPLAT(0.0f);
        for (int l = 0; l < units; l++) {
            const float *zl = z + (long)l * T + v * 16;
            v16f a0 = QVM_SPLAT(0.0f), a1 = QVM_SPLAT(0.0f);
            v16f c0 = QVM_SPLAT(0.0f), c1 = QVM_SPLAT(0.0f);
            int k = rowstart[l];
            const int k1 = rowstart[l + 1];
            for (; k + 1 < k1; k += 2) {
                const float *p = z + (long)nbr[k] * T + v * 16;
                const float *q = z + (long)nbr[k + 1] * T + v * 16;
                a0 += w[k] * *(const v16f *)p;
                a1 += w[k] * *(const v16f *)(p + 16);
                c0 += w[k + 1] * *(const v16f *)q;
                c1 += w[k + 1] * *(const v16f *)(q + 16);
            }
            if (k < k1) {
                const float *p = z + (long)nbr[k] * T + v * 16;
                a0 += w[k] * *(const v16f *)p;
                a1 += w[k] * *(const v16f *)(p + 16);
            }
            v16f z0 = *(const v16f *)zl, z1 = *(const v16f *)(zl + 16);
            sb0 += bias[l] * z0; sb1 += bias[l] * z1;
            sw0 += (a0 + c0) * z0; sw1 += (a1 + c1) * z1;
        }
        *(v16f *)(eb + v * 16) = sb0;
        *(v16f *)(eb + v * 16 + 16) = sb1;
        *(v16f *)(ew + v * 16) = sw0 * 0.5f;
        *(v16f *)(ew + v * 16 + 16) = sw1 * 0.5f;
    }
}

static void QVM_FN(sweeps)(int mode, int units, const int32_t *order,
                           const int32_t *rowstart, const int32_t *nbr, const float *w,
                           const float *bias, float *z, int T, int nsweeps,
                           const float *bb, const float *bw,
                           const float *cb, const float *cw, double *logw,
                           double *eb_out, double *ew_out, qvm_rng_t *rng) {
    const int V = T / 16;
    v8u s[4];
    for (int i = 0; i < 4; i++) __builtin_memcpy(&s[i], rng->s[i], sizeof s[i]);
    float ebuf[T] __attribute__((aligned(64)));
    float wbuf[T] __attribute__((aligned(64)));
    const v16i onebits = QVM_SPLATI(0x3f800000);
    const v16i signbit = QVM_SPLATI((int32_t)0x80000000);
    for (int sw = 0; sw < nsweeps; sw++) {
        if (logw) {
            QVM_FN(energies)(units, rowstart, nbr, w, bias, z, T, ebuf, wbuf);
            double a = cb[sw], b = cw[sw];
            for (int c = 0; c < T; c++) logw[c] -= a * (double)ebuf[c] + b * (double)wbuf[c];
        }
        const float sb = bb[sw], swt = bw[sw];
        for (int oi = 0; oi < units; oi++) {
            const int l = order[oi];
            const int k0 = rowstart[l], k1 = rowstart[l + 1];
            const float bl = sb * bias[l];
            for (int v = 0; v < V; v += 2) {
                // two vectors (32 chains) at a time, neighbours unrolled by two:
                // four independent accumulator chains hide the FMA latency.
                v16f a0 = QVM_SPLAT(0.0f), a1 = QVM_SPLAT(0.0f);
                v16f c0 = QVM_SPLAT(0.0f), c1 = QVM_SPLAT(0.0f);
                int k = k0;
                for (; k + 1 < k1; k += 2) {
                    const float *p = z + (long)nbr[k] * T + v * 16;
                    const float *q = z + (long)nbr[k + 1] * T + v * 16;
                    const float wk = w[k], wq = w[k + 1];
                    a0 += wk * *(const v16f *)p;
                    a1 += wk * *(const v16f *)(p + 16);
                    c0 += wq * *(const v16f *)q;
                    c1 += wq * *(const v16f *)(q + 16);
                }
                if (k < k1) {
                    const float *p = z + (long)nbr[k] * T + v * 16;
                    a0 += w[k] * *(const v16f *)p;
                    a1 += w[k] * *(const v16f *)(p + 16);
                }
                v16f acc2[2] = {a0 + c0, a1 + c1};
                for (int h = 0; h < 2; h++) {
                v16f f = acc2[h] * swt + bl;
                v16f u; QVM_FN(uniform16)(s, &u);
                v16f *zp = (v16f *)(z + (long)l * T + (v + h) * 16);
                if (mode == 0) {
                    // z = 1 iff u < sigmoid(-f)  <=>  u * (1 + e^f) < 1
                    v16f e = f; QVM_FN(vexp)(&e);
                    v16i m = (v16i)(u * (e + 1.0f) < 1.0f);
                    v16i bits = m & onebits;
                    __builtin_memcpy(zp, &bits, sizeof bits);
                } else {
                    v16f sl = *zp;
                    v16f x = 2.0f * sl * f;          // -beta * dE
                    x = QVM_MIN(x, QVM_SPLAT(0.0f));
                    v16f e = x; QVM_FN(vexp)(&e);
                    v16i m = (v16i)(u < e);
                    v16i bits; __builtin_memcpy(&bits, &sl, sizeof bits);
                    bits ^= (m & signbit);
                    __builtin_memcpy(zp, &bits, sizeof bits);
                }
                }
            }
        }
    }
    if (eb_out || ew_out) {
        QVM_FN(energies)(units, rowstart, nbr, w, bias, z, T, ebuf, wbuf);
        for (int c = 0; c < T; c++) {
            if (eb_out) eb_out[c] = ebuf[c];
            if (ew_out) ew_out[c] = wbuf[c];
        }
    }
    for (int i = 0; i < 4; i++) __builtin_memcpy(rng->s[i], &s[i], sizeof s[i]);
}

// Dense bipartite block Gibbs on one tile: the fields of the updated side
// are a register-blocked product (8 units × 32 chains of accumulators, one
// pass over the source side's rows), then the 8 units are sampled.
// w[j * ldw + i] = W(upd[i], src[j]); ldw is a multiple of 8 and columns
// i >= nupd are zero. With ew != NULL nothing is sampled: ew[c] receives
// sum_i z_upd[i] * field_i (the coupling energy).
static void QVM_FN(dense_half)(int nupd, const int32_t *upd, int nsrc, const int32_t *src,
                               const float *w, int ldw, const float *bias, float sb, float swt,
                               float *z, int T, v8u *s, float *ew) {
    const int V = T / 16;
    for (int v = 0; v < V; v += 2) {
        v16f e0 = QVM_SPLAT(0.0f), e1 = QVM_SPLAT(0.0f);
        for (int i0 = 0; i0 < nupd; i0 += 8) {
            v16f a[8][2];
            for (int i = 0; i < 8; i++) { a[i][0] = QVM_SPLAT(0.0f); a[i][1] = QVM_SPLAT(0.0f); }
            for (int j = 0; j < nsrc; j++) {
                const float *zp = z + (long)src[j] * T + v * 16;
                const v16f z0 = *(const v16f *)zp, z1 = *(const v16f *)(zp + 16);
                const float *wr = w + (long)j * ldw + i0;
                for (int i = 0; i < 8; i++) {
                    a[i][0] += wr[i] * z0;
                    a[i][1] += wr[i] * z1;
                }
            }
            const int m = nupd - i0 < 8 ? nupd - i0 : 8;
            for (int i = 0; i < m; i++) {
                const int l = upd[i0 + i];
                for (int h = 0; h < 2; h++) {
                    v16f *zp = (v16f *)(z + (long)l * T + (v + h) * 16);
                    if (ew) {
                        if (h == 0) e0 += a[i][0] * *zp; else e1 += a[i][1] * *zp;
                        continue;
                    }
                    v16f f = a[i][h] * swt + sb * bias[l];
                    v16f u; QVM_FN(uniform16)(s, &u);
                    v16f e = f; QVM_FN(vexp)(&e);
                    v16i bits = (v16i)(u * (e + 1.0f) < 1.0f) & QVM_SPLATI(0x3f800000);
                    __builtin_memcpy(zp, &bits, sizeof bits);
                }
            }
        }
        if (ew) {
            *(v16f *)(ew + v * 16) = e0;
            *(v16f *)(ew + v * 16 + 16) = e1;
        }
    }
}

static void QVM_FN(dense_sweeps)(int na, const int32_t *ua, int nb, const int32_t *ub,
                                 const float *w_ab, int lda, const float *w_ba, int ldb,
                                 const float *bias, float *z, int T, int nsweeps, float bb, float bw,
                                 double *eb_out, double *ew_out, qvm_rng_t *rng) {
    v8u s[4];
    for (int i = 0; i < 4; i++) __builtin_memcpy(&s[i], rng->s[i], sizeof s[i]);
    for (int sw = 0; sw < nsweeps; sw++) {
        QVM_FN(dense_half)(na, ua, nb, ub, w_ab, lda, bias, bb, bw, z, T, s, 0);
        QVM_FN(dense_half)(nb, ub, na, ua, w_ba, ldb, bias, bb, bw, z, T, s, 0);
    }
    if (eb_out || ew_out) {
        float ebuf[T] __attribute__((aligned(64)));
        float wbuf[T] __attribute__((aligned(64)));
        QVM_FN(dense_half)(na, ua, nb, ub, w_ab, lda, bias, bb, bw, z, T, s, wbuf);
        for (int c = 0; c < T; c++) ebuf[c] = 0;
        for (int k = 0; k < na + nb; k++) {
            const int l = k < na ? ua[k] : ub[k - na];
            const float bl = bias[l], *zl = z + (long)l * T;
            for (int c = 0; c < T; c++) ebuf[c] += bl * zl[c];
        }
        for (int c = 0; c < T; c++) {
            if (eb_out) eb_out[c] = ebuf[c];
            if (ew_out) ew_out[c] = wbuf[c];
        }
    }
    for (int i = 0; i < 4; i++) __builtin_memcpy(rng->s[i], &s[i], sizeof s[i]);
}
