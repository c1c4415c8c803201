import Runtime

/// Samples with their energies and statistics.
public struct SampleSet: Sendable {
    /// Number of units per sample.
    public let units: Int
    /// count × units, row-major, values in {0, 1}.
    public var samples: [Float]
    /// H(z) of each sample under the machine that was sampled.
    public var energies: [Float]
    /// Sampler statistics, e.g. "logZ", "logZ_err", "sweeps", "ess".
    public var stats: [String: Double]

    public var count: Int { units == 0 ? 0 : samples.count / units }

    public init(units: Int, samples: [Float], energies: [Float], stats: [String: Double] = [:]) {
        self.units = units; self.samples = samples; self.energies = energies; self.stats = stats
    }

    /// ⟨z_l⟩ over the samples.
    public func means() -> [Double] {
        var m = [Double](repeating: 0, count: units)
        for s in 0..<count { for l in 0..<units { m[l] += Double(samples[s * units + l]) } }
        return m.map { $0 / Double(max(1, count)) }
    }

    /// ⟨z_l z_m⟩ for all pairs, units × units (diagonal = ⟨z_l⟩).
    public func pairMeans() -> [Double] {
        var m = [Double](repeating: 0, count: units * units)
        for s in 0..<count {
            let on = (0..<units).filter { samples[s * units + $0] != 0 }
            for a in on { for b in on { m[a * units + b] += 1 } }
        }
        return m.map { $0 / Double(max(1, count)) }
    }

    /// ⟨z_u z_v⟩ per edge of `graph`.
    public func edgeMeans(_ graph: Graph) -> [Double] {
        var m = [Double](repeating: 0, count: graph.edges.count)
        for s in 0..<count {
            for (k, e) in graph.edges.enumerated() { m[k] += Double(samples[s * units + e.u] * samples[s * units + e.v]) }
        }
        return m.map { $0 / Double(max(1, count)) }
    }
}

/// One interface for all samplers: `count` samples of `bm`'s distribution
/// (or, for optimizers and emulators, of what they model), drawing all
/// randomness from `generator`. Samplers with state (persistent chains)
/// are classes.
public protocol Sampler {
    func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet
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
