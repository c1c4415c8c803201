#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime

/// How `BoltzmannPrior.estimateLogZ` estimates log Z.
public enum LogZMethod: Sendable {
    /// Enumeration of all 2^N states (N ≤ 24).
    case exact
    /// Annealed importance sampling (couplings path, linear β).
    case ais(chains: Int, temperatures: Int)
    /// Population annealing; the error bar comes from the spread of the
    /// independent populations (needs populations ≥ 2).
    case pa(replicas: Int, temperatures: Int, populations: Int)
}

/// A Boltzmann machine as a trainable prior p(z) = e^{−H(z)}/Z over
/// z ∈ {0,1}^N for the discrete VAE, H(z) = b·z + Σ_{e=(u,v)} W_e z_u z_v.
///
/// The loss term −log p(ζ) = H(ζ) + log Z is built from two ops and one
/// explicit step:
///
/// * `energy(ζ)` — the positive phase, an exact differentiable op
///   [B, N] → [B] (gradients w.r.t. ζ, b and W);
/// * `drawNegativePhase()` — the step: ⟨z⟩_p and ⟨z_u z_v⟩_p from
///   `negativeSamples` samples of `sampler` (PCD chains advance; optional
///   Eq. C3 β_eff update). The only call that changes sampling state.
/// * `logZ(negativePhase:)` — a 0-d tensor whose *gradient* is that phase,
///   ∂logZ/∂b = −⟨z⟩_p, ∂logZ/∂W = −⟨z_u z_v⟩_p. Its *value* is exact
///   when the graph has no edges or N ≤ `exactUnits`, otherwise the value
///   cached by the last `estimateLogZ` (see `logZ(negativePhase:)`).
///
/// Typical step: `phase = prior.drawNegativePhase()`, then
/// `loss = mean(recon + logq + prior.energy(ζ)) + prior.logZ(negativePhase: phase)`,
/// `backward`, optimizer step, `prior.clamp(...)`.
///
/// Graph families: any `Graph`. The edge-free graph (`Graph.bernoulli(N)`,
/// the "Bernoulli" prior) has `weights` of shape [0] (a zero-size leaf
/// that optimizers accept and skip) and everything exact: log Z =
/// Σ softplus(−b), ∂logZ/∂b = −σ(−b), no sampling. Dense bipartite graphs
/// (`Graph.fullBipartite(144, 144)`, the "full RBM") evaluate energies and
/// negative-phase moments with sgemm; sparse graphs (Chimera, Pegasus) with
/// per-edge kernels over unit-major batches.
///
/// State (`localBuffers`, saved by `stateDict()` and restored in place by
/// `loadStateDict`): the PCD chains, the β_eff tracker's chains, β_eff,
/// the cached log Z and the prior's own random stream, so a resumed run
/// continues identically. After `localBuffers` has been read, the buffer
/// tensors are authoritative: the next operation reloads its state from
/// them (that is how `loadStateDict` reaches the chains).
public final class BoltzmannPrior: Module {
    public let graph: Graph
    /// b, [N], a leaf requiring grad.
    public let bias: Tensor
    /// W, [E] in `graph.edges` order, a leaf requiring grad ([0] when the
    /// graph has no edges).
    public let weights: Tensor
    public var training: Bool = true
    public var localParameters: [(String, Tensor)] { [("bias", bias), ("weights", weights)] }

    /// Graphs with ≤ this many units get log Z by enumeration in `logZ()`
    /// (each call enumerates 2^N states twice: keep it small). 0 disables.
    public var exactUnits: Int = 20
    /// Block Gibbs sweeps from fresh random chains in `sample` (default sampler).
    public var sampleSweeps: Int = 1000
    /// The default rate of `drawNegativePhase`: when > 0, every negative
    /// phase also applies one Eq. C3 update of `betaEff` with the samples
    /// just drawn, as the paper does when the negative phase comes from an
    /// annealer at unknown β.
    public var betaEffRate: Float? = nil
    /// Number of thermal chains of the auxiliary BM in `updateBetaEff`.
    public let betaEffChains: Int
    /// Statistics: those of the last negative phase ("neg_energy", the mean
    /// H of its samples; "hw_energy"/"bm_energy"/"beta_eff" of its Eq. C3
    /// update, or of the last `updateBetaEff`) and where `logZ`'s value
    /// comes from now ("logZ_source", "logZ_stale", ... see `logZStats`).
    public var stats: [String: Double] { phaseStats.merging(logZStats) { a, _ in a } }
    private var phaseStats: [String: Double] = [:]

    let layout: EnergyLayout
    private var _sampler: any Sampler
    private var _negativeSamples: Int
    private var _generator: Generator
    /// Thermal sampler of the auxiliary BM for Eq. C3 (β set per call).
    let betaSampler: BlockGibbsSampler

    // Buffer tensors (reused objects, so loadStateDict writes into them).
    private var chainsBuffer: Tensor
    private let chainsValid: Tensor        // [1]: 1 when chainsBuffer holds PCD chains
    private let betaChainsBuffer: Tensor
    private let betaChainsValid: Tensor
    private let betaEffBuffer: Tensor      // [] β_eff (the source of truth)
    private let cacheBuffer: Tensor        // [8] log Z cache (source of truth)
    private let rngBuffer: Tensor          // [16] generator state, 16-bit pieces
    private var buffersAuthoritative = false
    private var cacheAge = 0
    /// This process's block of the PCD chains, when they are split over
    /// the ranks of a data-parallel run (`shardChains`).
    public private(set) var chainShard: ChainShard?

    /// Prior with b = `biasInit` and W ~ N(0, weightScale²) (random stream
    /// split from `generator`; the prior keeps its own stream for sampling).
    /// `betaEffRate` sets the property of that name (finite, ≥ 0).
    public init(graph: Graph, biasInit: Float = 0, weightScale: Float = 0.01, betaEffRate: Float? = nil,
                generator: inout Generator) throws {
        try require(graph.nodeCount >= 1, field: "graph", "the graph has no units")
        try require(biasInit.isFinite, field: "biasInit", "must be finite, got \(numberText(biasInit))")
        try require(weightScale.isFinite && weightScale >= 0, field: "weightScale", "must be finite and >= 0, got \(numberText(weightScale))")
        try require(betaEffRate.map { $0.isFinite && $0 >= 0 } ?? true, field: "betaEffRate",
                    "must be finite and >= 0, got \(numberText(betaEffRate ?? 0))")
        self.betaEffRate = betaEffRate
        self.graph = graph
        let n = graph.nodeCount, e = graph.edgeCount
        bias = try Tensor.full([n], biasInit).requiringGrad()
        var w = [Float](repeating: 0, count: e)
        for k in 0..<e { w[k] = weightScale * generator.normal() }
        weights = try Tensor(w, shape: [e]).requiringGrad()
        _generator = generator.split()
        layout = EnergyLayout(graph: graph, denseThreshold: BoltzmannPrior.denseThreshold)
        _sampler = BlockGibbsSampler(sweeps: 10, burnIn: 100, beta: 1, persistent: true)
        _negativeSamples = 1000
        betaEffChains = 1000
        betaSampler = BlockGibbsSampler(sweeps: 10, burnIn: 100, beta: 1, persistent: true)
        chainsBuffer = try Tensor.zeros([_negativeSamples, n])
        chainsValid = try Tensor.zeros([1])
        betaChainsBuffer = try Tensor.zeros([betaEffChains, n])
        betaChainsValid = try Tensor.zeros([1])
        betaEffBuffer = Tensor(scalar: 1)
        cacheBuffer = try Tensor.zeros([8])
        rngBuffer = try Tensor.zeros([16])
    }

    /// Same, drawing W and the prior's stream from the global generator (qv.seed).
    public convenience init(graph: Graph, biasInit: Float = 0, weightScale: Float = 0.01, betaEffRate: Float? = nil) throws {
        try self.init(graph: graph, biasInit: biasInit, weightScale: weightScale, betaEffRate: betaEffRate,
                      generator: &GlobalRandom.generator)
    }

    /// Bipartite graphs at least this dense (edges / (|A|·|B|) of the
    /// "bipartite" grouping) use the sgemm path for energies and moments.
    /// Measured at batch 100 on 288 units (bmbench prior): sparse energy
    /// fwd+bwd ≈ 0.085 ms + 0.056 µs per edge, sgemm ≈ 0.22 ms, so the
    /// crossover is near 2,600 of 20,736 cells (0.125); Chimera C(6,6,4)
    /// (0.04) stays sparse, the full RBM (1.0) goes dense. Read at init.
    public nonisolated(unsafe) static var denseThreshold: Double = 0.2

    public var units: Int { graph.nodeCount }
    /// Whether energies and moments use the dense (sgemm) path.
    public var usesDenseKernels: Bool { layout.dense != nil }

    // MARK: configuration (touching state first absorbs loaded buffers)

    /// The negative-phase sampler. Default: `BlockGibbsSampler` with
    /// persistent chains (PCD), 10 sweeps per step, 100 burn-in sweeps
    /// when the chains are (re)initialized. Any `Sampler` works
    /// (`ExactSampler` for tiny graphs, `AnnealerEmulator` for the
    /// hardware setting); only a `BlockGibbsSampler`'s chains are saved.
    public var sampler: any Sampler {
        get { absorbBuffers(); return _sampler }
        set { absorbBuffers(); _sampler = newValue }
    }

    /// Sweeps of the persistent Gibbs chains per negative phase (PCD), nil
    /// when the sampler is not a `BlockGibbsSampler`. A schedule of sweeps
    /// sets it between steps (`setNegativeSweeps`).
    public var negativeSweeps: Int? { (sampler as? BlockGibbsSampler)?.sweeps }

    /// Sets the PCD chains' sweeps per negative phase; an error naming the
    /// field `sweeps` for another sampler or a count outside 1...1,000,000.
    public func setNegativeSweeps(_ n: Int) throws {
        absorbBuffers()
        try require(n >= 1 && n <= 1_000_000, field: "sweeps", "must be in 1..1000000, got \(n)")
        guard let g = _sampler as? BlockGibbsSampler else {
            throw ModelError(field: "sweeps", "only a gibbs (PCD) sampler's sweeps can change; this prior samples with \(type(of: _sampler))")
        }
        g.sweeps = n
    }

    /// Samples per negative phase (paper: 1000). Set it with
    /// `setNegativeSamples`, which checks that the chains fit in memory.
    public internal(set) var negativeSamples: Int {
        get { _negativeSamples }
        set { absorbBuffers(); _negativeSamples = max(1, newValue) }
    }

    /// Sets the samples per negative phase. The chains and the samples
    /// drawn from them take a few buffers of n × N floats (chains, samples,
    /// relaxed copies); a count whose buffers exceed the machine's physical
    /// memory is an error here, instead of an abort at the next negative
    /// phase (`--chains 10000000` on a large graph).
    public func setNegativeSamples(_ n: Int) throws {
        try checkChainMemory(n, width: units, buffers: 4, field: "negativeSamples", what: "chains of \(units) units")
        negativeSamples = n
    }

    /// The prior's random stream (negative phase, Eq. C3 updates, defaults).
    public var generator: Generator {
        get { absorbBuffers(); return _generator }
        set { absorbBuffers(); _generator = newValue }
    }

    /// β_eff of Appendix C (default 1): the inverse temperature at which the
    /// negative-phase sampler is believed to sample the programmed machine.
    public var betaEff: Float {
        get { betaEffBuffer.data[0] }
        set { betaEffBuffer.data[0] = newValue }
    }

    // MARK: positive phase

    /// H(ζ) of each row of ζ [B, N] → [B]; differentiable w.r.t. ζ, b and W.
    /// (β_eff's scaling of the encoder's gradient, Eq. C2, is applied by
    /// `DiscreteVAE.objective`, the one place that knows which ζ is the
    /// encoder's.)
    public func energy(_ zeta: Tensor) throws -> Tensor {
        let n = units
        guard zeta.rank == 2, zeta.shape[1] == n else {
            throw ModelError("prior energy: expected ζ of shape [batch, \(n)], got \(zeta.shape)")
        }
        let B = zeta.shape[0]
        let L = layout
        let zc = Tensor.noGrad { zeta.detach().contiguous() }
        let b = bias.detach(), w = weights.detach()
        let needZ = zeta.requiresGrad, needB = bias.requiresGrad, needW = weights.requiresGrad
        if let d = L.dense {
            var saved: (za: Tensor, zb: Tensor, wm: Tensor, y: Tensor)? = nil
            return try Tensor.custom(name: "bm_energy", inputs: [zeta, bias, weights], forward: { _ in
                let za = try d.columns(zc, d.a, d.aRange), zb = try d.columns(zc, d.b, d.bRange)
                let wm = try d.matrix(w)
                let y = try za.mm(wm)
                saved = (za, zb, wm, y)
                let out = try Tensor.zeros([B])
                let o = out.data, yp = y.data, zbp = zb.data, zs = zb.strides[0], nb = d.b.count
                let zp = zc.data, bp = b.data
                for s in 0..<B {
                    var acc: Float = 0
                    let yr = yp + s * nb, zr = zbp + s * zs, row = zp + s * n
                    for j in 0..<nb { acc += yr[j] * zr[j] }
                    for l in 0..<n { acc += bp[l] * row[l] }
                    o[s] = acc
                }
                return out
            }, backward: { g in
                let (za, zb, wm, y) = saved!
                let gc = g.contiguous(), gp = gc.data
                let na = d.a.count, nb = d.b.count
                var dz: Tensor? = nil, db: Tensor? = nil, dw: Tensor? = nil
                if needZ {
                    let x = try zb.mm(wm.t())        // [B, na]
                    let out = try Tensor.zeros([B, n])
                    let o = out.data, xp = x.data, yp = y.data, bp = b.data
                    for s in 0..<B {
                        let gs = gp[s]
                        for i in 0..<na { let l = d.a[i]; o[s * n + l] = gs * (bp[l] + xp[s * na + i]) }
                        for j in 0..<nb { let l = d.b[j]; o[s * n + l] = gs * (bp[l] + yp[s * nb + j]) }
                    }
                    dz = out
                }
                if needB {
                    let out = try Tensor.zeros([n])
                    let o = out.data, zp = zc.data
                    for s in 0..<B { let gs = gp[s], row = zp + s * n; for l in 0..<n { o[l] += gs * row[l] } }
                    db = out
                }
                if needW {
                    let gza = try Tensor.zeros([B, na])
                    let o = gza.data, src = za.data, st = za.strides[0]
                    for s in 0..<B { for i in 0..<na { o[s * na + i] = gp[s] * src[s * st + i] } }
                    let m = try gza.t().mm(zb)       // [na, nb]
                    dw = Tensor(d.edgeValues(m, scale: 1))
                }
                return [dz, db, dw]
            })
        }
        // Sparse path: everything on the unit-major transpose of ζ.
        let zT = try Tensor.zeros([n, B])
        PriorKernels.transpose(zc.data, rows: B, cols: n, into: zT.data)
        return try Tensor.custom(name: "bm_energy", inputs: [zeta, bias, weights], forward: { _ in
            let out = try Tensor.zeros([B])
            PriorKernels.energies(L, zT: zT.data, batch: B, bias: b.data, weights: w.data, out: out.data)
            return out
        }, backward: { g in
            let gc = g.contiguous()
            var dz: Tensor? = nil, db: Tensor? = nil, dw: Tensor? = nil
            if needZ {
                let out = try Tensor.zeros([B, n])
                PriorKernels.zetaGradient(L, zT: zT.data, batch: B, bias: b.data, weights: w.data,
                                          g: gc.data, scale: 1, out: out.data)
                dz = out
            }
            if needB || needW {
                let ob = needB ? try Tensor.zeros([n]) : nil
                let ow = needW ? try Tensor.zeros([L.eu.count]) : nil
                PriorKernels.parameterGradients(L, zT: zT.data, batch: B, g: gc.data,
                                                db: ob?.data, dW: ow?.data)
                db = ob; dw = ow
            }
            return [dz, db, dw]
        })
    }

    // MARK: negative phase

    /// Whether the gradient of log Z comes from drawn samples: the graph has
    /// couplers, or `sampledNegativePhase` asks for samples anyway.
    public var negativePhaseIsSampled: Bool { graph.edgeCount > 0 || sampledNegativePhase }

    /// Draw the negative phase from `sampler` even when it is known exactly
    /// (the edge-free "Bernoulli" prior): a prior trained with an annealer's
    /// samples sees that annealer's temperature and noise (the paper's
    /// Table I "DW" Bernoulli cell), and β_eff tracking (Eq. C3) runs on
    /// them. Default false: the exact moments σ(−b).
    public var sampledNegativePhase: Bool = false

    /// The negative phase of one training step (call once per step, before
    /// the forward pass; nothing else changes the sampling state).
    ///
    /// * No couplers (and not `sampledNegativePhase`): exact, ⟨z_l⟩ = σ(−b_l);
    ///   no state changes.
    /// * Otherwise `negativeSamples` samples of `sampler` from the prior's
    ///   own stream (a `BlockGibbsSampler`'s persistent chains advance by
    ///   its sweeps; importance-weighted samples are resampled to equal
    ///   weights), giving ⟨z⟩ and ⟨z_u z_v⟩; then, when `betaEffRate` (nil:
    ///   the prior's `betaEffRate`) is > 0, one Eq. C3 update of β_eff with
    ///   these samples (`updateBetaEff`).
    ///
    /// `stats` keeps the phase's statistics ("neg_energy", "hw_energy",
    /// "bm_energy", "beta_eff", and the sampler's own statistics prefixed
    /// "sampler_", e.g. the emulator's "sampler_beta_eff") until the next phase.
    public func drawNegativePhase(betaEffRate rate: Float?) throws -> NegativePhase {
        absorbBuffers()
        let rate = rate ?? betaEffRate ?? 0
        try require(rate.isFinite && rate >= 0, field: "betaEffRate", "must be finite and >= 0, got \(numberText(rate))")
        guard negativePhaseIsSampled else { return try exactNegativePhase() }
        let bm = try checkedMachine("prior negative phase")
        cacheAge += 1
        if let shard = chainShard, let gibbs = _sampler as? BlockGibbsSampler {
            return try shardedNegativePhase(bm, gibbs, shard, rate: rate)
        }
        let count = _negativeSamples
        let U = try Tensor.zeros([units, count])
        let meanE: Double
        var samplerStats: [String: Double] = [:]
        if let gibbs = _sampler as? BlockGibbsSampler {
            let (state, e) = try gibbs.advance(bm, count: count, generator: &_generator)
            state.unitMajor(into: U.data)
            meanE = e
        } else {
            let s = try samples(of: bm, count, sampler: _sampler, generator: &_generator)
            s.samples.withUnsafeBufferPointer { PriorKernels.transpose($0.baseAddress!, rows: count, cols: units, into: U.data) }
            meanE = s.energies.reduce(0) { $0 + Double($1) } / Double(count)
            samplerStats = s.stats
        }
        var st: [String: Double] = ["neg_energy": meanE]
        for (k, v) in samplerStats { st["sampler_" + k] = v }
        let before = betaEff
        if rate > 0 {
            let u = try updateBetaEff(unitMajor: U, rate: rate, generator: &_generator)
            st["hw_energy"] = u.hardwareEnergy; st["bm_energy"] = u.machineEnergy; st["beta_eff"] = Double(u.betaEff)
        }
        phaseStats = st
        let (mb, mw) = try sampleMoments(layout, unitMajor: U)
        return NegativePhase(means: mb, edgeMeans: mw, samples: count, meanEnergy: meanE,
                             drawnAtBetaEff: before, betaEff: betaEff, stats: st)
    }

    /// The negative phase from this rank's block of the PCD chains
    /// (`chainShard`): the block's sums — of the energies, of the energies
    /// under the programmed parameters (Eq. C3), C_r·⟨z⟩_r and
    /// C_r·⟨z_u z_v⟩_r — added over the ranks in one collective and divided
    /// by the C chains, so every rank gets the moments of all C chains (the
    /// chain-count-weighted average of the blocks'). The Eq. C3 update then
    /// runs identically on every rank (its auxiliary chains are not split).
    private func shardedNegativePhase(_ bm: BoltzmannMachine, _ gibbs: BlockGibbsSampler, _ shard: ChainShard,
                                      rate: Float) throws -> NegativePhase {
        let count = _negativeSamples, n = units, e = graph.edgeCount
        let block = shard.chains(of: count)
        let (state, chainEnergies) = try gibbs.advance(bm, count: count, generator: &_generator, block: block)
        var local = [Double](repeating: 0, count: 2 + n + e)
        local[0] = chainEnergies
        if !block.isEmpty {
            let U = try Tensor.zeros([n, block.count])
            state.unitMajor(into: U.data)
            if rate > 0 { local[1] = try energySum(unitMajor: U, bm) }
            let (mb, mw) = try sampleMoments(layout, unitMajor: U)
            let w = Double(block.count)
            for l in 0..<n { local[2 + l] = Double(mb[l]) * w }
            for k in 0..<e { local[2 + n + k] = Double(mw[k]) * w }
        }
        let total = try shard.summed(local)
        let C = Double(count)
        let meanE = total[0] / C
        var st: [String: Double] = ["neg_energy": meanE]
        let before = betaEff
        if rate > 0 {
            let u = try stepBetaEff(bm, hardwareEnergy: total[1] / C, rate: rate, generator: &_generator)
            st["hw_energy"] = u.hardwareEnergy; st["bm_energy"] = u.machineEnergy; st["beta_eff"] = Double(u.betaEff)
        }
        phaseStats = st
        return NegativePhase(means: (0..<n).map { Float(total[2 + $0] / C) },
                             edgeMeans: (0..<e).map { Float(total[2 + n + $0] / C) }, samples: count,
                             meanEnergy: meanE, drawnAtBetaEff: before, betaEff: betaEff, stats: st)
    }

    /// Splits the PCD chains over the ranks of a data-parallel run: from
    /// now on this process holds and advances only `shard`'s block of the
    /// `negativeSamples` chains (whole tiles of 32, see `ChainShard`), each
    /// chain exactly as one process would, and `drawNegativePhase` combines
    /// the blocks' statistics with `shard.sum` (every rank must draw every
    /// negative phase). Chains present now (loaded or advanced) are kept:
    /// each rank takes its block of them. Only the default `BlockGibbsSampler`
    /// (PCD) is split; other samplers run replicated, every rank drawing
    /// the same samples from the same stream. A checkpoint needs
    /// `gatherChains()` first. A shard cannot be changed to another (nil
    /// keeps the chains whole and is accepted only while there is no shard).
    public func shardChains(_ shard: ChainShard?) throws {
        if let old = chainShard {
            guard let shard, shard.rank == old.rank, shard.size == old.size else {
                throw ModelError(field: "shard", "the chains are already split over \(old.size) ranks (this is rank \(old.rank)); "
                                 + "gather them into a checkpoint and load it into a new prior to split them otherwise")
            }
            chainShard = shard
            return
        }
        guard let shard else { return }
        absorbBuffers()
        materializeBuffers()          // the whole set, when there is one, into the buffer
        chainShard = shard
        buffersAuthoritative = true   // the next operation takes this rank's block from it
    }

    /// Collects the blocks of the split PCD chains (`shardChains`) into the
    /// "chains" buffer of every rank — a collective: every rank must call
    /// it — so that `localBuffers` (a checkpoint written by any rank) holds
    /// all chains. Returns all chains, [negativeSamples, N] of 0/1 (also
    /// without a shard), or nil when there are none yet (before the first
    /// negative phase, or with another sampler).
    @discardableResult
    public func gatherChains() throws -> Tensor? {
        absorbBuffers()
        let C = _negativeSamples, n = units
        let gibbs = _sampler as? BlockGibbsSampler
        guard let shard = chainShard else {
            guard let s = gibbs?.state, s.units == n, s.chains == C else { return nil }
            return try Tensor(s.extract(), shape: [C, n])
        }
        let (floats, overflow) = C.multipliedReportingOverflow(by: n)
        try require(!overflow && floats < Int(Int32.max), field: "negativeSamples",
                    "\(C) chains of \(n) units are too many to gather in one message")
        var all = [Double](repeating: 0, count: floats + 1)
        let block = shard.chains(of: C)
        if let g = gibbs, let s = g.state, s.units == n, s.chains == block.count, g.stateOffset == block.lowerBound {
            let x = s.extract()
            for i in x.indices { all[block.lowerBound * n + i] = Double(x[i]) }
            all[floats] = 1
        }
        all = try shard.summed(all)
        guard all[floats] == Double(shard.size) else { return nil }
        if chainsBuffer.shape != [C, n] { chainsBuffer = try Tensor.zeros([C, n]) }
        for i in 0..<floats { chainsBuffer.data[i] = Float(all[i]) }
        chainsValid.data[0] = 1
        return try Tensor(chainsBuffer.toArray(), shape: [C, n])
    }

    /// log Z as a 0-d tensor whose gradient is the negative phase; changes
    /// no state.
    ///
    /// Gradient (in grad mode, when b or W require grad): with no couplers
    /// the exact −σ(−b); otherwise `negativePhase`'s moments,
    /// ∂logZ/∂b = −⟨z⟩, ∂logZ/∂W = −⟨z_u z_v⟩ — a missing phase is then an
    /// error (draw one with `drawNegativePhase`). Without gradients the
    /// phase is not needed (and ignored).
    ///
    /// The forward value (what training-loss reports show), see `stats`:
    /// * no couplers: exact Σ softplus(−b);
    /// * N ≤ `exactUnits`: exact by enumeration;
    /// * otherwise the value cached by the most recent `estimateLogZ` — it
    ///   belongs to the parameters of that moment (`stats["logZ_stale"]` = 1
    ///   once they have changed, `stats["logZ_cache_age"]` counts negative
    ///   phases since); re-estimate periodically for honest loss reports;
    /// * before any estimate: the Bernoulli value Σ softplus(−b)
    ///   (`stats["logZ_source"]` = 3), finite but only a rough stand-in.
    public func logZ(negativePhase: NegativePhase?) throws -> Tensor {
        absorbBuffers()
        let value = try logZValue()
        guard GradMode.isEnabled, bias.requiresGrad || weights.requiresGrad else {
            return Tensor(scalar: Float(value))
        }
        let phase: NegativePhase
        if let negativePhase {
            try negativePhase.check(units: units, edges: graph.edgeCount)
            phase = negativePhase
        } else {
            try require(graph.edgeCount == 0, field: "negativePhase",
                        "is required to train the prior's parameters (its log Z gradient is sampled): "
                        + "draw the prior's negative phase before the forward pass, or compute without gradients")
            phase = try exactNegativePhase()
        }
        return try phase.logZTensor(value: value, bias: bias, weights: weights)
    }

    /// The forward value of `logZ` (see there); no state changes.
    func logZValue() throws -> Double {
        if graph.edgeCount == 0 { return BoltzmannMachine.softplusSum(bias.toArray()) }
        if units <= min(exactUnits, ExactSampler.maxUnits) {
            return try ExactSampler.logZ(try checkedMachine("prior logZ"))
        }
        let c = cacheBuffer.data
        if c[2] == 1 { return Double(c[0]) }
        return BoltzmannMachine.softplusSum(bias.toArray())
    }

    /// Where `logZ`'s value comes from: "logZ_source" (0 exact formula,
    /// 1 enumeration, 2 cached estimate, 3 fallback Σ softplus(−b): no
    /// estimate yet), "logZ_stale" (1 when the parameters changed since the
    /// cached estimate), "logZ_error", "logZ_cache_age".
    var logZStats: [String: Double] {
        if graph.edgeCount == 0 { return ["logZ_source": 0, "logZ_stale": 0] }
        if units <= min(exactUnits, ExactSampler.maxUnits) { return ["logZ_source": 1, "logZ_stale": 0] }
        let c = cacheBuffer.data
        guard c[2] == 1 else { return ["logZ_source": 3, "logZ_stale": 1] }
        return ["logZ_source": 2, "logZ_stale": decodeHash(c + 4) == parameterHash() ? 0 : 1,
                "logZ_error": Double(c[1]), "logZ_cache_age": Double(cacheAge)]
    }

    // MARK: evaluation

    /// A thermal log Z estimate with its error bar: exact (error 0) when the
    /// graph has no edges, N ≤ `exactUnits`, or the method is `.exact`;
    /// otherwise AIS or PA. With `cache` (the default) the result is kept
    /// as `logZ`'s value (and saved with the buffers).
    public func estimateLogZ(method: LogZMethod = .ais(chains: 1000, temperatures: 1000), cache: Bool = true,
                             generator: inout Generator) throws -> LogZEstimate {
        absorbBuffers()
        let bm = try checkedMachine("estimateLogZ")
        let est: LogZEstimate
        if graph.edgeCount == 0 {
            est = LogZEstimate(logZ: BoltzmannMachine.softplusSum(bm.bias), error: 0, stats: ["exact": 1])
        } else if case .exact = method {
            est = LogZEstimate(logZ: try ExactSampler.logZ(bm), error: 0, stats: ["exact": 1])
        } else if units <= min(exactUnits, ExactSampler.maxUnits) {
            est = LogZEstimate(logZ: try ExactSampler.logZ(bm), error: 0, stats: ["exact": 1])
        } else if case let .ais(chains, temperatures) = method {
            est = try AnnealedImportanceSampling(temperatures: temperatures).run(bm, chains: chains, generator: &generator).estimate
        } else if case let .pa(replicas, temperatures, populations) = method {
            est = try PopulationAnnealing(temperatures: temperatures, populations: populations)
                .estimateLogZ(bm, replicas: replicas, generator: &generator)
        } else {
            throw ModelError("estimateLogZ: unknown method")
        }
        guard cache else { return est }
        let c = cacheBuffer.data
        c[0] = Float(est.logZ); c[1] = Float(est.error); c[2] = 1; c[3] = est.stats["exact"] == 1 ? 1 : 2
        encodeHash(parameterHash(), into: c + 4)
        cacheAge = 0
        return est
    }

    /// Same, with a stream split from the global generator.
    public func estimateLogZ(method: LogZMethod = .ais(chains: 1000, temperatures: 1000)) throws -> LogZEstimate {
        var g = GlobalRandom.split()
        return try estimateLogZ(method: method, generator: &g)
    }

    /// The cached estimate (from `estimateLogZ`), if any.
    public var cachedLogZ: LogZEstimate? {
        let c = cacheBuffer.data
        guard c[2] == 1 else { return nil }
        return LogZEstimate(logZ: Double(c[0]), error: Double(c[1]),
                            stats: ["exact": c[3] == 1 ? 1 : 0, "stale": decodeHash(c + 4) == parameterHash() ? 0 : 1])
    }

    /// `n` samples of the prior as an [n, N] tensor of 0/1, equally
    /// weighted. Default: fresh uniformly random block-Gibbs chains run for
    /// `sampleSweeps` sweeps (never the training chains); the edge-free
    /// prior is sampled exactly. With `sampler`: its samples, resampled to
    /// equal weights when it weights them (AIS). Changes no state.
    public func sample(_ n: Int, using sampler: (any Sampler)? = nil, generator: inout Generator) throws -> Tensor {
        try require(n >= 1, field: "n", "must be >= 1, got \(n)")
        let bm = try checkedMachine("prior sample")
        let s: SampleSet
        if let sampler {
            s = try samples(of: bm, n, sampler: sampler, generator: &generator)
        } else if graph.edgeCount == 0 {
            let p = bm.bias.map { 1 / (1 + expf($0)) }
            var out = [Float](repeating: 0, count: n * units)
            for r in 0..<n { for l in 0..<units where generator.uniform() < p[l] { out[r * units + l] = 1 } }
            return try Tensor(out, shape: [n, units])
        } else {
            s = try samples(of: bm, n, sampler: BlockGibbsSampler(sweeps: sampleSweeps, burnIn: 0, persistent: false),
                            generator: &generator)
        }
        return try Tensor(s.samples, shape: [n, units])
    }

    /// Same, with a stream split from the global generator.
    public func sample(_ n: Int, using sampler: (any Sampler)? = nil) throws -> Tensor {
        var g = GlobalRandom.split()
        return try sample(n, using: sampler, generator: &g)
    }

    // MARK: effective temperature (Appendix C)

    /// One Eq. C3 step: β ← β + rate·(−⟨H⟩_hw + ⟨H⟩_BM), where ⟨H⟩_hw is the
    /// mean energy H_{b,W} of `hardwareSamples` ([M, N], 0/1) under the
    /// current parameters (the programmed h, J) and ⟨H⟩_BM that of thermal
    /// samples of the auxiliary machine e^{−β H} at the current β: persistent
    /// block-Gibbs chains (`betaEffChains` of them, 10 sweeps per update,
    /// 100 burn-in sweeps at the start). β stays ≥ 1e-3. Returns the new β.
    /// It is maximum likelihood for β alone: the fixed point has
    /// ⟨H⟩_β = ⟨H⟩_hw. `rate` should be of order 1/Var(H) or smaller.
    @discardableResult
    public func updateBetaEff(hardwareSamples: Tensor, rate: Float, generator: inout Generator) throws -> Float {
        absorbBuffers()
        guard hardwareSamples.rank == 2, hardwareSamples.shape[1] == units, hardwareSamples.shape[0] >= 1 else {
            throw ModelError(field: "hardwareSamples", "expected samples of shape [M, \(units)], got \(hardwareSamples.shape)")
        }
        let m = hardwareSamples.shape[0]
        let hc = hardwareSamples.contiguous()
        let U = try Tensor.zeros([units, m])
        PriorKernels.transpose(hc.data, rows: m, cols: units, into: U.data)
        let u = try updateBetaEff(unitMajor: U, rate: rate, generator: &generator)
        phaseStats["hw_energy"] = u.hardwareEnergy; phaseStats["bm_energy"] = u.machineEnergy
        phaseStats["beta_eff"] = Double(u.betaEff)
        return u.betaEff
    }

    /// Same, using the prior's own random stream.
    @discardableResult
    public func updateBetaEff(hardwareSamples: Tensor, rate: Float) throws -> Float {
        absorbBuffers()
        return try updateBetaEff(hardwareSamples: hardwareSamples, rate: rate, generator: &_generator)
    }

    /// Same, from a sampler's `SampleSet`.
    @discardableResult
    public func updateBetaEff(hardwareSamples s: SampleSet, rate: Float) throws -> Float {
        try updateBetaEff(hardwareSamples: try Tensor(s.samples, shape: [s.count, s.units]), rate: rate)
    }

    /// The Eq. C3 step on unit-major samples U [N, M]: the new β_eff and
    /// the two expectations.
    func updateBetaEff(unitMajor U: Tensor, rate: Float, generator: inout Generator) throws
        -> (betaEff: Float, hardwareEnergy: Double, machineEnergy: Double) {
        try require(rate.isFinite && rate >= 0, field: "rate", "must be finite and >= 0, got \(numberText(rate))")
        let bm = try checkedMachine("updateBetaEff")
        let hw = try energySum(unitMajor: U, bm) / Double(U.shape[1])
        return try stepBetaEff(bm, hardwareEnergy: hw, rate: rate, generator: &generator)
    }

    /// Σ H_{b,W}(z) over unit-major samples U [N, M] under `bm`'s parameters.
    func energySum(unitMajor U: Tensor, _ bm: BoltzmannMachine) throws -> Double {
        let m = U.shape[1]
        let e = try Tensor.zeros([m])
        bm.bias.withUnsafeBufferPointer { b in
            bm.weights.withUnsafeBufferPointer { w in
                PriorKernels.energies(layout, zT: U.data, batch: m, bias: b.baseAddress!, weights: w.baseAddress!, out: e.data)
            }
        }
        var sum = 0.0
        for i in 0..<m { sum += Double(e.data[i]) }
        return sum
    }

    /// The Eq. C3 step given ⟨H⟩_hw: the auxiliary chains advance at the
    /// current β_eff, which moves by rate·(⟨H⟩_BM − ⟨H⟩_hw).
    func stepBetaEff(_ bm: BoltzmannMachine, hardwareEnergy hw: Double, rate: Float, generator: inout Generator) throws
        -> (betaEff: Float, hardwareEnergy: Double, machineEnergy: Double) {
        let beta = betaEff
        betaSampler.beta = beta
        let (_, bmE) = try betaSampler.advance(bm, count: betaEffChains, generator: &generator)
        let next = max(1e-3, beta + rate * Float(bmE - hw))
        betaEff = next
        return (next, hw, bmE)
    }

    // MARK: buffers

    /// "chains" [negativeSamples, N] and "chains_valid" [1] (PCD state of a
    /// `BlockGibbsSampler`), "beta_chains" [betaEffChains, N] and
    /// "beta_chains_valid" [1] (Eq. C3 chains), "beta_eff" [], "logz_cache"
    /// [8] (value, error, valid, exact flag, parameter fingerprint), "rng"
    /// [16] (the prior's generator state in 16-bit pieces).
    public var localBuffers: [(String, Tensor)] {
        absorbBuffers()
        materializeBuffers()
        buffersAuthoritative = true
        return [("chains", chainsBuffer), ("chains_valid", chainsValid),
                ("beta_chains", betaChainsBuffer), ("beta_chains_valid", betaChainsValid),
                ("beta_eff", betaEffBuffer), ("logz_cache", cacheBuffer), ("rng", rngBuffer)]
    }

    /// Writes the live state into the buffer tensors.
    private func materializeBuffers() {
        let n = units
        if chainsBuffer.shape != [_negativeSamples, n] { chainsBuffer = try! Tensor.zeros([_negativeSamples, n]) }
        func store(_ s: ChainState?, _ buf: Tensor, _ valid: Tensor) {
            if let s, s.chains == buf.shape[0], s.units == n {
                s.extract().withUnsafeBufferPointer { buf.data.update(from: $0.baseAddress!, count: $0.count) }
                valid.data[0] = 1
            } else {
                valid.data[0] = 0
            }
        }
        if let shard = chainShard {
            storeBlock(shard, chainsBuffer, chainsValid)
        } else {
            store((_sampler as? BlockGibbsSampler)?.state, chainsBuffer, chainsValid)
        }
        store(betaSampler.state, betaChainsBuffer, betaChainsValid)
        let st = _generator.state
        for i in 0..<16 { rngBuffer.data[i] = Float((st[i / 4] >> UInt64(16 * (i % 4))) & 0xFFFF) }
    }

    /// Reloads the live state from the buffer tensors if they may have been
    /// written (after `localBuffers` was handed out).
    private func absorbBuffers() {
        guard buffersAuthoritative else { return }
        buffersAuthoritative = false
        let n = units
        func load(_ sampler: BlockGibbsSampler?, _ buf: Tensor, _ valid: Tensor) {
            guard let sampler else { return }
            if valid.data[0] == 1, buf.shape[1] == n {
                let vals = buf.toArray().map { $0 >= 0.5 ? Float(1) : 0 }
                try? sampler.setChains(vals, units: n)
            } else {
                sampler.reset()
            }
        }
        if let shard = chainShard {
            loadBlock(shard, chainsBuffer, chainsValid)
        } else {
            load(_sampler as? BlockGibbsSampler, chainsBuffer, chainsValid)
        }
        load(betaSampler, betaChainsBuffer, betaChainsValid)
        var words = [UInt64](repeating: 0, count: 4)
        for i in 0..<16 { words[i / 4] |= UInt64(UInt16(max(0, min(65535, rngBuffer.data[i])))) << UInt64(16 * (i % 4)) }
        if let g = Generator(state: words) { _generator = g }
    }

    /// Split chains: this rank's block into its rows of the whole set's
    /// buffer (the other rows keep what `gatherChains` or a load put
    /// there); valid while the block is held.
    private func storeBlock(_ shard: ChainShard, _ buf: Tensor, _ valid: Tensor) {
        let n = units
        let block = shard.chains(of: buf.shape[0])
        guard let g = _sampler as? BlockGibbsSampler, let s = g.state, s.units == n, s.chains == block.count,
              g.stateOffset == block.lowerBound else {
            valid.data[0] = 0
            return
        }
        s.extract().withUnsafeBufferPointer { p in
            if let base = p.baseAddress { (buf.data + block.lowerBound * n).update(from: base, count: p.count) }
        }
        valid.data[0] = 1
    }

    /// Split chains: this rank's block from its rows of the whole set's buffer.
    private func loadBlock(_ shard: ChainShard, _ buf: Tensor, _ valid: Tensor) {
        guard let g = _sampler as? BlockGibbsSampler else { return }
        let n = units
        guard valid.data[0] == 1, buf.rank == 2, buf.shape[1] == n else { g.reset(); return }
        let block = shard.chains(of: buf.shape[0])
        let p = buf.data + block.lowerBound * n
        let vals = (0..<(block.count * n)).map { p[$0] >= 0.5 ? Float(1) : 0 }
        g.setChains(vals, units: n, block: block)
    }

    /// FNV-1a over the bit patterns of b and W (the cache's "version").
    func parameterHash() -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for t in [bias, weights] {
            let p = t.data
            for i in 0..<t.count { h = (h ^ UInt64(p[i].bitPattern)) &* 0x100_0000_01b3 }
        }
        return h
    }

    private func encodeHash(_ h: UInt64, into p: UnsafeMutablePointer<Float>) {
        for i in 0..<4 { p[i] = Float((h >> UInt64(16 * i)) & 0xFFFF) }
    }

    private func decodeHash(_ p: UnsafeMutablePointer<Float>) -> UInt64 {
        var h: UInt64 = 0
        for i in 0..<4 { h |= UInt64(UInt16(max(0, min(65535, p[i])))) << UInt64(16 * i) }
        return h
    }
}

/// Checks that `count` persistent chains of `width` floats each, held in
/// `buffers` copies (chains, samples, checkpoint buffers, ...), fit in the
/// machine's physical memory: an error naming `field` ("cannot allocate
/// … bytes for <count> <what>") instead of an abort at the first
/// allocation. `count` must be >= 1.
func checkChainMemory(_ count: Int, width: Int, buffers: Int, field: String, what: String) throws {
    try require(count >= 1, field: field, "must be >= 1, got \(count)")
    let (floats, o1) = count.multipliedReportingOverflow(by: Swift.max(width, 1))
    let (bytes, o2) = floats.multipliedReportingOverflow(by: buffers * MemoryLayout<Float>.stride)
    guard !o1, !o2, bytes <= Storage.maxBytes else {
        throw ModelError(field: field,
                         "cannot allocate \(o1 || o2 ? "more than \(Int.max)" : String(bytes)) bytes for \(count) \(what) (the machine has \(Storage.maxBytes) bytes of memory)")
    }
}
