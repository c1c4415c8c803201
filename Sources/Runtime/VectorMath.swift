/// Branch-free single-precision exp and log (Cephes polynomials) that the
/// optimizer can vectorize, unlike calls into libm. (CRuntimeKernels'
/// kernels_impl.h repeats exp and sigmoid operation for operation; the
/// GatedNormTests compare the two bit for bit.) Errors are within a
/// couple of ulps over the whole float range; special values (±inf, NaN,
/// 0, negative arguments of log) follow libm.
enum VMath {
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let hi: Float = 88.3762626647949, lo: Float = -87.3365447505531
        let xc = x > hi ? hi : (x < lo ? lo : x)
        // Round to nearest with the 1.5·2^23 trick (no libm call, vectorizes);
        // t's low mantissa bits then hold the integer n = fx.
        let t = xc * 1.44269504088896341 + 12582912
        let fx = t - 12582912
        var r = xc - fx * 0.693359375
        r = r + fx * 2.12194440e-4
        let z = r * r
        var p: Float = 1.9875691500E-4
        p = Float(1.3981999507E-3).addingProduct(p, r)
        p = Float(8.3334519073E-3).addingProduct(p, r)
        p = Float(4.1665795894E-2).addingProduct(p, r)
        p = Float(1.6666665459E-1).addingProduct(p, r)
        p = Float(5.0000001201E-1).addingProduct(p, r)
        p = p * z + r + 1
        let pow2n = Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) << 23)
        let y = p * pow2n
        // Results below the normal range are flushed to zero.
        return x > 88.72283905206835 ? Float.infinity : (x < lo ? 0 : y)
    }

    /// The log kernel proper (Cephes' logf polynomial): log of a positive
    /// normal float given its bit pattern and unbiased exponent + 1. Shared by
    /// `log` and `log1pSmall`.
    @inline(__always)
    static func logCore(_ bits: UInt32, exponent: Float) -> Float {
        var e = exponent
        var m = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000)
        let small = m < 0.707106781186547524
        e = small ? e - 1 : e
        m = small ? m + m - 1 : m - 1
        let z = m * m
        var y: Float = 7.0376836292E-2
        y = Float(-1.1514610310E-1).addingProduct(y, m)
        y = Float(1.1676998740E-1).addingProduct(y, m)
        y = Float(-1.2420140846E-1).addingProduct(y, m)
        y = Float(1.4249322787E-1).addingProduct(y, m)
        y = Float(-1.6668057665E-1).addingProduct(y, m)
        y = Float(2.0000714765E-1).addingProduct(y, m)
        y = Float(-2.4999993993E-1).addingProduct(y, m)
        y = Float(3.3333331174E-1).addingProduct(y, m)
        y = y * m * z
        y = y + e * -2.12194440e-4
        y = y - 0.5 * z
        return m + y + e * 0.693359375
    }

    @inline(__always)
    static func log(_ x: Float) -> Float {
        // Scale denormals into the normal range first.
        let den = x < Float.leastNormalMagnitude
        let xs = den ? x * 8388608 : x
        let bits = xs.bitPattern
        let r = logCore(bits, exponent: Float(Int32(bitPattern: (bits >> 23) & 0xFF) &- 126) - (den ? 23 : 0))
        return x > 0 ? (x == .infinity ? x : r) : (x == 0 ? -Float.infinity : Float.nan)
    }

    /// log(1 + u), accurate for small u (the Goldberg trick).
    @inline(__always)
    static func log1p(_ u: Float) -> Float {
        let w = 1 + u
        let d = w - 1
        let r = log(w) * (u / d)
        return d == 0 ? u : (w == .infinity ? w : r)
    }

    /// Logistic sigmoid, stable for large |x|.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        let e = exp(-Swift.abs(x))
        let s = 1 / (1 + e)
        return x >= 0 ? s : e * s
    }

    /// Hyperbolic tangent (Cephes tanhf): odd polynomial for |x| < 0.625,
    /// 1 - 2/(exp(2|x|) + 1) beyond.
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let a = Swift.abs(x)
        let big = 1 - 2 / (exp(2 * a) + 1)
        let z = x * x
        var p: Float = -5.70498872745E-3
        p = Float(2.06390887954E-2).addingProduct(p, z)
        p = Float(-5.37397155531E-2).addingProduct(p, z)
        p = Float(1.33314422036E-1).addingProduct(p, z)
        p = Float(-3.33332819422E-1).addingProduct(p, z)
        let small = x.addingProduct(p * z, x)
        let r = a < 0.625 ? small : (x < 0 ? -big : big)
        return x.isNaN ? x : r
    }

    /// log(1 + exp(x)), stable for large |x|.
    @inline(__always)
    static func softplus(_ x: Float) -> Float {
        (x > 0 ? x : 0) + log1p(exp(-Swift.abs(x)))
    }
}
