import Runtime

/// Samples with their energies and statistics, and for importance
/// samplers (AIS) their log weights.
public struct SampleSet: Sendable {
    /// Number of units per sample.
    public let units: Int
    /// count × units, row-major, values in {0, 1}.
    public var samples: [Float]
    /// H(z) of each sample under the machine that was sampled.
    public var energies: [Float]
    /// Sampler statistics, e.g. "logZ", "logZ_err", "sweeps", "ess".
    public var stats: [String: Double]
    /// Unnormalized log importance weight of each sample, or nil when the
    /// samples are equally weighted (every sampler but AIS). Expectations
    /// under the machine are Σ_s w_s f(z_s) / Σ_s w_s (`weights`, `means`,
    /// ...), or plain averages over `resampled(generator:)`.
    public var logWeights: [Double]?

    public var count: Int { units == 0 ? 0 : samples.count / units }

    public init(units: Int, samples: [Float], energies: [Float], stats: [String: Double] = [:],
                logWeights: [Double]? = nil) {
        self.units = units; self.samples = samples; self.energies = energies; self.stats = stats
        self.logWeights = logWeights
    }

    /// The normalized weights (summing to 1), or nil for equally weighted
    /// samples.
    public var weights: [Double]? {
        guard let lw = logWeights else { return nil }
        precondition(lw.count == count, "SampleSet: \(lw.count) log weights for \(count) samples")
        let mx = lw.max() ?? 0
        var w = lw.map { exp($0 - mx) }
        let s = w.reduce(0, +)
        for i in w.indices { w[i] /= s }
        return w
    }

    /// Effective sample size 1 / Σ w_s² of the normalized weights (`count`
    /// for equally weighted samples).
    public var effectiveCount: Double {
        guard let w = weights else { return Double(count) }
        return 1 / w.reduce(0) { $0 + $1 * $1 }
    }

    /// Equally weighted samples: `count` samples drawn by systematic
    /// resampling with probabilities `weights` (energies follow; the log
    /// weights are dropped). Equally weighted sets are returned unchanged,
    /// drawing no randomness.
    public func resampled(generator: inout Generator) -> SampleSet {
        guard let w = weights else { return self }
        let par = systematicResample(w, &generator)
        var z = [Float](repeating: 0, count: samples.count)
        for (i, p) in par.enumerated() {
            for l in 0..<units { z[i * units + l] = samples[p * units + l] }
        }
        return SampleSet(units: units, samples: z, energies: energies.isEmpty ? [] : par.map { energies[$0] },
                         stats: stats)
    }

    /// ⟨z_l⟩ over the samples (weighted by `weights` when present).
    public func means() -> [Double] {
        let w = weights
        var m = [Double](repeating: 0, count: units)
        for s in 0..<count {
            let ws = w?[s] ?? 1
            for l in 0..<units { m[l] += ws * Double(samples[s * units + l]) }
        }
        return w != nil ? m : m.map { $0 / Double(max(1, count)) }
    }

    /// ⟨z_l z_m⟩ for all pairs, units × units (diagonal = ⟨z_l⟩; weighted
    /// by `weights` when present).
    public func pairMeans() -> [Double] {
        let w = weights
        var m = [Double](repeating: 0, count: units * units)
        for s in 0..<count {
            let ws = w?[s] ?? 1
            let on = (0..<units).filter { samples[s * units + $0] != 0 }
            for a in on { for b in on { m[a * units + b] += ws } }
        }
        return w != nil ? m : m.map { $0 / Double(max(1, count)) }
    }

    /// ⟨z_u z_v⟩ per edge of `graph` (weighted by `weights` when present).
    public func edgeMeans(_ graph: Graph) -> [Double] {
        let w = weights
        var m = [Double](repeating: 0, count: graph.edges.count)
        for s in 0..<count {
            let ws = w?[s] ?? 1
            for (k, e) in graph.edges.enumerated() {
                m[k] += ws * Double(samples[s * units + e.u] * samples[s * units + e.v])
            }
        }
        return w != nil ? m : m.map { $0 / Double(max(1, count)) }
    }

    /// ⟨H⟩ over the samples (weighted by `weights` when present); NaN
    /// without energies.
    public func meanEnergy() -> Double {
        guard !energies.isEmpty else { return .nan }
        if let w = weights { return zip(w, energies).reduce(0) { $0 + $1.0 * Double($1.1) } }
        return energies.reduce(0) { $0 + Double($1) } / Double(energies.count)
    }
}

/// Systematic resampling: `wn.count` indices drawn with probabilities `wn`
/// (normalized), one uniform number for all.
func systematicResample(_ wn: [Double], _ g: inout Generator) -> [Int] {
    let r = wn.count
    var out = [Int](repeating: 0, count: r)
    let u = g.uniformDouble() / Double(r)
    var c = 0.0, i = 0
    for j in 0..<r {
        let t = u + Double(j) / Double(r)
        while i < r - 1 && c + wn[i] <= t { c += wn[i]; i += 1 }
        out[j] = i
    }
    return out
}

/// One interface for all samplers: `count` samples of `bm`'s distribution
/// (or, for optimizers and emulators, of what they model), drawing all
/// randomness from `generator`. Samplers with state (persistent chains)
/// are classes.
public protocol Sampler {
    func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet
    /// Checks the settings; errors name the offending property
    /// (Sampler+Validation.swift). Sampling runs it first.
    func validate() throws
}

extension Sampler {
    /// Samples using a stream split from the global generator (qv.seed).
    public func sample(_ bm: BoltzmannMachine, count: Int) throws -> SampleSet {
        var g = GlobalRandom.split()
        return try sample(bm, count: count, generator: &g)
    }
}

/// A log-partition-function estimate with its one-standard-error bar.
public struct LogZEstimate: Sendable, CustomStringConvertible {
    public let logZ: Double
    public let error: Double
    /// Method-specific details (e.g. "ess", "chains", "temperatures").
    public let stats: [String: Double]
    public var description: String { "logZ = \(logZ) ± \(error)" }
}

/// Which interpolation the annealing estimators use between a tractable
/// base (β = 0) and the machine (β = 1).
public enum AnnealingPath: String, Sendable {
    /// p_β ∝ exp(−(b·z + β Σ W z z)): the base is the fields-only machine
    /// (independent Bernoulli units), log Z_0 = Σ softplus(−b_l).
    case couplings
    /// p_β ∝ exp(−β H(z)): the base is uniform, log Z_0 = N log 2.
    case full
}

/// How the inverse temperatures are spaced.
public enum BetaSpacing: String, Sendable {
    case linear, geometric
}

func betaSchedule(_ k: Int, spacing: BetaSpacing, from b0: Double, to b1: Double) -> [Double] {
    // k values β_1..β_k ending at b1 (β_0 = b0 is the start, not included).
    switch spacing {
    case .linear:
        return (1...k).map { b0 + (b1 - b0) * Double($0) / Double(k) }
    case .geometric:
        let lo = max(b0, 1e-3 * b1)
        return (1...k).map { lo * pow(b1 / lo, Double($0) / Double(k)) }
    }
}

func checkCount(_ count: Int, _ who: String) throws {
    try require(count > 0, "\(who): sample count must be > 0, got \(count)")
    try require(count <= 100_000_000, "\(who): sample count \(count) too large")
}

/// log(mean(exp(x))) and the delta-method standard error of that log:
/// sqrt(var(w) / n) / mean(w), w = exp(x).
func logMeanExp(_ x: [Double]) -> (value: Double, error: Double, ess: Double) {
    let mx = x.max() ?? 0
    var s = 0.0, s2 = 0.0
    for v in x { let w = exp(v - mx); s += w; s2 += w * w }
    let n = Double(x.count)
    let mean = s / n
    let variance = max(0, s2 / n - mean * mean) * n / max(1, n - 1)
    return (mx + log(mean), (variance / n).squareRoot() / mean, s * s / s2)
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
