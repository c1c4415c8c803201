#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime

extension QuantumBoltzmannMachine {
    /// Exact log Z without couplers: Σ_l log(e^{−λ⁻_l} + e^{−λ⁺_l}) with
    /// λ± = b_l/2 ± sqrt(b_l²/4 + Γ_l²), the eigenvalues of [[0, Γ], [Γ, b]].
    /// Nil when the machine has couplers.
    public var uncoupledLogZ: Double? {
        guard machine.weights.allSatisfy({ $0 == 0 }) else { return nil }
        var s = 0.0
        for (b, g) in zip(machine.bias, gamma) {
            let h = Double(b) / 2, r = (h * h + Double(g) * Double(g)).squareRoot()
            // log(e^{−(h−r)} + e^{−(h+r)}) = −h + r + log1p(e^{−2r})
            s += -h + r + log1p(exp(-2 * r))
        }
        return s
    }
}

/// A quantum Boltzmann machine prior (Section I.C) trained with the Q-ELBO.
///
/// The prior is the QBM of Eq. 13 with diagonal part H(z) = b·z + Σ W z z
/// (conventions in `QuantumBoltzmannMachine`: σz = 2z − 1) and a fixed
/// transverse field Γ (a hyper-parameter, not trained). The Q-ELBO
/// replaces p(z) = ⟨z|e^{−H}|z⟩/Z by p̃(z) = e^{−H(z)}/Z (Eq. 14), a lower
/// bound by Golden–Thompson (Eq. 15), so the loss term −log p̃(ζ) =
/// H(ζ) + log Z is built from:
///
/// * `energy(ζ)`: the classical diagonal energy, exactly the Boltzmann
///   prior's positive phase (delegated to `classical`);
/// * `drawNegativePhase()`: the negative phase of Eq. 16, ⟨z_l⟩ and
///   ⟨z_u z_v⟩ under the quantum Boltzmann distribution, estimated by
///   path-integral Monte Carlo with persistent chains (the one call that
///   advances them);
/// * `logZ(negativePhase:)`: the *quantum* log Z, whose gradient is that
///   phase, ∂log Z/∂b_l = −⟨z_l⟩, ∂log Z/∂W_e = −⟨z_u z_v⟩ (exact: ∂H/∂θ
///   is diagonal, so the quantum log Z has this gradient).
///
/// The value of `logZ(negativePhase:)` is exact by diagonalization for N ≤ `exactUnits`
/// (closed form without couplers), otherwise the estimate cached by the
/// last `estimateLogZ` (quantum AIS; `stats["logZ_stale"]` says whether the
/// parameters changed since), or before any estimate the uncoupled value.
/// With Γ = 0 everything equals the classical `BoltzmannPrior`.
///
/// Parameters are "bias" [N] and "weights" [E] (the classical prior's
/// tensors). State (`localBuffers`, restored in place by `loadStateDict`):
/// the PIMC chains, the cached log Z and the prior's random stream, so a
/// resumed run continues identically. After `localBuffers` has been read
/// the buffer tensors are authoritative: the next operation reloads its
/// state from them.
public final class QuantumPrior: LatentPrior {
    /// The classical machine holding b, W and the positive phase.
    public let classical: BoltzmannPrior
    /// The negative-phase sampler (persistent chains, all slices returned).
    public let sampler: PathIntegralSampler
    /// Chains per negative phase (each contributes all M slices). Set it
    /// with `setNegativeSamples`, which checks that the paths fit in memory.
    public internal(set) var negativeSamples: Int {
        get { _negativeSamples }
        set { absorbBuffers(); _negativeSamples = max(1, newValue) }
    }

    /// Sets the chains per negative phase. Each chain is a path of N·M
    /// spins held as floats in a few buffers (the sampler's tiles, the
    /// checkpoint buffer, the copies made on saving and loading): a count
    /// whose buffers exceed the machine's physical memory, or whose paths
    /// exceed 2^30 spins, is an error naming `negativeSamples` here instead
    /// of an abort at the next negative phase or checkpoint.
    public func setNegativeSamples(_ n: Int) throws {
        let (width, o) = units.multipliedReportingOverflow(by: slices)
        try checkChainMemory(n, width: o ? Int.max : width, buffers: 4, field: "negativeSamples",
                             what: "chains of \(units) units × \(slices) slices")
        try checkPathSize(units: units, slices: slices, chains: n, "quantum prior")
        negativeSamples = n
    }
    /// N ≤ this: `logZ()`'s value by exact diagonalization every call.
    public var exactUnits: Int = 10
    /// Sweeps of fresh PIMC chains in `sample`.
    public var sampleSweeps: Int = 1000
    /// Quantum AIS settings of `estimateLogZ` (N > `exactUnits`).
    public var aisChains: Int = 256
    public var aisTemperatures: Int = 1000
    public var training = true
    /// β_eff of Eq. C2 (the scale of H(ζ)'s gradient into the encoder);
    /// 1 for PIMC, which samples the QBM at β = 1.
    public var betaEff: Float = 1
    /// "logZ_source" (0 closed form, 1 diagonalization, 2 cached estimate,
    /// 3 uncoupled stand-in), "logZ_stale", "logZ_error", "neg_energy"
    /// (mean H_cl of the negative samples), "sigma_x" (mean ⟨σx⟩).
    public private(set) var stats: [String: Double] = [:]
    private var cache: (estimate: LogZEstimate, hash: UInt64)?
    private var exactCache: (machine: QuantumBoltzmannMachine, moments: QuantumExactMoments)?
    private var generator: Generator
    private var _negativeSamples = 1000
    // Buffer tensors (reused objects, so loadStateDict writes into them).
    private var chainsBuffer: Tensor       // [negativeSamples, N·M] PIMC paths
    private let chainsValid = try! Tensor.zeros([1])
    private let cacheBuffer = try! Tensor.zeros([8])   // value, error, valid, exact, parameter hash
    private let rngBuffer = try! Tensor.zeros([16])    // generator state, 16-bit pieces
    private var buffersAuthoritative = false

    /// A prior on `graph` with transverse field Γ (one value or one per
    /// unit), b = `biasInit`, W ~ N(0, weightScale²), M = `slices`.
    public init(graph: Graph, gamma: [Float], slices: Int = 16, sweeps: Int = 10, burnIn: Int = 100,
                biasInit: Float = 0, weightScale: Float = 0.01, generator: inout Generator) throws {
        try require(gamma.count == 1 || gamma.count == graph.nodeCount, field: "gamma",
                    "expected 1 or \(graph.nodeCount) values (one per unit), got \(gamma.count)")
        try requireRange(sweeps, 1, 100_000_000, field: "sweeps")
        try requireFinite(Double(biasInit), min: -.greatestFiniteMagnitude, field: "biasInit")
        try requireFinite(Double(weightScale), field: "weightScale")
        classical = try BoltzmannPrior(graph: graph, biasInit: biasInit, weightScale: weightScale, generator: &generator)
        sampler = PathIntegralSampler(gamma: gamma, slices: slices, sweeps: sweeps, burnIn: burnIn,
                                      persistent: true, allSlices: true)
        try sampler.validate()
        self.generator = generator.split()
        // sized by `materializeBuffers` when first read (the chain count may still change)
        chainsBuffer = try Tensor.zeros([0, graph.nodeCount * slices])
    }

    public convenience init(graph: Graph, gamma: Float, slices: Int = 16, sweeps: Int = 10, burnIn: Int = 100,
                            biasInit: Float = 0, weightScale: Float = 0.01) throws {
        try self.init(graph: graph, gamma: [gamma], slices: slices, sweeps: sweeps, burnIn: burnIn,
                      biasInit: biasInit, weightScale: weightScale, generator: &GlobalRandom.generator)
    }

    public var graph: Graph { classical.graph }
    public var units: Int { classical.units }
    public var bias: Tensor { classical.bias }
    public var weights: Tensor { classical.weights }
    public var localParameters: [(String, Tensor)] { classical.localParameters }
    /// PIMC sweeps per negative phase (as `BoltzmannPrior.negativeSweeps`).
    public var negativeSweeps: Int? { sampler.sweeps }

    /// Sets the PIMC sweeps per negative phase; an error naming the field
    /// `sweeps` outside 1...1,000,000 (a schedule of sweeps in training).
    public func setNegativeSweeps(_ n: Int) throws {
        try require(n >= 1 && n <= 1_000_000, field: "sweeps", "must be in 1..1000000, got \(n)")
        sampler.sweeps = n
    }

    /// Γ per unit (broadcast when one value was given).
    public var gamma: [Float] { sampler.gamma.count == 1 ? [Float](repeating: sampler.gamma[0], count: units) : sampler.gamma }
    public var slices: Int { sampler.slices }

    /// The current parameters as a numeric QBM (a copy).
    public func quantumMachine() throws -> QuantumBoltzmannMachine {
        try QuantumBoltzmannMachine(machine: try checkedMachine("quantum prior"), gamma: gamma)
    }

    /// H(ζ) (the classical diagonal energy, Eq. 14), differentiable in ζ, b, W.
    public func energy(_ zeta: Tensor) throws -> Tensor { try classical.energy(zeta) }

    /// The PIMC negative phase is always sampled.
    public var negativePhaseIsSampled: Bool { true }

    /// Quantum log Z as a 0-d tensor whose gradient is `negativePhase`'s
    /// moments (required in grad mode when b or W require grad: draw it with
    /// `drawNegativePhase`); changes no sampling state.
    public func logZ(negativePhase: NegativePhase?) throws -> Tensor {
        absorbBuffers()
        let value = try logZValue()
        guard GradMode.isEnabled, bias.requiresGrad || weights.requiresGrad else { return Tensor(scalar: Float(value)) }
        guard let phase = negativePhase else {
            throw ModelError(field: "negativePhase",
                             "is required to train the quantum prior's parameters (its log Z gradient is sampled by PIMC): "
                             + "draw the prior's negative phase before the forward pass, or compute without gradients")
        }
        try phase.check(units: units, edges: graph.edgeCount)
        return try phase.logZTensor(value: value, bias: bias, weights: weights)
    }

    /// The negative phase of Eq. 16: ⟨z_l⟩ and ⟨z_u z_v⟩ under the quantum
    /// Boltzmann distribution, from `negativeSamples` persistent PIMC chains
    /// advanced by the sampler's sweeps, averaged over all M slices (each
    /// slice's marginal is p(z)); `meanEnergy` is ⟨H(z)⟩ over the slices.
    /// β_eff is not tracked (PIMC samples at β = 1): a `betaEffRate` > 0 is
    /// an error. Stats: "neg_energy", "sigma_x" (mean ⟨σx⟩), "slices".
    public func drawNegativePhase(betaEffRate: Float?) throws -> NegativePhase {
        absorbBuffers()
        try require((betaEffRate ?? 0) == 0, field: "betaEffRate",
                    "a quantum prior does not track β_eff (PIMC samples the QBM at β = 1)")
        let q = try quantumMachine()
        let count = negativeSamples, n = units, m = slices, T = ChainState.tileWidth
        let r = try sampler.advance(q, count: count, generator: &generator)
        // per slice: unit-major [N, chains] from the tiles, moments by the prior's kernels
        var means = [Double](repeating: 0, count: n), edges = [Double](repeating: 0, count: graph.edgeCount)
        let U = try Tensor.zeros([n, count])
        for k in 0..<m {
            for t in 0..<r.state.tiles {
                let lanes = min(T, count - t * T), tp = r.state.tile(t)
                for l in 0..<n { (U.data + l * count + t * T).update(from: tp + (k * n + l) * T, count: lanes) }
            }
            let mo = try sampleMoments(classical.layout, unitMajor: U)
            for l in 0..<n { means[l] += Double(mo.means[l]) / Double(m) }
            for e in 0..<edges.count { edges[e] += Double(mo.edgeMeans[e]) / Double(m) }
        }
        let sx = sigmaXEstimate(r.state, chains: count, units: n, slices: m, gamma: q.gamma)
        let st: [String: Double] = ["neg_energy": r.meanEnergy, "sigma_x": sx.mean.reduce(0, +) / Double(max(1, n)),
                                    "slices": Double(m)]
        stats.merge(st) { _, b in b }
        return NegativePhase(means: means.map(Float.init), edgeMeans: edges.map(Float.init), samples: count,
                             meanEnergy: r.meanEnergy, drawnAtBetaEff: betaEff, betaEff: betaEff, stats: st)
    }

    /// The forward value of `logZ()`, updating stats.
    func logZValue() throws -> Double {
        let q = try quantumMachine()
        if let v = q.uncoupledLogZ {
            stats["logZ_source"] = 0; stats["logZ_stale"] = 0
            return v
        }
        if units <= min(exactUnits, QuantumExact.maxUnits) {
            stats["logZ_source"] = 1; stats["logZ_stale"] = 0
            return try exactMoments(q).logZ
        }
        if let c = cache {
            stats["logZ_source"] = 2; stats["logZ_error"] = c.estimate.error
            stats["logZ_stale"] = c.hash == classical.parameterHash() ? 0 : 1
            return c.estimate.logZ
        }
        stats["logZ_source"] = 3; stats["logZ_stale"] = 1
        var free = q
        free.machine.weights = free.machine.weights.map { _ in 0 }
        return free.uncoupledLogZ!
    }

    /// Quantum log Z with its standard error: exact (error 0) without
    /// couplers or for N ≤ 12 by diagonalization, otherwise quantum AIS
    /// (`aisChains` × `aisTemperatures`, M = `slices`; the Trotter error is
    /// not in the bar). Cached for `logZ()`'s value.
    public func estimateLogZ(generator g: inout Generator) throws -> (logZ: Double, error: Double) {
        let e = try estimateLogZ(chains: aisChains, temperatures: aisTemperatures, generator: &g)
        return (e.logZ, e.error)
    }

    /// Same with explicit AIS settings; `exact` forces diagonalization
    /// (N ≤ `QuantumExact.maxUnits`).
    public func estimateLogZ(chains: Int, temperatures: Int, exact: Bool = false,
                             generator g: inout Generator) throws -> LogZEstimate {
        absorbBuffers()
        let q = try quantumMachine()
        let est: LogZEstimate
        if let v = q.uncoupledLogZ {
            est = LogZEstimate(logZ: v, error: 0, stats: ["exact": 1])
        } else if units <= 12 || exact {
            est = LogZEstimate(logZ: try exactMoments(q).logZ, error: 0, stats: ["exact": 1])
        } else {
            est = try QuantumAnnealedImportanceSampling(temperatures: temperatures, slices: slices)
                .estimateLogZ(q, chains: chains, generator: &g)
        }
        cache = (est, classical.parameterHash())
        return est
    }

    /// N ≤ this: evaluation also reports log p(x) with the true p(z)
    /// (`exactLogProbabilities`; a diagonalization of 2^N × 2^N).
    public static let exactLikelihoodUnits = 12

    /// log p(z) of the true marginal, the diagonal of ρ = e^{−H}/Tr e^{−H}
    /// in the σz basis, for every state (bit l = z_l; 2^N entries) by exact
    /// diagonalization — not the Q-ELBO's p̃(z) = e^{−H(z)}/Z, which is
    /// ≤ p(z) (Eq. 15). Nil when N > `exactLikelihoodUnits`.
    public func exactLogProbabilities() throws -> [Double]? {
        guard units <= QuantumPrior.exactLikelihoodUnits else { return nil }
        return try exactMoments(try quantumMachine()).probabilities.map { log($0) }
    }

    /// `QuantumExact.moments(q)` of the current parameters, diagonalized
    /// once per parameter set: an evaluation's exact log Z and exact p(z)
    /// share one diagonalization (seconds at N = 12).
    func exactMoments(_ q: QuantumBoltzmannMachine) throws -> QuantumExactMoments {
        if let c = exactCache, c.machine.gamma == q.gamma, c.machine.machine.bias == q.machine.bias,
           c.machine.machine.weights == q.machine.weights { return c.moments }
        let m = try QuantumExact.moments(q)
        exactCache = (q, m)
        return m
    }

    /// The estimate cached by the last `estimateLogZ`, if any, with
    /// "stale" = 1 when the parameters changed since.
    public var cachedLogZ: LogZEstimate? {
        absorbBuffers()
        guard let c = cache else { return nil }
        var st = c.estimate.stats
        st["stale"] = c.hash == classical.parameterHash() ? 0 : 1
        return LogZEstimate(logZ: c.estimate.logZ, error: c.estimate.error, stats: st)
    }

    /// `n` samples of p(z) as [n, N] 0/1: slice 0 of fresh PIMC chains after
    /// `sampleSweeps` sweeps (never the training chains), or `sampler`'s
    /// samples of the classical machine (e.g. a `PathIntegralSampler`).
    public func sample(_ n: Int, using other: (any Sampler)?, generator g: inout Generator) throws -> Tensor {
        try require(n >= 1, field: "n", "must be >= 1, got \(n)")
        if let other {
            return try Tensor(try samples(of: try checkedMachine("prior sample"), n, sampler: other, generator: &g).samples,
                              shape: [n, units])
        }
        let s = PathIntegralSampler(gamma: gamma, slices: slices, sweeps: sampleSweeps, burnIn: 0, persistent: false)
        let r = try s.sample(try quantumMachine(), count: n, generator: &g)
        return try Tensor(r.samples.samples, shape: [n, units])
    }

    // MARK: buffers

    /// "pimc_chains" [negativeSamples, N·M] and "pimc_chains_valid" [1] (the
    /// negative phase's persistent paths), "logz_cache" [8] (value, error,
    /// valid, exact flag, parameter fingerprint), "rng" [16] (the prior's
    /// generator state in 16-bit pieces).
    public var localBuffers: [(String, Tensor)] {
        absorbBuffers()
        materializeBuffers()
        buffersAuthoritative = true
        return [("pimc_chains", chainsBuffer), ("pimc_chains_valid", chainsValid),
                ("logz_cache", cacheBuffer), ("rng", rngBuffer)]
    }

    /// Writes the live state into the buffer tensors.
    private func materializeBuffers() {
        let width = units * slices
        if chainsBuffer.shape != [_negativeSamples, width] { chainsBuffer = try! Tensor.zeros([_negativeSamples, width]) }
        if let paths = sampler.chainStates, paths.count == chainsBuffer.count {
            paths.withUnsafeBufferPointer { chainsBuffer.data.update(from: $0.baseAddress!, count: $0.count) }
            chainsValid.data[0] = 1
        } else {
            chainsValid.data[0] = 0
        }
        let c = cacheBuffer.data
        for i in 0..<8 { c[i] = 0 }
        if let (e, h) = cache {
            c[0] = Float(e.logZ); c[1] = Float(e.error); c[2] = 1; c[3] = e.stats["exact"] == 1 ? 1 : 0
            storeWords([h], into: c + 4)
        }
        storeWords(generator.state, into: rngBuffer.data)
    }

    /// Reloads the live state from the buffer tensors if they may have been
    /// written (after `localBuffers` was handed out).
    private func absorbBuffers() {
        guard buffersAuthoritative else { return }
        buffersAuthoritative = false
        if chainsValid.data[0] == 1, chainsBuffer.shape == [_negativeSamples, units * slices] {
            try? sampler.setChains(chainsBuffer.toArray().map { $0 >= 0.5 ? 1 : 0 }, units: units)
        } else {
            sampler.reset()
        }
        let c = cacheBuffer.data
        cache = c[2] == 1 ? (LogZEstimate(logZ: Double(c[0]), error: Double(c[1]), stats: ["exact": Double(c[3])]),
                             loadWords(1, from: c + 4)[0]) : nil
        if let g = Generator(state: loadWords(4, from: rngBuffer.data)) { generator = g }
    }
}

/// 64-bit words as 16-bit pieces in Float buffers (exact in Float32), for
/// checkpointed state such as generator states and fingerprints.
func storeWords(_ words: [UInt64], into p: UnsafeMutablePointer<Float>) {
    for (w, x) in words.enumerated() {
        for i in 0..<4 { p[4 * w + i] = Float((x >> UInt64(16 * i)) & 0xFFFF) }
    }
}

func loadWords(_ count: Int, from p: UnsafeMutablePointer<Float>) -> [UInt64] {
    (0..<count).map { w in
        var x: UInt64 = 0
        for i in 0..<4 { x |= UInt64(UInt16(max(0, min(65535, p[4 * w + i])))) << UInt64(16 * i) }
        return x
    }
}
