import CLua
import Model
import Runtime

// The VAE's latent prior in Lua (`qv.prior`, `qv.Prior`): a trainable
// Boltzmann machine (BoltzmannPrior, negative phase from a sampler) or,
// for small graphs, an exactly enumerated one (ExactPrior).

/// A latent prior owned by Lua, with the graph and sampler objects it was
/// built from (so `p.graph` and `p.sampler` give the same Lua objects back).
final class PriorBox {
    let prior: LatentPrior
    let graph: GraphBox
    /// The sampler as the user gave it (nil: the default PCD sampler, or an exact prior).
    var samplerBox: SamplerBox?

    init(_ prior: LatentPrior, graph: GraphBox, sampler: SamplerBox? = nil) {
        self.prior = prior; self.graph = graph; self.samplerBox = sampler
    }

    var boltzmann: BoltzmannPrior? { prior as? BoltzmannPrior }
    var quantum: QuantumPrior? { prior as? QuantumPrior }
    var kind: String { boltzmann != nil ? "boltzmann" : quantum != nil ? "quantum" : "exact" }

    var samplerText: String {
        if let s = samplerBox { return s.summary.replacingOccurrences(of: "qv.Sampler ", with: "") }
        if let b = boltzmann, let g = b.sampler as? BlockGibbsSampler {
            return "gibbs{sweeps = \(g.sweeps), burn_in = \(g.burnIn), persistent = \(g.persistent)}"
        }
        return boltzmann == nil ? "exact" : "custom"
    }

    var summary: String {
        let g = prior.graph
        var s = "qv.Prior on \(graph.displayName): \(g.nodeCount) units, \(g.edgeCount) couplings"
        if let b = boltzmann {
            if g.edgeCount > 0 { s += ", negative phase \(b.negativeSamples) × \(samplerText)" }
            if b.betaEff != 1 { s += ", β_eff \(fmtNum(Double(b.betaEff), "%.4g"))" }
            if let c = b.cachedLogZ {
                s += ", log Z \(fmtNum(c.logZ, "%.6g")) ± \(fmtNum(c.error, "%.2g"))"
                if c.stats["stale"] == 1 { s += " (stale)" }
            }
        } else if let q = quantum {
            let gt = Set(q.gamma).count == 1 ? fmtNum(Double(q.gamma[0]), "%.4g") : "per unit"
            s += ", quantum Γ \(gt), negative phase \(q.negativeSamples) × pimc{slices = \(q.slices), sweeps = \(q.sampler.sweeps)}"
            if q.betaEff != 1 { s += ", β_eff \(fmtNum(Double(q.betaEff), "%.4g"))" }
            if let c = q.cachedLogZ {
                s += ", log Z \(fmtNum(c.logZ, "%.6g")) ± \(fmtNum(c.error, "%.2g"))"
                if c.stats["stale"] == 1 { s += " (stale)" }
            }
        } else {
            s += ", exact"
        }
        let maxW = prior.weights.toArray().reduce(0) { max($0, abs($1)) }
        return s + ", max |W| \(fmtNum(Double(maxW), "%.3g"))"
    }
}

extension PriorBox {
    /// A sampler for the prior's own use: a BlockGibbsSampler is copied (the
    /// prior keeps its persistent chains to itself and checkpoints them);
    /// value-type samplers and Lua or command samplers are used as they are.
    static func ownCopy(_ s: Sampler) -> Sampler {
        if let g = s as? BlockGibbsSampler {
            return BlockGibbsSampler(sweeps: g.sweeps, burnIn: g.burnIn, beta: g.beta, persistent: g.persistent)
        }
        return s
    }
}

/// Reads `{method = ..., chains = ..., ...}` into a LogZMethod.
private func logZMethod(_ args: Arguments, _ o: Options, units: Int) throws -> LogZMethod {
    let method = try o.optionalString("method") ?? "ais"
    switch method {
    case "exact":
        guard units <= ExactSampler.maxUnits else {
            throw args.optionError("method", "exact enumeration supports at most \(ExactSampler.maxUnits) units, the prior has \(units)")
        }
        return .exact
    case "ais":
        for k in ["replicas", "populations"] where o.has(k) { throw args.optionError(k, "not used by method 'ais'") }
        return .ais(chains: try positiveOption(args, o, "chains", default: 1000),
                    temperatures: try positiveOption(args, o, "temperatures", default: 1000))
    case "pa":
        if o.has("chains") { throw args.optionError("chains", "not used by method 'pa' (use replicas)") }
        let pops = try positiveOption(args, o, "populations", default: 4)
        let reps = try positiveOption(args, o, "replicas", default: 4000)
        guard reps >= pops else { throw args.optionError("replicas", "must be >= populations (\(pops))") }
        return .pa(replicas: reps, temperatures: try positiveOption(args, o, "temperatures", default: 1000), populations: pops)
    default:
        throw args.optionError("method", "expected one of 'exact', 'ais', 'pa', got '\(method)'")
    }
}

/// A quantum prior's `{method, chains, temperatures}`: only "ais" (quantum
/// AIS) and "exact" (diagonalization) apply.
private func quantumLogZOptions(_ args: Arguments, _ o: Options, units: Int) throws -> (Int, Int, Bool) {
    let method = try o.optionalString("method") ?? "ais"
    for k in ["replicas", "populations"] where o.has(k) { throw args.optionError(k, "not used by a quantum prior (quantum AIS)") }
    switch method {
    case "exact":
        guard units <= QuantumExact.maxUnits else {
            throw args.optionError("method", "exact diagonalization supports at most \(QuantumExact.maxUnits) units, the prior has \(units)")
        }
        return (1, 1, true)
    case "ais":
        return (try positiveOption(args, o, "chains", default: 256), try positiveOption(args, o, "temperatures", default: 1000), false)
    default:
        throw args.optionError("method", "a quantum prior supports 'ais' (quantum AIS) or 'exact', got '\(method)'")
    }
}

/// A drawn negative phase owned by Lua (`p:negative_phase()`).
final class NegativePhaseBox {
    let phase: NegativePhase
    init(_ phase: NegativePhase) { self.phase = phase }
}

let negativePhaseClass: LuaClass<NegativePhaseBox> = {
    let cls = LuaClass<NegativePhaseBox>("qv.NegativePhase", doc: """
        qv.NegativePhase — one training step's negative phase of a qv.Prior (p:negative_phase()): the
        model's moments <z> and <z_u z_v>, whose negation is the gradient of log Z. Pass it to
        model:loss(x, {negative_phase = ph}) or p:logz_tensor(ph).
        """)
    cls.property("mean_energy", doc: "mean energy H of the negative samples (<H> under p when exact)") { b in
        .number(b.phase.meanEnergy)
    }
    cls.property("samples", doc: "number of samples drawn (0 when exact)") { b in .int(b.phase.samples) }
    cls.property("exact", doc: "true when the moments are exact (nothing sampled)") { b in .bool(b.phase.exact) }
    cls.property("beta_eff", doc: "β_eff after the phase's Eq. C3 update") { b in .number(Double(b.phase.betaEff)) }
    cls.property("drawn_at_beta_eff", doc: "β_eff when the samples were drawn (the step's Eq. C2 scale)") { b in
        .number(Double(b.phase.drawnAtBetaEff))
    }
    cls.property("means", doc: "<z_l>, a Tensor [N]") { b in .object(Tensor(b.phase.means)) }
    cls.property("edge_means", doc: "<z_u z_v>, a Tensor [E] in graph:edge_list() order") { b in .object(Tensor(b.phase.edgeMeans)) }
    cls.property("stats", doc: "the phase's statistics (neg_energy; hw_energy, bm_energy, beta_eff after an update)") { b in
        statsTable(b.phase.stats)
    }
    cls.tostring { b in "qv.NegativePhase: " + b.phase.description.replacingOccurrences(of: "negative phase: ", with: "") }
    cls.extraBytes { b in (b.phase.means.count &+ b.phase.edgeMeans.count) &* MemoryFootprint.float }
    return cls
}()

let priorClass: LuaClass<PriorBox> = {
    let cls = LuaClass<PriorBox>("qv.Prior", doc: """
        qv.Prior — the VAE's latent prior p(z) = exp(-H(z))/Z over z ∈ {0,1}^N, H(z) = Σ b_l z_l +
        Σ_edges W_uv z_u z_v, on a qv.Graph (qv.prior.new; qv.prior.exact for small graphs;
        qv.prior.quantum for a quantum Boltzmann machine trained with the Q-ELBO).
        p.bias, p.weights are the parameter tensors (train them with qv.optim); p:energy(z) is
        differentiable; p:negative_phase() draws a training step's negative phase, p:logz_tensor(ph) is log Z whose
        gradient is that phase.
        Explore a trained prior with p:machine() and qv.sampler.
        """)
    cls.property("graph", doc: "the qv.Graph") { p in .object(p.graph) }
    cls.property("bias", doc: "b, a qv.Tensor [N] (a leaf requiring grad; the live parameter)") { p in .object(p.prior.bias) }
    cls.property("weights", doc: "W, a qv.Tensor [E], one per edge in graph:edge_list() order (the live parameter)") { p in
        .object(p.prior.weights)
    }
    cls.property("units", doc: "N, the number of latent units (also #p)") { p in .int(p.prior.units) }
    cls.property("kind", doc: "\"boltzmann\" (sampled negative phase), \"quantum\" (QBM, PIMC negative phase) or \"exact\" (enumerated)") { p in .string(p.kind) }
    cls.property("beta_eff", doc: "β_eff of Appendix C: scales the prior-energy gradient reaching the encoder (settable)",
                 get: { p in .number(Double(p.prior.betaEff)) },
                 set: { p, args in
                     let v = try args.number(1)
                     guard v.isFinite, v > 0 else { throw args.argumentError(1, nil, "β_eff must be finite and > 0") }
                     p.prior.betaEff = Float(v)
                 })
    cls.property("sampler", doc: "the negative-phase qv.Sampler (nil: the default PCD, or an exact prior); settable",
                 get: { p in p.samplerBox.map { .object($0) } ?? .nil },
                 set: { p, args in
                     guard let b = p.boltzmann else { throw args.argumentError(1, nil, "an exact prior has no sampler") }
                     let s = try args.object(1, SamplerBox.self)
                     b.sampler = PriorBox.ownCopy(s.sampler)
                     p.samplerBox = s
                 })
    cls.property("sampled_negative_phase", doc: """
        true: draw the negative phase from the sampler even when it is known exactly (the edge-free
        Bernoulli prior), so the sampler's temperature and noise reach training (settable; default false)
        """,
                 get: { p in p.boltzmann.map { .bool($0.sampledNegativePhase) } ?? .nil },
                 set: { p, args in
                     guard let b = p.boltzmann else { throw args.argumentError(1, nil, "an exact prior has no sampler") }
                     b.sampledNegativePhase = try args.bool(1)
                 })
    cls.property("samples", doc: "negative-phase samples per training step (settable)",
                 get: { p -> LuaValue in
                     if let b = p.boltzmann { return .int(b.negativeSamples) }
                     if let q = p.quantum { return .int(q.negativeSamples) }
                     return .nil
                 },
                 set: { p, args in
                     guard p.boltzmann != nil || p.quantum != nil else {
                         throw args.argumentError(1, nil, "an exact prior has no negative samples")
                     }
                     let n = try args.int(1)
                     guard n >= 1, n <= 10_000_000 else { throw args.argumentError(1, nil, "must be in 1..10000000") }
                     try modelOp(args, positions: ["negativeSamples": 1]) {
                         if let b = p.boltzmann { try b.setNegativeSamples(n) } else { try p.quantum?.setNegativeSamples(n) }
                     }
                 })
    cls.property("sweeps", doc: "sweeps per negative phase of the PCD (a quantum prior: PIMC) chains (nil for other samplers; settable)",
                 get: { p -> LuaValue in
                     if let b = p.boltzmann { return b.negativeSweeps.map { LuaValue.int($0) } ?? .nil }
                     if let q = p.quantum { return q.negativeSweeps.map { LuaValue.int($0) } ?? .nil }
                     return .nil
                 },
                 set: { p, args in
                     guard p.boltzmann != nil || p.quantum != nil else {
                         throw args.argumentError(1, nil, "an exact prior has no negative-phase sweeps")
                     }
                     let n = try args.int(1)
                     try modelOp(args, positions: ["sweeps": 1]) {
                         if let b = p.boltzmann { try b.setNegativeSweeps(n) } else { try p.quantum?.setNegativeSweeps(n) }
                     }
                 })
    cls.property("stats", doc: """
        statistics of the last negative phase (neg_energy, hw_energy, bm_energy, beta_eff) and where
        log Z's value comes from (logZ_source, logZ_stale, logZ_error, logZ_cache_age); a quantum
        prior: neg_energy, sigma_x, slices, logZ_source, logZ_stale, logZ_error
        """) { p -> LuaValue in
            if let b = p.boltzmann { return statsTable(b.stats) }
            return statsTable(p.quantum?.stats ?? [:])
        }
    cls.property("training", doc: "training mode (settable; p:train(), p:eval())",
                 get: { p in .bool(p.prior.training) },
                 set: { p, args in p.prior.setTraining(try args.bool(1)) })
    cls.len { p in .int(p.prior.units) }

    cls.method("clamp", doc: """
        p:clamp{weights = w, bias = b} -> p
        Clips the parameters in place to [-w, w] and [-b, b] (each optional): the paper's weight clipping.
        """) { p, args in
        try args.expectAtMost(1)
        let o = try args.options(1, allowed: ["weights", "bias"])
        let w = try o.optionalNumber("weights"), b = try o.optionalNumber("bias")
        try modelOp(args) { try p.prior.clamp(weights: w.map(Float.init), bias: b.map(Float.init)) }
        return .object(p)
    }
    cls.method("logz", doc: """
        p:logz{method = "ais"|"pa"|"exact", chains = 1000, temperatures = 1000, replicas = 4000,
               populations = 4, generator = g} -> logZ, error
        A thermal estimate of log Z with a one-standard-error bar (0 when exact: no couplings,
        N <= 20, or method "exact"). A quantum prior: the quantum log Z, exact by diagonalization
        for N <= 12 (or method "exact", N <= 14), else quantum AIS (method "ais", default 256 chains). The estimate is cached: the training loss (vae:loss) reports
        it as log Z until the next estimate. Randomness from the global generator (or g).
        """) { p, args in
        try args.expectAtMost(1)
        let o = try args.options(1, allowed: ["method", "chains", "temperatures", "replicas", "populations", "generator"])
        let stream = try o.optionalObject("generator", RandomStream.self)
        var g = stream?.generator ?? GlobalRandom.split()
        defer { stream?.generator = g }
        if let b = p.boltzmann {
            let m = try logZMethod(args, o, units: b.units)
            let e = try modelOp(args) { try b.estimateLogZ(method: m, generator: &g) }
            return .values(.number(e.logZ), .number(e.error))
        }
        if let q = p.quantum {
            let (chains, temps, exact) = try quantumLogZOptions(args, o, units: q.units)
            let e = try modelOp(args) { try q.estimateLogZ(chains: chains, temperatures: temps, exact: exact, generator: &g) }
            return .values(.number(e.logZ), .number(e.error))
        }
        let e = try modelOp(args) { try p.prior.estimateLogZ(generator: &g) }
        return .values(.number(e.logZ), .number(e.error))
    }
    cls.method("negative_phase", doc: """
        p:negative_phase([{beta_eff_rate = r}]) -> qv.NegativePhase
        The negative phase of one training step: <z> and <z_u z_v> from p.samples samples of p.sampler
        (the persistent chains advance) and, when beta_eff_rate (default: the prior's) is > 0, one
        Eq. C3 update of β_eff. Exact, with no state change, for a prior without couplings or an
        exact prior. The only call that changes the prior's sampling state; pass the phase to
        model:loss(x, {negative_phase = ph}) or p:logz_tensor(ph). Fields: mean_energy, samples,
        exact, beta_eff (after the update), drawn_at_beta_eff, means, edge_means, stats.
        """) { p, args in
        try args.expectAtMost(1)
        let o = try args.options(1, allowed: ["beta_eff_rate"])
        let rate = try o.optionalNumber("beta_eff_rate")
        return .object(NegativePhaseBox(try modelOp(args) { try p.prior.drawNegativePhase(betaEffRate: rate.map(Float.init)) }))
    }
    cls.method("shard_chains", doc: """
        p:shard_chains() -> first, last
        Data-parallel training (qv.dist, under mpirun): from now on this rank holds and advances only its
        block of the p.samples PCD chains — whole tiles of 32 chains, contiguous, the tiles split as evenly
        as possible with the remainder on the first ranks — each chain exactly as in one process (its
        random stream is keyed to its tile, not to the rank). p:negative_phase() adds the blocks' sums
        (energies, chain-count-weighted <z> and <z_u z_v>) over the ranks, so every rank gets the moments of
        all chains: every rank must draw every phase. Chains already present (loaded, advanced) are kept.
        Other samplers than PCD run replicated. Save only after p:gather_chains() on every rank. Returns
        this rank's chains first..last (1-based; last < first when it holds none). Without mpirun: one
        rank holding all chains.
        """) { p, args in
        try args.expectAtMost(0)
        guard let b = p.boltzmann else {
            throw args.error("only a Boltzmann prior's PCD chains can be split over ranks (this prior is \(p.kind))")
        }
        let w: (rank: Int, size: Int)
        do { w = try Dist.start() } catch let e as TensorError { throw args.error(e.message) }
        let shard = try modelOp(args) {
            try ChainShard(rank: w.rank, size: w.size) { values, count in try Dist.allreduce(values, count, op: 0) }
        }
        try modelOp(args) { try b.shardChains(shard) }
        let r = shard.chains(of: b.negativeSamples)
        return .values(.int(r.lowerBound + 1), .int(r.upperBound))
    }
    cls.method("gather_chains", doc: """
        p:gather_chains() -> Tensor [p.samples, N] or nil
        All PCD chains (0/1), collected from every rank's block after p:shard_chains() — a collective:
        every rank must call it — and kept in the prior's "chains" buffer, so a checkpoint written by any
        rank holds the whole set. nil before the first negative phase or with another sampler.
        """) { p, args in
        try args.expectAtMost(0)
        guard let b = p.boltzmann else { return .nil }
        return try modelOp(args) { try b.gatherChains() }.map { .object($0) } ?? .nil
    }
    cls.method("logz_tensor", doc: """
        p:logz_tensor([ph]) -> Tensor
        log Z as a 0-d tensor for a loss: its value is exact or the cached p:logz estimate, its
        gradient the negative phase ph (from p:negative_phase(); required in grad mode for a prior
        with a sampled negative phase, not needed otherwise). Changes no state.
        """) { p, args in
        try args.expectAtMost(1)
        let ph = try args.optionalObject(1, NegativePhaseBox.self, "negative_phase")
        return .object(try modelOp(args, positions: ["negative_phase": 1]) { try p.prior.logZ(negativePhase: ph?.phase) })
    }
    cls.method("energy", doc: """
        p:energy(z) -> Tensor
        H(z) of each row of z [B, N] (binary or relaxed), a [B] tensor, differentiable in z, b and W.
        """) { p, args in
        try args.expectAtMost(1)
        let z = try args.tensor(1, "z")
        return .object(try modelOp(args, positions: ["z": 1]) { try p.prior.energy(z) })
    }
    cls.method("sample", doc: """
        p:sample(n [, sampler]) -> Tensor
        n samples of the prior as an [n, N] tensor of 0/1: by default fresh block-Gibbs chains run
        for 1000 sweeps (exact for an exact prior or a prior without couplings), or sampler's
        samples, equally weighted (importance-weighted samples, e.g. AIS's, are resampled).
        Randomness from the global generator.
        """) { p, args in
        try args.expectAtMost(2)
        let n = try sampleCount(args, 1)
        let sb = try args.optionalObject(2, SamplerBox.self, "sampler")
        return .object(try modelOp(args, positions: ["n": 1, "sampler": 2]) {
            try p.prior.sample(n, using: sb?.sampler, generator: &GlobalRandom.generator)
        })
    }
    cls.method("machine", doc: """
        p:machine() -> qv.BM
        The current parameters as a qv.BM (a copy), for qv.sampler, bm:logz, bm:exact ...
        """) { p, args in
        try args.expectAtMost(0)
        // A non-finite prior (diverged training) is an error here, not a
        // qv.BM whose energies and log Z are NaN.
        return .object(BMBox(try modelOp(args) { try p.prior.checkedMachine("p:machine()") }, graph: p.graph))
    }
    cls.method("update_beta_eff", doc: """
        p:update_beta_eff(samples, rate) -> beta_eff
        One Eq. C3 step β ← β + rate (<H>_BM − <H>_samples): samples (a Tensor [M, N] or qv.Samples,
        e.g. an annealer's reads) are compared with thermal samples of exp(-β H). Returns the new β_eff.
        """) { p, args in
        try args.expectAtMost(2)
        guard let b = p.boltzmann else { throw args.error("an exact prior has no β_eff tracking") }
        let rate = Float(try args.number(2, "rate"))
        let set = args.objectIfPresent(1, SamplesBox.self)?.set
        let t = set == nil ? try args.tensor(1, "samples") : nil
        let beta = try modelOp(args, positions: ["samples": 1, "rate": 2], renamed: ["hardwareSamples": "samples"]) {
            if let set { return try b.updateBetaEff(hardwareSamples: set, rate: rate) }
            return try b.updateBetaEff(hardwareSamples: t!, rate: rate)
        }
        return .number(Double(beta))
    }
    addModuleMethods(cls, what: "p") { $0.prior }
    cls.tostring { p in p.summary }
    cls.extraBytes { p in MemoryFootprint.bytes(p.prior) }
    return cls
}()

extension QV {
    /// `qv.prior`: BoltzmannPrior and ExactPrior (QuantumPrior: QuantumBindings.swift).
    public static func openPrior(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(priorClass)
        qv.add(negativePhaseClass)
        let m = state.module("qv.prior", doc: """
            qv.prior — latent priors for qv.vae: new (a Boltzmann machine trained with a sampled
            negative phase) and exact (enumerated, for graphs of <= 20 units or without couplings).
            """)
        m.fn("new", doc: """
            qv.prior.new(graph [, {sampler = s, samples = 1000, weight_scale = 0.01, bias = 0}]) -> qv.Prior
            A trainable Boltzmann-machine prior on graph: b = bias, W ~ N(0, weight_scale²) from the
            global generator (qv.seed); the prior keeps its own random stream, split from it.
              sampler        the negative-phase qv.Sampler (default: PCD, qv.sampler.gibbs{sweeps = 10,
                             burn_in = 100}); a gibbs sampler is copied, so the prior owns its chains
              samples        negative-phase samples per training step (the paper: 1000)
              beta_eff_rate  the default rate of p:negative_phase: when > 0, each negative phase also
                             applies one Eq. C3 β_eff update
            """) { args in
            try args.expectAtMost(2)
            let g = try args.object(1, GraphBox.self, "graph")
            let o = try args.options(2, allowed: ["sampler", "samples", "weight_scale", "bias", "beta_eff_rate"])
            let ws = try o.number("weight_scale", default: 0.01), b0 = try o.number("bias", default: 0)
            let samples = try positiveOption(args, o, "samples", default: 1000, max: 10_000_000)
            let sb = try o.optionalObject("sampler", SamplerBox.self)
            let rate = try o.optionalNumber("beta_eff_rate")
            let p = try modelOp(args, renamed: ["biasInit": "bias"]) {
                try BoltzmannPrior(graph: g.graph, biasInit: Float(b0), weightScale: Float(ws), betaEffRate: rate.map(Float.init))
            }
            try modelOp(args, renamed: ["negativeSamples": "samples"]) { try p.setNegativeSamples(samples) }
            if let sb { p.sampler = PriorBox.ownCopy(sb.sampler) }
            return .object(PriorBox(p, graph: g, sampler: sb))
        }
        m.fn("exact", doc: """
            qv.prior.exact(graph [, {bias_scale = 0, weight_scale = 0}]) -> qv.Prior
            A prior with everything exact by enumeration (log Z, its gradient, samples): graphs of
            <= 20 units, or any size without couplings (qv.graph.bernoulli). For tests and small studies.
            """) { args in
            try args.expectAtMost(2)
            let g = try args.object(1, GraphBox.self, "graph")
            let o = try args.options(2, allowed: ["bias_scale", "weight_scale"])
            let bs = try o.number("bias_scale", default: 0), ws = try o.number("weight_scale", default: 0)
            let p = try modelOp(args) { try ExactPrior(graph: g.graph, biasScale: Float(bs), weightScale: Float(ws)) }
            return .object(PriorBox(p, graph: g))
        }
    }
}
