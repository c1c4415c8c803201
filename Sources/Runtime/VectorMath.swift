/// Branch-free single-precision exp and log (Cephes polynomials) that the
/// optimizer can vectorize, unlike calls into libm. Errors are within a
/// couple of ulps over the whole float range; special values (±inf, NaN,
/// 0, negative arguments of log) follow libm.
enum VMath {
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let hi: Float = 88.3762626647949, lo: Float = -87.3365447505531
        let xc = x > hi ? hi : (x < lo ? lo : x)
        let fx = (xc * 1.44269504088896341).rounded(.toNearestOrEven)
        var r = xc - fx * 0.693359375
        r = r + fx * 2.12194440e-4
        let z = r * r
        var p: Float = 1.9875691500E-4
        p = p * r + 1.3981999507E-3
        p = p * r + 8.3334519073E-3
        p = p * r + 4.1665795894E-2
        p = p * r + 1.6666665459E-1
        p = p * r + 5.0000001201E-1
        p = p * z + r + 1
        let pow2n = Float(bitPattern: (fx + 8388735).bitPattern << 23)
        let y = p * pow2n
        // Results below the normal range are flushed to zero.
        return x > 88.72283905206835 ? Float.infinity : (x < lo ? 0 : y)
    }

    @inline(__always)
    static func log(_ x: Float) -> Float {
        // Scale denormals into the normal range first.
        let den = x < Float.leastNormalMagnitude
        let xs = den ? x * 8388608 : x
        let bits = xs.bitPattern
        var e = Float(Int32(bitPattern: (bits >> 23) & 0xFF) &- 126) - (den ? 23 : 0)
        var m = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000)
        let small = m < 0.707106781186547524
        e = small ? e - 1 : e
        m = small ? m + m - 1 : m - 1
        let z = m * m
        var y: Float = 7.0376836292E-2
        y = y * m - 1.1514610310E-1
        y = y * m + 1.1676998740E-1
        y = y * m - 1.2420140846E-1
        y = y * m + 1.4249322787E-1
        y = y * m - 1.6668057665E-1
        y = y * m + 2.0000714765E-1
        y = y * m - 2.4999993993E-1
        y = y * m + 3.3333331174E-1
        y = y * m * z
        y = y + e * -2.12194440e-4
        y = y - 0.5 * z
        let r = m + y + e * 0.693359375
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

    /// log(1 + exp(x)), stable for large |x|.
    @inline(__always)
    static func softplus(_ x: Float) -> Float {
        (x > 0 ? x : 0) + log1p(exp(-Swift.abs(x)))
    }
}

#if canImport(Glibc)
import Glibc
enum Foundationless {
    @inline(__always) static func tanh(_ x: Float) -> Float { Glibc.tanhf(x) }
}
#endif
