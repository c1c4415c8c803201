// The gated-norm row kernels, included once per instruction set by
// gated_norm.c with QVR_FN naming the copy (see there).

// VMath.exp (VectorMath.swift); the constants are the Swift literals' floats.
static inline float QVR_FN(vexp)(float x) {
    const float hi = bits(0x42b0c0a5), lo = bits(0xc2aeac50);
    float xc = x > hi ? hi : (x < lo ? lo : x);
    float t = xc * bits(0x3fb8aa3b) + 12582912.0f;
    float fx = t - 12582912.0f;
    float r = xc - fx * bits(0x3f318000);
    r = r + fx * bits(0x395e8083);
    float z = r * r;
    float p = bits(0x39506967);
    p = fmaf(p, r, bits(0x3ab743ce));
    p = fmaf(p, r, bits(0x3c088908));
    p = fmaf(p, r, bits(0x3d2aa9c1));
    p = fmaf(p, r, bits(0x3e2aaaaa));
    p = fmaf(p, r, bits(0x3f000000));
    p = p * z + r + 1.0f;
    uint32_t tb; memcpy(&tb, &t, 4);
    float pow2n = bits((tb - 0x4B400000u + 127u) << 23);
    float y = p * pow2n;
    return x > bits(0x42b17218) ? INFINITY : (x < lo ? 0.0f : y);
}

// VMath.sigmoid.
static inline float QVR_FN(vsigmoid)(float x) {
    uint32_t b; memcpy(&b, &x, 4);
    float e = QVR_FN(vexp)(bits(b | 0x80000000u));   // exp(−|x|)
    float s = 1.0f / (1.0f + e);
    return x >= 0 ? s : e * s;
}

static inline __attribute__((always_inline))
void QVR_FN(forward)(const float *restrict xa, const float *restrict xg, float *restrict y, long l,
             float sa, float ta, float sg, float tg, const int relu,
             const unsigned char *restrict kept, float scale) {
    for (long k = 0; k < l; k++) {
        float a = xa[k] * sa + ta, g = xg[k] * sg + tg;
        float v = (relu ? (a > 0 ? a : 0.0f) : a) * QVR_FN(vsigmoid)(g);
        if (kept) v = v * (kept[k] ? scale : 0.0f);
        y[k] = v;
    }
}

static inline __attribute__((always_inline))
void QVR_FN(backward)(const float *restrict xa, const float *restrict xg, const float *restrict dy,
              float *restrict da, float *restrict dg, long l,
              float sa, float ta, float sg, float tg, const int relu,
              const unsigned char *restrict kept, float scale) {
    for (long k = 0; k < l; k++) {
        float d = dy[k];
        if (kept) d = d * (kept[k] ? scale : 0.0f);
        float a = xa[k] * sa + ta, s = QVR_FN(vsigmoid)(xg[k] * sg + tg);
        float act = relu ? (a > 0 ? a : 0.0f) : a;
        float dact = relu ? (a > 0 ? 1.0f : 0.0f) : 1.0f;
        da[k] = d * s * dact;
        dg[k] = d * act * s * (1.0f - s);
    }
}


// Four copies each (ReLU or not × mask or not), so the loops have no
// per-element branches.
static void QVR_FN(forward_any)(const float *xa, const float *xg, float *y, long l,
                                float sa, float ta, float sg, float tg, int relu,
                                const unsigned char *kept, float scale) {
    if (relu) {
        if (kept) QVR_FN(forward)(xa, xg, y, l, sa, ta, sg, tg, 1, kept, scale);
        else QVR_FN(forward)(xa, xg, y, l, sa, ta, sg, tg, 1, 0, scale);
    } else {
        if (kept) QVR_FN(forward)(xa, xg, y, l, sa, ta, sg, tg, 0, kept, scale);
        else QVR_FN(forward)(xa, xg, y, l, sa, ta, sg, tg, 0, 0, scale);
    }
}

static void QVR_FN(backward_any)(const float *xa, const float *xg, const float *dy, float *da, float *dg, long l,
                                 float sa, float ta, float sg, float tg, int relu,
                                 const unsigned char *kept, float scale) {
    if (relu) {
        if (kept) QVR_FN(backward)(xa, xg, dy, da, dg, l, sa, ta, sg, tg, 1, kept, scale);
        else QVR_FN(backward)(xa, xg, dy, da, dg, l, sa, ta, sg, tg, 1, 0, scale);
    } else {
        if (kept) QVR_FN(backward)(xa, xg, dy, da, dg, l, sa, ta, sg, tg, 0, kept, scale);
        else QVR_FN(backward)(xa, xg, dy, da, dg, l, sa, ta, sg, tg, 0, 0, scale);
    }
}
