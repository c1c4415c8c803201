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

    /// b and W (both priors name their parameters "bias" and "weights").
    var bias: Tensor { prior.localParameters.first { $0.0 == "bias" }!.1 }
    var weights: Tensor { prior.localParameters.first { $0.0 == "weights" }!.1 }

    /// The current parameters as a numeric machine (a copy).
    func machine() throws -> BoltzmannMachine {
        try BoltzmannMachine(graph: prior.graph, bias: bias.toArray(), weights: weights.toArray())
    }

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
            let gs = Set(q.gamma)
            let gt = gs.count == 1 ? fmtNum(Double(q.gamma[0]), "%.4g") : "per unit"
            s += ", quantum Γ \(gt), negative phase \(q.negativeSamples) × pimc{slices = \(q.slices), sweeps = \(q.sampler.sweeps)}"
            if let c = q.cachedLogZ {
                s += ", log Z \(fmtNum(c.logZ, "%.6g")) ± \(fmtNum(c.error, "%.2g"))"
                if c.stats["stale"] == 1 { s += " (stale)" }
            }
        } else {
            s += ", exact"
        }
        let maxW = weights.toArray().reduce(0) { max($0, abs($1)) }
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

/// A bound option for clamp: a number w >= 0 (meaning [-w, w]).
private func boundOption(_ args: Arguments, _ o: Options, _ key: String) throws -> Float? {
    guard let v = try o.optionalNumber(key) else { return nil }
    guard v.isFinite, v >= 0 else { throw args.optionError(key, "must be a finite number >= 0 (meaning [-w, w]), got \(fmtNum(v))") }
    return Float(v)
}

let priorClass: LuaClass<PriorBox> = {
    let cls = LuaClass<PriorBox>("qv.Prior", doc: """
        qv.Prior — the VAE's latent prior p(z) = exp(-H(z))/Z over z ∈ {0,1}^N, H(z) = Σ b_l z_l +
        Σ_edges W_uv z_u z_v, on a qv.Graph (qv.prior.new; qv.prior.exact for small graphs).
        p.bias, p.weights are the parameter tensors (train them with qv.optim); p:energy(z) is
        differentiable; p:logz_tensor() is log Z whose gradient is the sampled negative phase.
        Explore a trained prior with p:machine() and qv.sampler.
        """)
    cls.property("graph", doc: "the qv.Graph") { p in .object(p.graph) }
    cls.property("bias", doc: "b, a qv.Tensor [N] (a leaf requiring grad; the live parameter)") { p in .object(p.bias) }
    cls.property("weights", doc: "W, a qv.Tensor [E], one per edge in graph:edge_list() order (the live parameter)") { p in
        .object(p.weights)
    }
    cls.property("units", doc: "N, the number of latent units (also #p)") { p in .int(p.prior.units) }
    cls.property("kind", doc: "\"boltzmann\" (sampled negative phase), \"quantum\" (QBM, PIMC negative phase) or \"exact\" (enumerated)") { p in .string(p.kind) }
    cls.property("beta_eff", doc: "β_eff of Appendix C: scales the prior-energy gradient reaching the encoder (settable)",
                 get: { p in .number(Double(p.prior.betaEff)) },
                 set: { p, args in
                     let v = try args.number(1)
                     guard v.isFinite, v > 0 else { throw args.argumentError(1, nil, "β_eff must be finite and > 0") }
                     if let b = p.boltzmann { b.betaEff = Float(v) } else if let e = p.prior as? ExactPrior { e.betaEff = Float(v) }
                     else { throw args.argumentError(1, nil, "a quantum prior has β_eff 1") }
                 })
    cls.property("sampler", doc: "the negative-phase qv.Sampler (nil: the default PCD, or an exact prior); settable",
                 get: { p in p.samplerBox.map { .object($0) } ?? .nil },
                 set: { p, args in
                     guard let b = p.boltzmann else { throw args.argumentError(1, nil, "an exact prior has no sampler") }
                     let s = try args.object(1, SamplerBox.self)
                     b.sampler = PriorBox.ownCopy(s.sampler)
                     p.samplerBox = s
                 })
    cls.property("samples", doc: "negative-phase samples per training step (settable)",
                 get: { p in p.boltzmann.map { .int($0.negativeSamples) } ?? p.quantum.map { .int($0.negativeSamples) } ?? .nil },
                 set: { p, args in
                     guard p.boltzmann != nil || p.quantum != nil else {
                         throw args.argumentError(1, nil, "an exact prior has no negative samples")
                     }
                     let n = try args.int(1)
                     guard n >= 1, n <= 10_000_000 else { throw args.argumentError(1, nil, "must be in 1..10000000") }
                     p.boltzmann?.negativeSamples = n
                     p.quantum?.negativeSamples = n
                 })
    cls.property("stats", doc: """
        statistics of the last negative phase / log Z (logZ_source, logZ_stale, neg_energy, ...)
        """) { p in statsTable(p.boltzmann?.stats ?? p.quantum?.stats ?? [:]) }
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
        let w = try boundOption(args, o, "weights"), b = try boundOption(args, o, "bias")
        try tensorOp(args) {
            try Tensor.noGrad {
                if let w { try p.weights.clamp_(min: -w, max: w) }
                if let b { try p.bias.clamp_(min: -b, max: b) }
            }
        }
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
            let e = try tensorOp(args) { try b.estimateLogZ(method: m, generator: &g) }
            return .values(.number(e.logZ), .number(e.error))
        }
        if let q = p.quantum {
            let (chains, temps, exact) = try quantumLogZOptions(args, o, units: q.units)
            let e = try tensorOp(args) { try q.estimateLogZ(chains: chains, temperatures: temps, exact: exact, generator: &g) }
            return .values(.number(e.logZ), .number(e.error))
        }
        let e = try tensorOp(args) { try p.prior.estimateLogZ(generator: &g) }
        return .values(.number(e.logZ), .number(e.error))
    }
    cls.method("logz_tensor", doc: """
        p:logz_tensor() -> Tensor
        log Z as a 0-d tensor for a loss: its value is exact or the cached p:logz estimate, its
        gradient the negative phase (p.samples samples of p.sampler, drawn now in grad mode).
        """) { p, args in
        try args.expectAtMost(0)
        return .object(try tensorOp(args) { try p.prior.logZ() })
    }
    cls.method("energy", doc: """
        p:energy(z) -> Tensor
        H(z) of each row of z [B, N] (binary or relaxed), a [B] tensor, differentiable in z, b and W.
        """) { p, args in
        try args.expectAtMost(1)
        let z = try args.tensor(1, "z")
        return .object(try tensorOp(args) { try p.prior.energy(z) })
    }
    cls.method("sample", doc: """
        p:sample(n [, sampler]) -> Tensor
        n samples of the prior as an [n, N] tensor of 0/1: by default fresh block-Gibbs chains run
        for 1000 sweeps (exact for an exact prior or a prior without couplings), or sampler's
        samples. Randomness from the global generator.
        """) { p, args in
        try args.expectAtMost(2)
        let n = try sampleCount(args, 1)
        let sb = try args.optionalObject(2, SamplerBox.self, "sampler")
        return .object(try tensorOp(args) { () -> Tensor in
            if let sb {
                let set: SampleSet
                if let ls = sb.sampler as? LuaCallbackSampler {
                    set = try ls.sample(box: BMBox(try p.machine(), graph: p.graph), count: n)
                } else {
                    set = try sb.sampler.sample(try p.machine(), count: n, generator: &GlobalRandom.generator)
                }
                return try Tensor(set.samples, shape: [n, p.prior.units])
            }
            return try p.prior.sample(n, generator: &GlobalRandom.generator)
        })
    }
    cls.method("machine", doc: """
        p:machine() -> qv.BM
        The current parameters as a qv.BM (a copy), for qv.sampler, bm:logz, bm:exact ...
        """) { p, args in
        try args.expectAtMost(0)
        return .object(BMBox(try p.machine(), graph: p.graph))
    }
    cls.method("update_beta_eff", doc: """
        p:update_beta_eff(samples, rate) -> beta_eff
        One Eq. C3 step β ← β + rate (<H>_BM − <H>_samples): samples (a Tensor [M, N] or qv.Samples,
        e.g. an annealer's reads) are compared with thermal samples of exp(-β H). Returns the new β_eff.
        """) { p, args in
        try args.expectAtMost(2)
        guard let b = p.boltzmann else { throw args.error("an exact prior has no β_eff tracking") }
        let rate = try args.number(2, "rate")
        guard rate.isFinite, rate >= 0 else { throw args.argumentError(2, "rate", "must be finite and >= 0") }
        if let s = args.objectIfPresent(1, SamplesBox.self) {
            return .number(Double(try tensorOp(args) { try b.updateBetaEff(hardwareSamples: s.set, rate: Float(rate)) }))
        }
        let t = try args.tensor(1, "samples")
        return .number(Double(try tensorOp(args) { try b.updateBetaEff(hardwareSamples: t, rate: Float(rate)) }))
    }
    addModuleMethods(cls, what: "p") { $0.prior }
    cls.tostring { p in p.summary }
    return cls
}()

extension QV {
    /// `qv.prior`: BoltzmannPrior and ExactPrior.
    public static func openPrior(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(priorClass)
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
              beta_eff_rate  when set, each training step also applies one Eq. C3 β_eff update
            """) { args in
            try args.expectAtMost(2)
            let g = try args.object(1, GraphBox.self, "graph")
            let o = try args.options(2, allowed: ["sampler", "samples", "weight_scale", "bias", "beta_eff_rate"])
            let ws = try o.number("weight_scale", default: 0.01), b0 = try o.number("bias", default: 0)
            guard ws.isFinite, ws >= 0 else { throw args.optionError("weight_scale", "must be finite and >= 0") }
            guard b0.isFinite else { throw args.optionError("bias", "must be finite") }
            let samples = try positiveOption(args, o, "samples", default: 1000, max: 10_000_000)
            let sb = try o.optionalObject("sampler", SamplerBox.self)
            let p = try tensorOp(args) { try BoltzmannPrior(graph: g.graph, biasInit: Float(b0), weightScale: Float(ws)) }
            p.negativeSamples = samples
            if let sb { p.sampler = PriorBox.ownCopy(sb.sampler) }
            if let r = try o.optionalNumber("beta_eff_rate") {
                guard r.isFinite, r >= 0 else { throw args.optionError("beta_eff_rate", "must be finite and >= 0") }
                p.betaEffRate = Float(r)
            }
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
            guard bs.isFinite, bs >= 0 else { throw args.optionError("bias_scale", "must be finite and >= 0") }
            guard ws.isFinite, ws >= 0 else { throw args.optionError("weight_scale", "must be finite and >= 0") }
            let p = try tensorOp(args) { try ExactPrior(graph: g.graph, biasScale: Float(bs), weightScale: Float(ws)) }
            return .object(PriorBox(p, graph: g))
        }
    }
}
