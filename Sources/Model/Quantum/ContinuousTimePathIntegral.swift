#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime

/// One unit's world line in imaginary time τ ∈ [0, 1) (β = 1): its value
/// z(0) and the sorted times where it flips — an even number of kinks, so
/// the line is periodic.
struct WorldLine {
    var start: UInt8
    var kinks: [Double]
}

/// Continuous-time path-integral Monte Carlo of the quantum Boltzmann
/// machine (the M → ∞ limit of `PathIntegralSampler`: no Trotter error).
///
/// Each chain holds one world line per unit. A sweep updates every unit in
/// turn with the continuous-time cluster move (Rieger–Kawashima): cuts are
/// drawn on the unit's line as a Poisson process of rate Γ_l — the
/// M → ∞ limit of the Swendsen–Wang bonds along imaginary time, whose
/// break probability tanh(Γ/M) → Γ dτ — which together with the existing
/// kinks split the ring into segments; each segment then takes z = 1 with
/// the heat-bath probability σ(−∫_seg h_l(τ) dτ), h_l(τ) = b_l +
/// Σ_m W_lm z_m(τ) from the neighbours' world lines, and the kinks of the
/// new line are the cuts where neighbouring segments differ. With Γ_l = 0
/// the whole line is one segment: the classical heat bath.
///
/// Samples are z(τ = 0) of each chain (the diagonal p(z) of Eq. 13).
/// ⟨σx_l⟩ = −⟨n_l⟩/Γ_l with n_l the kinks of line l (∂ log Z/∂Γ_l =
/// −⟨σx_l⟩). Chains start as constant lines of a random state followed by
/// `burnIn` extra sweeps (first call, new count or units, after `reset()`,
/// or every call when not `persistent`). Work runs over 64 chunks of chains
/// with one random stream each (the result does not depend on the number
/// of cores); Ctrl-C is checked between sweeps. Stats: "sweeps",
/// "chains", "gamma" (mean Γ), "sigma_x" (mean ⟨σx⟩), "kinks" (mean kinks
/// per line).
public final class ContinuousTimePathIntegralSampler: TransverseFieldSampler {
    /// Γ: one value for every unit, or one per unit.
    public var gamma: [Float]
    public var sweeps: Int
    public var burnIn: Int
    public var persistent: Bool
    /// Γ_l above this is refused: a line holds about Γ_l kinks.
    public static let maxGamma: Float = 10_000
    private var lines: [WorldLine] = []
    private var units = 0

    public init(gamma: [Float], sweeps: Int = 10, burnIn: Int = 100, persistent: Bool = true) {
        self.gamma = gamma; self.sweeps = sweeps; self.burnIn = burnIn; self.persistent = persistent
    }

    /// Number of persistent chains (0 before the first call).
    public var chains: Int { units == 0 ? 0 : lines.count / units }

    /// Drops the persistent chains.
    public func reset() { lines = []; units = 0 }

    /// `count` chains advanced by `sweeps` sweeps: z(0) of each chain and
    /// the ⟨σx⟩ estimate with its standard error over chains.
    public func sample(_ q: QuantumBoltzmannMachine, count: Int, generator: inout Generator) throws -> PathIntegralResult {
        let total = try advance(q, count: count, generator: &generator)
        let n = q.units
        var rows = [Float](repeating: 0, count: count * n)
        var s1 = [Double](repeating: 0, count: n), s2 = [Double](repeating: 0, count: n)
        var kinks = 0.0
        for c in 0..<count {
            for l in 0..<n {
                let line = lines[c * n + l]
                rows[c * n + l] = Float(line.start)
                let k = Double(line.kinks.count)
                s1[l] += k; s2[l] += k * k; kinks += k
            }
        }
        var sx = [Double](repeating: 0, count: n), err = [Double](repeating: 0, count: n)
        let cn = Double(count)
        for l in 0..<n where q.gamma[l] > 0 {
            let g = Double(q.gamma[l]), mean = s1[l] / cn
            let variance = count > 1 ? max(0, (s2[l] - cn * mean * mean) / (cn - 1)) : 0
            sx[l] = -mean / g
            err[l] = (variance / cn).squareRoot() / g
        }
        let set = SampleSet(units: n, samples: rows, energies: try q.machine.energies(rows, batch: count),
                            stats: ["sweeps": Double(total), "chains": cn,
                                    "gamma": q.gamma.reduce(0.0) { $0 + Double($1) } / Double(max(1, n)),
                                    "sigma_x": sx.reduce(0, +) / Double(max(1, n)),
                                    "kinks": kinks / Double(max(1, count * n))])
        return PathIntegralResult(samples: set, sigmaX: sx, sigmaXError: err)
    }

    /// Checks the settings and the memory the lines will take, (re)starts
    /// the chains when needed and runs the sweeps; returns the sweeps run.
    func advance(_ q: QuantumBoltzmannMachine, count: Int, generator: inout Generator) throws -> Int {
        try validate()
        let n = q.units
        try checkCount(count, "continuous-time path integral", units: n)
        try require(q.gamma.allSatisfy { $0 <= Self.maxGamma },
                    "continuous-time path integral: Γ must be <= \(Self.maxGamma) (a line holds about Γ kinks)")
        let kinkBytes = q.gamma.reduce(0.0) { $0 + 2 * Double($1) + 1 } * Double(count) * 16
        try require(kinkBytes <= Double(Storage.maxBytes),
                    "continuous-time path integral: cannot allocate about \(Int(kinkBytes)) bytes for the kinks of \(count) chains (the machine has \(Storage.maxBytes) bytes of memory)")
        try require(q.machine.bias.allSatisfy { $0.isFinite } && q.machine.weights.allSatisfy { $0.isFinite },
                    "continuous-time path integral: parameters must be finite")
        var extra = 0
        if !persistent || units != n || chains != count {
            var g = generator.split()
            lines = (0..<(count * n)).map { _ in WorldLine(start: g.next() & 1 == 1 ? 1 : 0, kinks: []) }
            units = n
            extra = burnIn
        }
        let chunks = min(64, count)
        var streams = (0..<chunks).map { _ in generator.split() }
        let field = LocalFields(q)
        for _ in 0..<(sweeps + extra) {
            lines.withUnsafeMutableBufferPointer { lp in
                streams.withUnsafeMutableBufferPointer { sp in
                    Parallel.forEachChunk(count: count, chunks: chunks) { k, range in
                        var scratch = LocalFields.Scratch()
                        for c in range { field.sweep(lp.baseAddress! + c * n, scratch: &scratch, generator: &sp[k]) }
                    }
                }
            }
            try Interrupt.check()
        }
        return sweeps + extra
    }
}

/// The machine's local fields and transverse fields, laid out for the
/// continuous-time updates of one chain's world lines.
private struct LocalFields {
    let n: Int
    let bias: [Double], gamma: [Double]
    let rowStart: [Int], neighbor: [Int], weight: [Double]

    init(_ q: QuantumBoltzmannMachine) {
        let g = q.graph
        n = q.units
        bias = q.machine.bias.map(Double.init)
        gamma = q.gamma.map(Double.init)
        rowStart = g.rowStart.map(Int.init)
        neighbor = g.neighbors.map(Int.init)
        weight = g.neighborEdge.map { Double(q.machine.weights[Int($0)]) }
    }

    /// One sweep: every unit of the chain at `lines` in turn (`scratch`:
    /// buffers reused across updates).
    func sweep(_ lines: UnsafeMutablePointer<WorldLine>, scratch: inout Scratch, generator g: inout Generator) {
        for l in 0..<n { update(l, lines, &scratch, generator: &g) }
    }

    /// Buffers of one update, kept between updates to avoid allocations.
    struct Scratch {
        var events: [(t: Double, dh: Double)] = []
        var cuts: [Double] = [], fc: [Double] = []
        var v: [UInt8] = []
    }

    /// F(t) = ∫_0^t h_l(τ) dτ at each of the sorted times `s.cuts` (into
    /// `s.fc`); returns F(1). h_l is piecewise constant, changing at the
    /// neighbours' kinks.
    func integratedField(_ l: Int, _ lines: UnsafeMutablePointer<WorldLine>, _ s: inout Scratch) -> Double {
        var h = bias[l]
        s.events.removeAll(keepingCapacity: true)
        for k in rowStart[l]..<rowStart[l + 1] {
            let w = weight[k]
            var cur = lines[neighbor[k]].start
            if cur == 1 { h += w }
            for t in lines[neighbor[k]].kinks { s.events.append((t, cur == 1 ? -w : w)); cur ^= 1 }
        }
        if s.events.count > 1 { s.events.sort { $0.t < $1.t } }
        var f = 0.0, prev = 0.0, e = 0
        s.fc.removeAll(keepingCapacity: true)
        for t in s.cuts {
            while e < s.events.count && s.events[e].t < t {
                f += h * (s.events[e].t - prev); prev = s.events[e].t; h += s.events[e].dh; e += 1
            }
            f += h * (t - prev); prev = t
            s.fc.append(f)
        }
        while e < s.events.count { f += h * (s.events[e].t - prev); prev = s.events[e].t; h += s.events[e].dh; e += 1 }
        return f + h * (1 - prev)
    }

    /// The continuous-time cluster update of unit l's world line.
    func update(_ l: Int, _ lines: UnsafeMutablePointer<WorldLine>, _ s: inout Scratch, generator g: inout Generator) {
        s.cuts.removeAll(keepingCapacity: true)
        s.cuts.append(contentsOf: lines[l].kinks)
        let rate = gamma[l]
        if rate > 0 {
            let old = s.cuts.count
            var t = -log(1 - g.uniformDouble()) / rate
            while t < 1 { s.cuts.append(t); t += -log(1 - g.uniformDouble()) / rate }
            if old > 0 && s.cuts.count > old { s.cuts.sort() }   // kinks and new cuts are each sorted
        }
        let total = integratedField(l, lines, &s)
        /// z = 1 with probability σ(−I) for a segment whose field integrates to I.
        func draw(_ integral: Double) -> UInt8 {
            g.uniformDouble() * (1 + exp(integral)) < 1 ? 1 : 0
        }
        let k = s.cuts.count
        if k == 0 {
            lines[l].start = draw(total)
            return
        }
        // segment i runs from cuts[i] to cuts[i + 1]; segment k − 1 wraps through τ = 0
        s.v.removeAll(keepingCapacity: true)
        for i in 0..<(k - 1) { s.v.append(draw(s.fc[i + 1] - s.fc[i])) }
        s.v.append(draw(total - s.fc[k - 1] + s.fc[0]))
        lines[l].start = s.v[k - 1]
        lines[l].kinks.removeAll(keepingCapacity: true)
        for i in 0..<k where s.v[i] != s.v[(i + k - 1) % k] { lines[l].kinks.append(s.cuts[i]) }
    }
}
