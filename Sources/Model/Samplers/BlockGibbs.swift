import Runtime
import CModelKernels

/// Block Gibbs sampling with persistent chains (PCD).
///
/// Each call advances `count` chains by `sweeps` sweeps at inverse
/// temperature `beta` and returns their states. A sweep updates the graph's
/// independent sets one after another (every unit once), each unit drawn
/// from p(z_l = 1 | rest) = σ(−β(b_l + Σ_m W_lm z_m)). Chains persist
/// between calls (the PCD negative phase); they are (re)initialized —
/// uniformly at random, then `burnIn` extra sweeps — on the first call,
/// when `count` or the unit count changes, after `reset()`, or on every
/// call when `persistent` is false. Work runs on all cores over tiles of
/// 32 chains with one random stream per tile, so results depend only on
/// the generator, not on the thread count.
///
/// Bipartite graphs (two independent sets) whose couplers fill at least
/// `denseThreshold` of the |A|·|B| block, e.g. the full RBM, run a dense
/// kernel (register-blocked products, no neighbour indices); other graphs
/// the sparse one. Both give the same Markov chain in distribution.
///
/// Stats: "sweeps", "chains", "beta", "dense" (1 when the dense kernel ran).
public final class BlockGibbsSampler: Sampler {
    /// Bipartite graphs with edges ≥ this fraction of |A|·|B| use the dense
    /// kernel. Measured on the 2-core AVX-512 machine (BENCHMARKS.md,
    /// `bmbench gibbs-dense`), sides of 144, 1000 chains: dense 1.8–2.0× the
    /// sparse kernel on the full RBM, 0.9–1.1× at density 0.5, 0.8× at 0.3;
    /// Chimera (density 0.04 of its two shores) stays sparse.
    public nonisolated(unsafe) static var denseThreshold: Double = 0.5
    /// Whether the last call ran the dense kernel.
    var lastRunDense = false
    public var sweeps: Int
    public var burnIn: Int
    public var beta: Float
    public var persistent: Bool
    var state: ChainState?
    /// Global index of `state`'s first chain (nonzero when the chains are
    /// one rank's block of a sharded set, `ChainShard`).
    var stateOffset = 0

    public init(sweeps: Int = 10, burnIn: Int = 0, beta: Float = 1, persistent: Bool = true) {
        self.sweeps = sweeps; self.burnIn = burnIn; self.beta = beta; self.persistent = persistent
    }

    /// Number of persistent chains (0 before the first call).
    public var chains: Int { state?.chains ?? 0 }

    /// Drops the persistent chains.
    public func reset() { state = nil; stateOffset = 0 }

    /// The persistent chains (chains × units), or nil.
    public var chainStates: [Float]? { state?.extract() }

    /// Sets the persistent chains from chain-major {0,1} values.
    public func setChains(_ samples: [Float], units: Int) throws {
        try require(units > 0 && samples.count % units == 0 && !samples.isEmpty,
                    "setChains: \(samples.count) values is not a whole number of \(units)-unit chains")
        try require(samples.allSatisfy { $0 == 0 || $0 == 1 }, "setChains: chain values must be 0 or 1")
        let s = ChainState(units: units, chains: samples.count / units)
        samples.withUnsafeBufferPointer { s.load($0) }
        state = s
        stateOffset = 0
    }

    /// Sets the chains to the block `range` of a sharded set of chains
    /// (chain-major {0,1} values of those chains, possibly none).
    func setChains(_ samples: [Float], units: Int, block range: Range<Int>) {
        let s = ChainState(units: units, chains: range.count)
        if !range.isEmpty { samples.withUnsafeBufferPointer { s.load($0) } }
        state = s
        stateOffset = range.lowerBound
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        let r = try step(bm, count: count, generator: &generator)
        return SampleSet(units: bm.units, samples: r.state.extract(),
                         energies: (0..<count).map { Float(r.eb[$0] + r.ew[$0]) },
                         stats: ["sweeps": Double(r.sweeps), "chains": Double(count), "beta": Double(beta),
                                 "dense": lastRunDense ? 1 : 0])
    }

    /// One call's work, shared by `sample` and `advance`: checks the
    /// settings, (re)initializes the chains when needed (uniform, then
    /// `burnIn` extra sweeps) and runs the sweeps. Returns the chains, the
    /// sweeps run and the final energies per padded chain.
    ///
    /// `block`: only the chains `block` of the `count` (a `ChainShard`'s,
    /// whole tiles) are held and advanced, each exactly as in the whole
    /// set: the generator is used as for all `count` chains.
    func step(_ bm: BoltzmannMachine, count: Int, generator: inout Generator, block: Range<Int>? = nil) throws
        -> (state: ChainState, sweeps: Int, eb: [Double], ew: [Double]) {
        try checkCount(count, "block Gibbs", units: bm.units)
        try validate()
        let held = block ?? 0..<count
        let T = ChainState.tileWidth
        precondition((held.lowerBound % T == 0 || held.lowerBound == count) && held.upperBound <= count
                     && (held.upperBound == count || held.upperBound % T == 0), "step: block \(held) is not whole tiles")
        var extra = 0
        if !persistent || state == nil || state!.chains != held.count || state!.units != bm.units
            || stateOffset != held.lowerBound {
            let s = ChainState(units: bm.units, chains: held.count)
            var g = generator.split()
            // The whole set is filled chain by chain: skip the draws of the chains before the block.
            for _ in 0..<(held.lowerBound * bm.units) { _ = g.next() }
            s.fill { _, _ in Float(g.next() >> 63) }
            state = s
            stateOffset = held.lowerBound
            extra = burnIn
        }
        let s = state!
        let (eb, ew) = try runSweeps(bm, state: s, sweeps: sweeps + extra, generator: &generator,
                                     tiles: (held.lowerBound + T - 1) / T, of: (count + T - 1) / T)
        return (s, sweeps + extra, eb, ew)
    }
}

/// Simulated annealing on the Ising form (spins ±1, E = h·s + Σ J s s):
/// Metropolis single-spin sweeps (in independent-set order) along a β
/// schedule; final spins map back to z = (1 + s)/2.
///
/// Default β range (as dwave-samplers' heuristic): hot β = ln 2 / (2 max_l
/// (|h_l| + Σ_m |J_lm|)), cold β = ln(N / 0.01) / (2 min nonzero |h_l| or
/// |J|); geometric spacing. An explicit `schedule` (one β per sweep)
/// overrides both. Stats: "sweeps", "beta_hot", "beta_cold".
public struct SimulatedAnnealing: Sampler {
    public var sweeps: Int
    public var betaRange: (Double, Double)?
    public var spacing: BetaSpacing
    public var schedule: [Double]?

    public init(sweeps: Int = 1000, betaRange: (Double, Double)? = nil, spacing: BetaSpacing = .geometric,
                schedule: [Double]? = nil) {
        self.sweeps = sweeps; self.betaRange = betaRange; self.spacing = spacing; self.schedule = schedule
    }

    /// The heuristic (hot, cold) β range for an Ising problem.
    public static func defaultBetaRange(_ ising: IsingModel) -> (Double, Double) {
        let n = ising.graph.nodeCount
        var sumAbs = ising.h.map { Double(abs($0)) }
        var minAbs = ising.h.map { $0 == 0 ? Double.infinity : Double(abs($0)) }
        for (k, e) in ising.graph.edges.enumerated() {
            let a = Double(abs(ising.J[k]))
            sumAbs[e.u] += a; sumAbs[e.v] += a
            if a > 0 { minAbs[e.u] = min(minAbs[e.u], a); minAbs[e.v] = min(minAbs[e.v], a) }
        }
        let maxField = sumAbs.max() ?? 0
        let minField = minAbs.min() ?? .infinity
        let hot = maxField > 0 ? log(2.0) / (2 * maxField) : 1
        let cold = minField.isFinite && minField > 0 ? log(Double(max(n, 1)) / 0.01) / (2 * minField) : 1
        return (hot, max(cold, hot))
    }

    func betas(for ising: IsingModel) throws -> [Double] {
        if let s = schedule {
            try validate()
            return s
        }
        try validate()
        let (hot, cold) = betaRange ?? SimulatedAnnealing.defaultBetaRange(ising)
        try require(hot > 0 && cold >= hot && cold.isFinite, field: "betaRange", "must satisfy 0 < hot <= cold")
        if sweeps == 1 { return [cold] }
        switch spacing {
        case .geometric: return (0..<sweeps).map { hot * pow(cold / hot, Double($0) / Double(sweeps - 1)) }
        case .linear: return (0..<sweeps).map { hot + (cold - hot) * Double($0) / Double(sweeps - 1) }
        }
    }

    /// Anneals `count` reads of an Ising problem; returns spins (count × N,
    /// ±1) and their energies E(s) + offset.
    public func sample(ising: IsingModel, count: Int, generator: inout Generator) throws
        -> (spins: [Float], energies: [Double], betas: [Double]) {
        try checkCount(count, "SA", units: ising.h.count)
        let betas = try self.betas(for: ising)
        let n = ising.graph.nodeCount
        let s = ChainState(units: n, chains: count)
        var g = generator.split()
        s.fill { _, _ in g.next() >> 63 == 0 ? -1 : 1 }
        let kernel = SweepKernel(graph: ising.graph, bias: ising.h, weights: ising.J)
        var streams = SweepKernel.makeStreams(tiles: s.tiles, generator: &generator)
        let fb = betas.map { Float($0) }
        var eb = [Double](repeating: 0, count: s.paddedChains)
        var ew = [Double](repeating: 0, count: s.paddedChains)
        try eb.withUnsafeMutableBufferPointer { e1 in
            try ew.withUnsafeMutableBufferPointer { e2 in
                try kernel.run(.metropolis, state: s, streams: &streams, schedule: SweepSchedule(bb: fb, bw: fb),
                               eb: e1.baseAddress, ew: e2.baseAddress)
            }
        }
        return (s.extract(), (0..<count).map { eb[$0] + ew[$0] + ising.offset }, betas)
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        let ising = bm.toIsing()
        let r = try sample(ising: ising, count: count, generator: &generator)
        return SampleSet(units: bm.units, samples: r.spins.map { ($0 + 1) / 2 },
                         energies: r.energies.map { Float($0) },
                         stats: ["sweeps": Double(r.betas.count), "beta_hot": r.betas.first ?? 0,
                                 "beta_cold": r.betas.last ?? 0])
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
