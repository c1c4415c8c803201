import Runtime

/// Exact moments of a small Boltzmann machine by enumeration.
public struct ExactMoments: Sendable {
    public let logZ: Double
    /// ⟨z_l⟩.
    public let means: [Double]
    /// ⟨z_u z_v⟩ per edge, in the graph's edge order.
    public let edgeMeans: [Double]
    /// ⟨z_l z_m⟩ for all pairs (units × units, diagonal = means), or empty
    /// when not requested.
    public let pairMeans: [Double]
    /// min_z H(z) and ⟨H⟩.
    public let minEnergy: Double
    public let meanEnergy: Double
}

/// Exact enumeration of all 2^N states (N ≤ 24) in Gray-code order, with
/// incremental Double-precision energies: the ground truth for tests.
/// As a Sampler it draws independent exact samples (stats: "logZ").
public struct ExactSampler: Sampler {
    public static let maxUnits = 24

    public init() {}

    static func check(_ bm: BoltzmannMachine) throws {
        try require(bm.units <= maxUnits,
                    "exact enumeration supports at most \(maxUnits) units, the machine has \(bm.units)")
        try require(bm.units >= 1, "exact enumeration: the machine has no units")
    }

    /// Calls body(state bits, H) for every state (Gray-code order).
    static func enumerate(_ bm: BoltzmannMachine, _ body: (UInt32, Double) -> Void) throws {
        let n = bm.units, g = bm.graph
        var field = bm.bias.map { Double($0) }      // b_l + Σ W_lm z_m
        let w = g.neighborEdge.map { Double(bm.weights[Int($0)]) }
        var bits: UInt32 = 0
        var e = 0.0
        body(0, 0)
        let total: UInt64 = 1 << UInt64(n)
        var i: UInt64 = 1
        while i < total {
            let l = i.trailingZeroBitCount
            let mask: UInt32 = 1 << UInt32(l)
            let on = bits & mask == 0
            bits ^= mask
            let sign = on ? 1.0 : -1.0
            e += sign * field[l]
            for k in Int(g.rowStart[l])..<Int(g.rowStart[l + 1]) {
                field[Int(g.neighbors[k])] += sign * w[k]
            }
            body(bits, e)
            if i & 0xFFFFF == 0 { try Interrupt.check() }
            i += 1
        }
    }

    /// log Z, means, edge means and (optionally) all pair means.
    public static func moments(_ bm: BoltzmannMachine, pairs: Bool = true) throws -> ExactMoments {
        try check(bm)
        let n = bm.units
        var emin = Double.infinity
        try enumerate(bm) { _, e in emin = min(emin, e) }
        var z = 0.0, eMean = 0.0
        var m1 = [Double](repeating: 0, count: n)
        var m2 = [Double](repeating: 0, count: pairs ? n * n : 0)
        var on = [Int](repeating: 0, count: n)
        try enumerate(bm) { bits, e in
            let p = exp(-(e - emin))
            z += p
            eMean += p * e
            var k = 0, b = bits
            while b != 0 { let l = b.trailingZeroBitCount; on[k] = l; k += 1; b &= b - 1 }
            for a in 0..<k {
                m1[on[a]] += p
                if pairs { let r = on[a] * n; for c in 0..<k { m2[r + on[c]] += p } }
            }
        }
        let edgeMeans: [Double]
        if pairs {
            edgeMeans = bm.graph.edges.map { m2[$0.u * n + $0.v] / z }
        } else {
            var em = [Double](repeating: 0, count: bm.graph.edges.count)
            try enumerate(bm) { bits, e in
                let p = exp(-(e - emin))
                for (k, ed) in bm.graph.edges.enumerated()
                where bits & (1 << UInt32(ed.u)) != 0 && bits & (1 << UInt32(ed.v)) != 0 { em[k] += p }
            }
            edgeMeans = em.map { $0 / z }
        }
        return ExactMoments(logZ: -emin + log(z), means: m1.map { $0 / z }, edgeMeans: edgeMeans,
                            pairMeans: m2.map { $0 / z }, minEnergy: emin, meanEnergy: eMean / z)
    }

    /// Exact log Z.
    public static func logZ(_ bm: BoltzmannMachine) throws -> Double {
        try check(bm)
        var emin = Double.infinity
        try enumerate(bm) { _, e in emin = min(emin, e) }
        var z = 0.0
        try enumerate(bm) { _, e in z += exp(-(e - emin)) }
        return -emin + log(z)
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try ExactSampler.check(bm)
        try checkCount(count, "exact sampler", units: bm.units)
        let n = bm.units
        var emin = Double.infinity
        try ExactSampler.enumerate(bm) { _, e in emin = min(emin, e) }
        var z = 0.0
        try ExactSampler.enumerate(bm) { _, e in z += exp(-(e - emin)) }
        // Sorted uniform targets in [0, Z), then one more pass.
        var targets = (0..<count).map { _ in generator.uniformDouble() * z }
        targets.sort()
        var states = [UInt32](repeating: 0, count: count)
        var energies = [Double](repeating: 0, count: count)
        var acc = 0.0, t = 0
        var lastBits: UInt32 = 0, lastE = 0.0
        try ExactSampler.enumerate(bm) { bits, e in
            acc += exp(-(e - emin))
            lastBits = bits; lastE = e
            while t < count && targets[t] < acc { states[t] = bits; energies[t] = e; t += 1 }
        }
        while t < count { states[t] = lastBits; energies[t] = lastE; t += 1 }  // rounding at the top end
        // Shuffle so the order carries no information.
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            states.swapAt(i, j); energies.swapAt(i, j)
        }
        var out = [Float](repeating: 0, count: count * n)
        for s in 0..<count { for l in 0..<n where states[s] & (1 << UInt32(l)) != 0 { out[s * n + l] = 1 } }
        return SampleSet(units: n, samples: out, energies: energies.map { Float($0) },
                         stats: ["logZ": -emin + log(z)])
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
