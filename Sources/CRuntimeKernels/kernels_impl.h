// The kernels, included once per instruction set by kernels.c with
// QVR_FN naming the copy (see there).

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

typedef uint64_t QVR_FN(v8u) __attribute__((vector_size(64)));

static inline QVR_FN(v8u) QVR_FN(rotl)(QVR_FN(v8u) x, int k) { return (x << k) | (x >> (64 - k)); }

// xoshiro256++ in eight lanes, as Generator.next() in each.
static inline QVR_FN(v8u) QVR_FN(next8)(QVR_FN(v8u) *s) {
    QVR_FN(v8u) result = QVR_FN(rotl)(s[0] + s[3], 23) + s[0];
    QVR_FN(v8u) t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = QVR_FN(rotl)(s[3], 45);
    return result;
}

// The eight lanes' masks: while every lane has 8 more elements, eight
// steps packed into one 8-byte store per lane; then single steps up to the
// longest lane, each lane storing only within its length (a shorter lane's
// stream just runs on, unused).
static void QVR_FN(keep_mask8)(uint64_t st[4][8], unsigned char *out, const long start[8], const long len[8],
                               uint64_t threshold) {
    long common = len[0], longest = len[0];
    for (int l = 1; l < 8; l++) {
        if (len[l] < common) common = len[l];
        if (len[l] > longest) longest = len[l];
    }
    QVR_FN(v8u) s[4];
    for (int i = 0; i < 4; i++) memcpy(&s[i], st[i], 64);
    long j = 0;
    for (; j + 8 <= common; j += 8) {
        QVR_FN(v8u) acc = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int step = 0; step < 8; step++) {
            QVR_FN(v8u) kept = (QVR_FN(v8u))((QVR_FN(next8)(s) >> 40) < threshold) & 1;
            acc |= kept << (8 * step);
        }
        for (int l = 0; l < 8; l++) { uint64_t w = acc[l]; memcpy(out + start[l] + j, &w, 8); }
    }
    for (; j < longest; j++) {
        QVR_FN(v8u) kept = (QVR_FN(v8u))((QVR_FN(next8)(s) >> 40) < threshold) & 1;
        for (int l = 0; l < 8; l++) if (j < len[l]) out[start[l] + j] = (unsigned char)kept[l];
    }
    for (int i = 0; i < 4; i++) memcpy(st[i], &s[i], 64);
}
