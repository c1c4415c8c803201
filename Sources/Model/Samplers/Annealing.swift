import Runtime
import CModelKernels

func pathSchedule(_ bm: BoltzmannMachine, temperatures: Int, sweepsPerStep: Int, spacing: BetaSpacing,
                  path: AnnealingPath) -> (betas: [Double], logZ0: Double) {
    let betas = betaSchedule(temperatures, spacing: spacing, from: 0, to: 1)
    let logZ0 = path == .couplings ? BoltzmannMachine.softplusSum(bm.bias) : Double(bm.units) * log(2.0)
    return (betas, logZ0)
}

/// Initial states drawn exactly from the path's β = 0 distribution.
func initBase(_ s: ChainState, _ bm: BoltzmannMachine, path: AnnealingPath, generator: inout Generator) {
    var g = generator.split()
    switch path {
    case .couplings:
        // p(z_l = 1) = σ(−b_l)
        let p = bm.bias.map { 1 / (1 + exp(Double($0))) }
        s.fill { _, l in g.uniformDouble() < p[l] ? 1 : 0 }
    case .full:
        s.fill { _, _ in Float(g.next() >> 63) }
    }
}

/// Annealed importance sampling (Neal 2001) of log Z.
///
/// Chains start from the path's exact β = 0 distribution and move through
/// `temperatures` inverse temperatures β_1 < … < β_K = 1 (`spacing`), each
/// transition `sweepsPerStep` block-Gibbs sweeps leaving p_{β_k} invariant.
/// log w = −Σ_k (β_k − β_{k−1}) E_path(z_{k−1}) with E_path the coupling
/// energy Σ W z z (`.couplings`, base = independent units with the
/// machine's biases, log Z_0 = Σ softplus(−b)) or the full H (`.full`,
/// uniform base, log Z_0 = N log 2). log Z = log Z_0 + log mean w; error =
/// delta method, sqrt(var(w)/M)/mean(w) (one standard error; reliable when
/// the ESS is not tiny). As a Sampler it returns the final states with
/// their log weights in `SampleSet.logWeights` (see `sample`).
public struct AnnealedImportanceSampling: Sampler {
    public var temperatures: Int
    public var sweepsPerStep: Int
    public var spacing: BetaSpacing
    public var path: AnnealingPath

    public init(temperatures: Int = 1000, sweepsPerStep: Int = 1, spacing: BetaSpacing = .linear,
                path: AnnealingPath = .couplings) {
        self.temperatures = temperatures; self.sweepsPerStep = sweepsPerStep
        self.spacing = spacing; self.path = path
    }

    /// Runs `chains` AIS chains; returns the estimate, final states
    /// (chains × units) and log weights.
    public func run(_ bm: BoltzmannMachine, chains: Int, generator: inout Generator) throws
        -> (estimate: LogZEstimate, samples: [Float], logWeights: [Double]) {
        try checkCount(chains, "AIS")
        try validate()
        let (betas, logZ0) = pathSchedule(bm, temperatures: temperatures, sweepsPerStep: sweepsPerStep,
                                          spacing: spacing, path: path)
        var bb: [Float] = [], bw: [Float] = [], cb: [Float] = [], cw: [Float] = []
        var prev = 0.0
        for b in betas {
            for s in 0..<sweepsPerStep {
                let d = s == 0 ? Float(b - prev) : 0
                bw.append(Float(b)); cw.append(d)
                bb.append(path == .couplings ? 1 : Float(b)); cb.append(path == .couplings ? 0 : d)
            }
            prev = b
        }
        let st = ChainState(units: bm.units, chains: chains)
        initBase(st, bm, path: path, generator: &generator)
        var streams = SweepKernel.makeStreams(tiles: st.tiles, generator: &generator)
        var logw = [Double](repeating: 0, count: st.paddedChains)
        try logw.withUnsafeMutableBufferPointer { lw in
            try SweepKernel(bm).run(.heatBath, state: st, streams: &streams,
                                    schedule: SweepSchedule(bb: bb, bw: bw, cb: cb, cw: cw), logw: lw.baseAddress)
        }
        let lw = Array(logw[0..<chains])
        let r = logMeanExp(lw)
        let est = LogZEstimate(logZ: logZ0 + r.value, error: r.error,
                               stats: ["ess": r.ess, "chains": Double(chains), "temperatures": Double(temperatures),
                                       "sweeps": Double(temperatures * sweepsPerStep), "logZ0": logZ0])
        return (est, st.extract(), lw)
    }

    public func estimateLogZ(_ bm: BoltzmannMachine, chains: Int = 1000, generator: inout Generator) throws -> LogZEstimate {
        if let exact = bm.exactLogZIfUncoupled, path == .couplings {
            return LogZEstimate(logZ: exact, error: 0, stats: ["exact": 1])
        }
        return try run(bm, chains: chains, generator: &generator).estimate
    }

    /// Final AIS states with their log weights (`SampleSet.logWeights`):
    /// importance-weighted, not equally weighted samples. `means()`,
    /// `pairMeans()`, `edgeMeans()` and `meanEnergy()` of the set use the
    /// weights; `resampled(generator:)` gives equally weighted samples. Stats
    /// carry "logZ", "logZ_err", "ess" (effective sample size).
    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        let r = try run(bm, chains: count, generator: &generator)
        var stats = r.estimate.stats
        stats["logZ"] = r.estimate.logZ; stats["logZ_err"] = r.estimate.error
        return SampleSet(units: bm.units, samples: r.samples, energies: try bm.energies(r.samples, batch: count),
                         stats: stats, logWeights: r.logWeights)
    }
}

/// Resampling scheme for population annealing.
public enum Resampling: String, Sendable {
    case systematic, multinomial
}

/// Population annealing (Hukushima–Iba; Machta) with a log Z estimate.
///
/// `populations` independent populations (together `count` replicas) start
/// from the path's exact β = 0 distribution; at each of `temperatures`
/// steps β_{k−1} → β_k the replicas are reweighted by
/// exp(−(β_k − β_{k−1}) E_path), the log of the mean normalized weight is
/// added to log Z, the population is resampled (systematic or multinomial)
/// whenever its ESS falls below `essThreshold` × replicas (1 = every step),
/// and `sweepsPerStep` block-Gibbs sweeps at β_k follow. The final
/// population is resampled to equal weights and returned.
///
/// log Z = log Z_0 + log mean_p exp(log Ẑ_p) over the populations; error =
/// the standard error from the spread of the independent populations,
/// std_p(log Ẑ_p)/sqrt(P) (needs P ≥ 2; NaN otherwise).
/// Stats: "logZ", "logZ_err", "ess_min" (smallest ESS fraction seen),
/// "resamplings", "populations", "temperatures", "sweeps".
public struct PopulationAnnealing: Sampler {
    public var temperatures: Int
    public var sweepsPerStep: Int
    public var populations: Int
    public var spacing: BetaSpacing
    public var path: AnnealingPath
    public var resampling: Resampling
    public var essThreshold: Double

    public init(temperatures: Int = 1000, sweepsPerStep: Int = 1, populations: Int = 4,
                spacing: BetaSpacing = .linear, path: AnnealingPath = .couplings,
                resampling: Resampling = .systematic, essThreshold: Double = 1) {
        self.temperatures = temperatures; self.sweepsPerStep = sweepsPerStep; self.populations = populations
        self.spacing = spacing; self.path = path; self.resampling = resampling; self.essThreshold = essThreshold
    }

    public func estimateLogZ(_ bm: BoltzmannMachine, replicas: Int = 4000, generator: inout Generator) throws -> LogZEstimate {
        if let exact = bm.exactLogZIfUncoupled, path == .couplings {
            return LogZEstimate(logZ: exact, error: 0, stats: ["exact": 1])
        }
        let s = try sample(bm, count: replicas, generator: &generator)
        return LogZEstimate(logZ: s.stats["logZ"]!, error: s.stats["logZ_err"]!, stats: s.stats)
    }

    func parents(_ wn: [Double], _ g: inout Generator) -> [Int] {
        switch resampling {
        case .systematic:
            return systematicResample(wn, &g)
        case .multinomial:
            let r = wn.count
            var out = [Int](repeating: 0, count: r)
            var t = (0..<r).map { _ in g.uniformDouble() }
            t.sort()
            var c = 0.0, i = 0
            for j in 0..<r {
                while i < r - 1 && c + wn[i] <= t[j] { c += wn[i]; i += 1 }
                out[j] = i
            }
            return out
        }
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try checkCount(count, "population annealing")
        try validate()
        try require(count >= populations,
                    "PA: need populations >= 1 and at least one replica per population (count \(count), populations \(populations))")
        let (betas, logZ0) = pathSchedule(bm, temperatures: temperatures, sweepsPerStep: sweepsPerStep,
                                          spacing: spacing, path: path)
        let P = populations
        let ranges = (0..<P).map { (count * $0 / P)..<(count * ($0 + 1) / P) }
        let cur = ChainState(units: bm.units, chains: count)
        var copied = 0
        initBase(cur, bm, path: path, generator: &generator)
        let kernel = SweepKernel(bm)
        var streams = SweepKernel.makeStreams(tiles: cur.tiles, generator: &generator)
        var rg = generator.split()
        var (eb, ew) = try kernel.energies(state: cur)
        var logW = [Double](repeating: 0, count: count)       // unnormalized log weights
        var logZp = [Double](repeating: 0, count: P)
        var essMin = 1.0, resamplings = 0
        var prev = 0.0
        func finish(_ p: Int, force: Bool) -> Bool {
            // Normalize; resample when needed. Returns whether it resampled.
            let r = ranges[p]
            let mx = r.map { logW[$0] }.max()!
            var wn = r.map { exp(logW[$0] - mx) }
            let s = wn.reduce(0, +)
            for i in wn.indices { wn[i] /= s }
            let ess = 1 / wn.reduce(0) { $0 + $1 * $1 } / Double(r.count)
            essMin = min(essMin, ess)
            if force ? ess < 1 - 1e-12 : ess < essThreshold {
                // Resample in place: each surviving replica keeps its slot for
                // its first copy; extra copies overwrite replicas with no
                // copies (same distribution, few chain copies).
                let par = parents(wn, &rg)
                var copies = [Int](repeating: 0, count: r.count)
                for q in par { copies[q] += 1 }
                var free = (0..<r.count).filter { copies[$0] == 0 }[...]
                var pairs: [(dst: Int, src: Int)] = []
                for q in 0..<r.count where copies[q] > 1 {
                    for _ in 1..<copies[q] { pairs.append((r.lowerBound + free.removeFirst(), r.lowerBound + q)) }
                }
                cur.copyChains(pairs)
                for c in r { logW[c] = 0 }
                copied += pairs.count
                return true
            }
            return false
        }
        for (k, b) in betas.enumerated() {
            let d = b - prev
            prev = b
            for p in 0..<P {
                let r = ranges[p]
                // increment = log Σ_i Wn_i exp(−d E_i), Wn the normalized current weights
                let old = logSumExp(r.map { logW[$0] })
                for c in r {
                    let e = path == .couplings ? ew[c] : eb[c] + ew[c]
                    logW[c] -= d * e
                }
                let new = logSumExp(r.map { logW[$0] })
                logZp[p] += new - old
                if finish(p, force: k == betas.count - 1) { resamplings += 1 }
            }
            if sweepsPerStep > 0 {
                let bwv = Float(b), bbv: Float = path == .couplings ? 1 : Float(b)
                let sched = SweepSchedule(bb: [Float](repeating: bbv, count: sweepsPerStep),
                                          bw: [Float](repeating: bwv, count: sweepsPerStep))
                try eb.withUnsafeMutableBufferPointer { e1 in
                    try ew.withUnsafeMutableBufferPointer { e2 in
                        try kernel.run(.heatBath, state: cur, streams: &streams, schedule: sched,
                                       eb: e1.baseAddress, ew: e2.baseAddress)
                    }
                }
            } else {
                (eb, ew) = try kernel.energies(state: cur)  // checks for Ctrl-C
            }
        }
        let combined = logMeanExp(logZp)
        let mean = logZp.reduce(0, +) / Double(P)
        let sd = P > 1 ? (logZp.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(P - 1)).squareRoot() : .nan
        let stats: [String: Double] = [
            "logZ": logZ0 + combined.value, "logZ_err": sd / Double(P).squareRoot(),
            "ess_min": essMin, "resamplings": Double(resamplings), "copied": Double(copied), "populations": Double(P),
            "temperatures": Double(temperatures), "sweeps": Double(temperatures * sweepsPerStep), "logZ0": logZ0,
        ]
        return SampleSet(units: bm.units, samples: cur.extract(),
                         energies: (0..<count).map { Float(eb[$0] + ew[$0]) }, stats: stats)
    }
}

/// log Σ_i exp(a_i).
func logSumExp(_ a: [Double]) -> Double {
    let mx = a.max() ?? 0
    var s = 0.0
    for v in a { s += exp(v - mx) }
    return mx + log(s)
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
