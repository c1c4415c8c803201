/// A seedable pseudo-random generator (xoshiro256++), the one source of
/// randomness in qvlua: the same seed gives the same run.
///
/// It is a value type; `split()` derives an independent stream, which is how
/// parallel kernels stay deterministic: work is cut into a fixed number of
/// blocks, each with its own split stream, whatever the number of cores.
public struct Generator: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    /// Seeds the state with SplitMix64, as the xoshiro authors recommend.
    public init(seed: UInt64) {
        var sm = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(&sm); s1 = splitmix(&sm); s2 = splitmix(&sm); s3 = splitmix(&sm)
    }

    /// The full internal state, for checkpoints: a resumed run restores it
    /// with `init(state:)` and continues the same stream.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// Restores a state captured with `state`; nil unless it has four words,
    /// not all zero (xoshiro's one invalid state).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        s0 = state[0]; s1 = state[1]; s2 = state[2]; s3 = state[3]
    }

    /// The state as 64 hex digits (for string metadata in checkpoints).
    public var stateString: String {
        state.map { w in
            let h = String(w, radix: 16)
            return String(repeating: "0", count: 16 - h.count) + h
        }.joined()
    }

    /// Restores a state written by `stateString`.
    public init?(stateString s: String) {
        guard s.count == 64, s.allSatisfy(\.isHexDigit) else { return nil }
        var words: [UInt64] = []
        var rest = Substring(s)
        while !rest.isEmpty {
            guard let w = UInt64(rest.prefix(16), radix: 16) else { return nil }
            words.append(w); rest = rest.dropFirst(16)
        }
        self.init(state: words)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = (s0 &+ s3).rotl(23) &+ s0
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3.rotl(45)
        return result
    }

    /// A new generator whose stream is independent of this one's; advances self.
    public mutating func split() -> Generator {
        Generator(seed: next() ^ 0x5851_F42D_4C95_7F2D)
    }

    /// Uniform in [0, 1), 24 random bits.
    @inline(__always)
    public mutating func uniform() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in the open interval (0, 1): safe for log and logit.
    @inline(__always)
    public mutating func uniformOpen() -> Float {
        (Float(next() >> 40) + 0.5) * 0x1p-24
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Standard normal by the Box–Muller transform.
    @inline(__always)
    public mutating func normal() -> Float {
        let u1 = uniformDouble() + 0x1p-54
        let u2 = uniformDouble()
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// Fills `buffer` with uniform [0, 1) values.
    public mutating func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>) {
        for i in buffer.indices { buffer[i] = uniform() }
    }

    /// Fills `buffer` with standard normal values, two per Box–Muller draw.
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>) {
        var i = buffer.startIndex
        while i < buffer.endIndex {
            let u1 = uniformDouble() + 0x1p-54
            let u2 = uniformDouble()
            let r = (-2 * _log(u1)).squareRoot()
            let a = 2 * Double.pi * u2
            buffer[i] = Float(r * _cos(a))
            if i + 1 < buffer.endIndex { buffer[i + 1] = Float(r * _sin(a)) }
            i += 2
        }
    }
}

extension UInt64 {
    @inline(__always) fileprivate func rotl(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 &- k)) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#else
import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Foundation.sin(x) }
#endif

/// The process-wide generator behind `qv.seed(n)`. Not thread-safe: it is
/// used from the (single) Lua thread; parallel kernels take `split()` streams
/// from it before they fan out.
public enum GlobalRandom {
    public nonisolated(unsafe) static var generator = Generator(seed: 0x5EED)

    /// Reseeds the global generator.
    public static func seed(_ s: UInt64) { generator = Generator(seed: s) }

    /// An independent stream taken from the global generator.
    public static func split() -> Generator { generator.split() }
}
