import CLua
import Foundation
import Model
import Runtime

// The discrete VAE in Lua (`qv.vae`, `qv.VAE`).

/// A DiscreteVAE owned by Lua, with the qv.Prior it was built on.
final class VAEBox {
    let vae: DiscreteVAE
    let prior: PriorBox
    init(_ vae: DiscreteVAE, prior: PriorBox) { self.vae = vae; self.prior = prior }

    var summary: String {
        let c = vae.config
        let arch = c["arch"] ?? "?"
        var net = arch
        if arch == "dense" {
            net = "dense \(vae.inputSize)-\(c["encoder_hidden"]?.replacingOccurrences(of: ",", with: "-") ?? "?") | "
                + "\(vae.prior.units)-\(c["decoder_hidden"]?.replacingOccurrences(of: ",", with: "-") ?? "?")-\(vae.inputSize)"
        }
        let groups = vae.grouping.sizes.map(String.init).joined(separator: "+")
        return "qv.VAE \(net), latents \(groups) (\(vae.grouping.name)) on \(prior.graph.displayName), "
            + "\(vae.parameterCount) parameters, \(vae.training ? "training" : "evaluation") mode"
    }
}

/// The `grouping` option: a name ("chains", "bipartite", another grouping
/// of the graph) or a table of groups of 1-based unit numbers. Default:
/// `LatentGrouping(defaultFor:)` ("chains" where the graph has it, else "bipartite").
func groupingOption(_ args: Arguments, _ o: Options, graph: Graph) throws -> LatentGrouping {
    let v = o.value("grouping")
    do {
        if v.isNil {
            return try LatentGrouping(defaultFor: graph)
        }
        if let s = v.stringValue { return try LatentGrouping(parsing: s, graph: graph) }
        guard case .ref(let r) = v, r.typeName == "table" else {
            throw args.optionError("grouping", "expected a grouping name or a table of groups of unit numbers, got \(v.typeName)")
        }
        var groups: [[Int]] = []
        for (k, g) in r.arrayValues().enumerated() {
            guard case .ref(let gr) = g, gr.typeName == "table" else {
                throw args.optionError("grouping", "group \(k + 1) must be a table of unit numbers")
            }
            groups.append(try gr.arrayValues().map { u in
                guard let i = u.intValue else { throw args.optionError("grouping", "group \(k + 1) holds a \(u.typeName), not a unit number") }
                return i - 1
            })
        }
        return try LatentGrouping(name: "custom", groups: groups, units: graph.nodeCount)
    } catch let e as ModelError {
        throw args.modelError(e)
    }
}

let vaeClass: LuaClass<VAEBox> = {
    let cls = LuaClass<VAEBox>("qv.VAE", doc: """
        qv.VAE — a variational autoencoder with discrete latents z ∈ {0,1}^N under a qv.Prior
        (qv.vae.dense, qv.vae.conv, qv.vae.new): hierarchical encoder q(z|x) over groups of units
        mapped onto the prior's graph, decoder p(x|ζ) with Bernoulli logits.
          local ph = model.prior:negative_phase()      -- the step's negative phase (advances the chains)
          local out = model:loss(x, {k = 1, d = 8, kl = 1, tau = 1/7, negative_phase = ph}); out.loss:backward()
          qv.vae.evaluate(model, x_test, {k = 1000, logz = logz, logz_err = err})
        """)
    cls.property("prior", doc: "the qv.Prior") { v in .object(v.prior) }
    cls.property("config", doc: "the architecture as a table of strings (checkpoint metadata; qv.vae.from_config)") { v in
        .table(v.vae.config.mapValues { .string($0) })
    }
    cls.property("grouping", doc: "the latent grouping's name (\"chains\", \"bipartite\", \"custom\")") { v in .string(v.vae.grouping.name) }
    cls.property("groups", doc: "the latent groups as tables of 1-based unit numbers") { v in
        .array(v.vae.grouping.groups.map { .ints($0.map { $0 + 1 }) })
    }
    cls.property("units", doc: "N, the number of latent units") { v in .int(v.vae.prior.units) }
    cls.property("input", doc: "pixels per image (784)") { v in .int(v.vae.inputSize) }
    cls.property("encoder", doc: "the encoder (a qv.nn.Module: trunk and one head per group)") { v in .object(ModuleBox(v.vae.encoder)) }
    cls.property("decoder", doc: "the decoder (a qv.nn.Module)") { v in .object(ModuleBox(v.vae.decoder)) }
    cls.property("training", doc: "training mode (settable; model:train(), model:eval())",
                 get: { v in .bool(v.vae.training) }, set: { v, args in v.vae.setTraining(try args.bool(1)) })

    cls.method("loss", doc: """
        model:loss(x [, {k = 1, d = 1, kl = 1, tau = 1/7, negative_phase = ph}]) -> {loss = Tensor, elbo =, recon =, logq =, energy =, logz =, kl =, bound =, mean_q =}
        The multi-sample bound L_{K,D} (Eq. A2) on images x [B, 784] (binarized): K·D relaxed posterior
        samples per image, log w = log p(x|ζ) − kl·(log q + H(ζ) + log Z). loss = −mean L_{K,D}, a
        differentiable scalar. A forward pass changes no state: in grad mode, a prior with a sampled
        negative phase needs ph = model.prior:negative_phase() (drawn first, once per training step),
        whose moments are log Z's gradient and whose β_eff scales the energy's gradient reaching the
        encoder (Eq. C2); without gradients (qv.no_grad) it is not needed. The numbers are batch means:
        elbo (single-sample ELBO at KL weight 1), recon = −log p(x|ζ), logq, energy = H(ζ), logz (exact,
        or the cached p:logz estimate), kl = logq + energy + logz, bound = −loss, mean_q (mean posterior
        probability). Randomness from the global generator. rows = {offset, total} (data-parallel
        training): x is images offset+1 ... offset+B of a batch of total; the random draws are the whole
        batch's and x's rows of them are used, so each image gets the same noise however a batch is split.
        """) { v, args in
        try args.expectAtMost(2)
        let x = try args.tensor(1, "x")
        let o = try args.options(2, allowed: ["k", "d", "kl", "tau", "negative_phase", "rows"])
        var rows: RowWindow? = nil
        if o.has("rows") {
            guard case .ref(let r) = o.value("rows"), r.typeName == "table",
                  case let w = r.arrayValues().compactMap(\.doubleValue), w.count == 2,
                  let off = Int(exactly: w[0]), let tot = Int(exactly: w[1]), off >= 0, tot >= 1 else {
                throw ArgumentError("bad option 'rows' to '\(args.function)' (expected {offset, total}, integers)")
            }
            rows = RowWindow(offset: off, total: tot)
        }
        let k = try o.int("k", default: 1), d = try o.int("d", default: 1)
        let kl = try o.number("kl", default: 1), tau = try o.number("tau", default: 1.0 / 7)
        let ph = try o.optionalObject("negative_phase", NegativePhaseBox.self)
        let r = try modelOp(args, positions: ["x": 1], renamed: ["klWeight": "kl"]) {
            try v.vae.objective(x: x, k: k, d: d, klWeight: Float(kl), tau: Float(tau), negativePhase: ph?.phase,
                                rows: rows, generator: &GlobalRandom.generator)
        }
        return .table(["loss": .object(r.loss), "bound": .number(r.bound), "elbo": .number(r.elbo), "recon": .number(r.recon),
                       "logq": .number(r.logQ), "energy": .number(r.energy), "logz": .number(r.logZ), "kl": .number(r.kl),
                       "mean_q": .number(r.meanQ), "k": .int(k), "d": .int(d)])
    }
    cls.method("encode", doc: """
        model:encode(x [, {samples = 1, tau = nil}]) -> z, logits
        Posterior samples for images x [B, 784]: z [B·samples, N] in unit order, hard (tau = nil) or
        relaxed with temperature tau, and the logits [B·samples, N] (unit order). Differentiable.
        """) { v, args in
        try args.expectAtMost(2)
        let x = try args.tensor(1, "x")
        let o = try args.options(2, allowed: ["samples", "tau"])
        let s = try positiveOption(args, o, "samples", default: 1, max: 1_000_000)
        let tau = try o.optionalNumber("tau")
        let (z, l) = try modelOp(args, positions: ["x": 1]) { () -> (Tensor, Tensor) in
            let post = try v.vae.encode(x, samples: s, tau: tau.map(Float.init), generator: &GlobalRandom.generator)
            return (post.zeta, try v.vae.grouping.toUnits(Tensor.cat(post.logits, dim: 1)))
        }
        return .values(.object(z), .object(l))
    }
    cls.method("decode", doc: """
        model:decode(z) -> Tensor
        Decoder logits [R, 784] for latents z [R, N] in unit order (σ(logits) are pixel probabilities).
        """) { v, args in
        try args.expectAtMost(1)
        let z = try args.tensor(1, "z")
        return .object(try modelOp(args, positions: ["z": 1]) { try v.vae.decode(z) })
    }
    cls.method("generate", doc: """
        model:generate(n) -> probabilities, z
        n images from the model: prior samples (p:sample) through the decoder, pixel probabilities
        [n, 784], and the latents [n, N] (evaluation mode, no gradient).
        """) { v, args in
        try args.expectAtMost(1)
        let n = try sampleCount(args, 1)
        let r = try modelOp(args) { try v.vae.generate(n, generator: &GlobalRandom.generator) }
        return .values(.object(r.probabilities), .object(r.latents))
    }
    cls.method("reconstruct", doc: """
        model:reconstruct(x) -> Tensor
        Pixel probabilities σ(decoder(z)) for one hard posterior sample per image of x [B, 784]
        (evaluation mode, no gradient).
        """) { v, args in
        try args.expectAtMost(1)
        let x = try args.tensor(1, "x")
        return .object(try modelOp(args, positions: ["x": 1]) { try v.vae.reconstruct(x, generator: &GlobalRandom.generator) })
    }
    cls.method("decode_chain", doc: """
        model:decode_chain(n [, {sweeps = 10, burn_in = 1000}]) -> probabilities, z
        One block-Gibbs chain of the prior, started uniformly at random, run burn_in sweeps and then
        n frames sweeps apart, each frame decoded (the paper's Fig. 10): pixel probabilities [n, 784]
        and the chain's states [n, N]. Evaluation mode, no gradient.
        """) { v, args in
        try args.expectAtMost(2)
        let n = try sampleCount(args, 1)
        let o = try args.options(2, allowed: ["sweeps", "burn_in"])
        let sweeps = try o.int("sweeps", default: 10), burn = try o.int("burn_in", default: 1000)
        let r = try modelOp(args, positions: ["n": 1]) {
            try v.vae.decodeChain(n, sweeps: sweeps, burnIn: burn, generator: &GlobalRandom.generator)
        }
        return .values(.object(r.probabilities), .object(r.latents))
    }
    cls.method("describe", doc: "model:describe() -> string\nThe encoder, decoder and prior as a tree of layers.") { v, args in
        try args.expectAtMost(0)
        return .string(v.summary + "\n" + describeTree(v.vae))
    }
    addModuleMethods(cls, what: "model") { $0.vae }
    cls.tostring { v in v.summary }
    cls.extraBytes { v in MemoryFootprint.bytes(v.vae) &+ MemoryFootprint.bytes(v.prior.prior) }
    return cls
}()

extension QV {
    /// `qv.vae`: discrete VAEs and their evaluation.
    public static func openVAE(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(vaeClass)
        let m = state.module("qv.vae", doc: """
            qv.vae — discrete VAEs with a Boltzmann-machine prior (the paper's DVAE):
              dense{prior = p, ...}, conv{prior = p, ...}   the paper's networks (Fig. 12 for conv)
              new{trunk = net, decoder = net, prior = p}     your own qv.nn networks
              from_config(config, prior)                     rebuild from model.config
              evaluate(model, x, {k = 1000, logz = v})       test log-likelihood, ELBO, active units
            """)
        /// The required `prior` option.
        func priorOption(_ args: Arguments, _ o: Options) throws -> PriorBox {
            guard let p = try o.optionalObject("prior", PriorBox.self) else {
                throw args.argumentError(1, "options", "prior is required (a qv.Prior: qv.prior.new(graph))")
            }
            return p
        }
        /// A table of layer sizes (checked by the model).
        func sizes(_ args: Arguments, _ o: Options, _ key: String) throws -> [Int]? {
            guard o.has(key) else { return nil }
            let (shape, v) = try args.convertingOption(key) { try LuaArrays.read(o.value(key), state: args.state) }
            guard shape.count == 1, v.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else {
                throw args.optionError(key, "expected a table of layer sizes, e.g. {512, 256}")
            }
            return v.map { Int($0) }
        }
        m.fn("dense", doc: """
            qv.vae.dense{prior = p [, grouping = "chains", encoder_hidden = {512, 256}, decoder_hidden = {256, 512}, input = 784]} -> qv.VAE
            The dense networks: trunk input-512-256 (ReLU) and one dense head per latent group; decoder
            N-256-512-input (ReLU), Bernoulli logits. Weights from the global generator (qv.seed).
              grouping   how the posterior's groups map onto the prior's units: "chains" (Chimera's
                         shores; the default where the graph has it), "bipartite" (the two sides), or a
                         table of groups of 1-based unit numbers, e.g. {{1, 3, ...}, {2, 4, ...}}
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["prior", "grouping", "encoder_hidden", "decoder_hidden", "input"])
            let p = try priorOption(args, o)
            let grouping = try groupingOption(args, o, graph: p.prior.graph)
            let eh = try sizes(args, o, "encoder_hidden"), dh = try sizes(args, o, "decoder_hidden")
            let input = try o.int("input", default: 784)
            let vae = try modelOp(args) {
                try DiscreteVAE.dense(prior: p.prior, grouping: grouping.descriptionString, input: input,
                                      encoderHidden: eh ?? [512, 256], decoderHidden: dh ?? [256, 512],
                                      generator: &GlobalRandom.generator)
            }
            return .object(VAEBox(vae, prior: p))
        }
        m.fn("conv", doc: """
            qv.vae.conv{prior = p [, grouping = "chains", dropout = 0.2]} -> qv.VAE
            The paper's gated convolutional networks (Fig. 12) for 28×28 images: encoder gated convs
            (16,4,1) (32,3,2) (32,4,1) (64,3,2) (128,4,1) and dense heads; decoder dense 128 and gated
            deconvs (64,4,1) (32,3,2) (32,4,1) (16,3,2) (1,4,1), dropout in the decoder.
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["prior", "grouping", "dropout"])
            let p = try priorOption(args, o)
            let grouping = try groupingOption(args, o, graph: p.prior.graph)
            let dropout = try o.number("dropout", default: 0.2)
            let vae = try modelOp(args) {
                try DiscreteVAE.conv(prior: p.prior, grouping: grouping.descriptionString, dropout: Float(dropout),
                                     generator: &GlobalRandom.generator)
            }
            return .object(VAEBox(vae, prior: p))
        }
        m.fn("from_config", doc: """
            qv.vae.from_config(config, prior) -> qv.VAE
            A fresh VAE with the architecture described by config (a model.config table, e.g. read back
            from checkpoint metadata) over prior; load weights with model:load_state.
            """) { args in
            try args.expectAtMost(2)
            let t = try args.table(1, "config")
            let p = try args.object(2, PriorBox.self, "prior")
            var cfg: [String: String] = [:]
            for (k, v) in luaStringKeyedPairs(t, state: args.state) {
                switch v {
                case .string(let s): cfg[k] = s
                case .int(let i): cfg[k] = String(i)
                case .number(let d): cfg[k] = "\(d)"
                default: throw args.argumentError(1, "config", "'\(k.hasPrefix("\u{0}") ? "(non-string key)" : k)' must be a string")
                }
            }
            let vae = try modelOp(args, positions: ["config": 1, "prior": 2]) { try DiscreteVAE(config: cfg, prior: p.prior) }
            return .object(VAEBox(vae, prior: p))
        }
        m.fn("new", doc: """
            qv.vae.new{trunk = net, decoder = net, prior = p [, trunk_features = H, grouping = "chains", input = 784]} -> qv.VAE
            A VAE from your own qv.nn networks: trunk maps images [B, input] to features [B, H]
            (H = trunk_features, or found by a trial run), one dense head per latent group is added
            on top (conditioned on the earlier groups); decoder maps latents [B, N] to logits [B, input].
              local trunk = qv.nn.sequential{qv.nn.linear(784, 256), qv.nn.relu()}
              local dec = qv.nn.sequential{qv.nn.linear(288, 256), qv.nn.relu(), qv.nn.linear(256, 784)}
              local model = qv.vae.new{trunk = trunk, decoder = dec, prior = p}
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["trunk", "decoder", "prior", "trunk_features", "grouping", "input"])
            guard let p = try o.optionalObject("prior", PriorBox.self) else {
                throw args.argumentError(1, "options", "prior is required (a qv.Prior)")
            }
            guard let tb = try o.optionalObject("trunk", ModuleBox.self), let trunk = tb.layer else {
                throw args.argumentError(1, "options", "trunk is required (a qv.nn.Module with a forward)")
            }
            guard let db = try o.optionalObject("decoder", ModuleBox.self), let decoder = db.layer else {
                throw args.argumentError(1, "options", "decoder is required (a qv.nn.Module with a forward)")
            }
            let input = try o.int("input", default: 784)
            let grouping = try groupingOption(args, o, graph: p.prior.graph)
            let h = try o.optionalInt("trunk_features")
            let vae = try modelOp(args) {
                try DiscreteVAE(trunk: trunk, decoder: decoder, prior: p.prior, grouping: grouping, input: input,
                                trunkFeatures: h, generator: &GlobalRandom.generator)
            }
            return .object(VAEBox(vae, prior: p))
        }
        m.fn("evaluate", doc: """
            qv.vae.evaluate(model, x [, {k = 1000, logz = v, logz_err = e, batch = 500, threshold = 0.01,
                                         beta_eff = 1, logz_method = "ais", logz_chains = 1000,
                                         logz_temperatures = 1000}]) -> table
            Evaluates model on binarized images x [n, 784] in evaluation mode (restored afterwards),
            with hard latents, in chunks (memory stays bounded):
              ll, ll_se   test log-likelihood L_K (K = k importance samples) and its standard error over
                          the images; log Z = logz (default: estimated now by AIS 1000 × 1000, as p:logz{}
                          but not cached: an evaluation changes no state)
              elbo, recon, logq, energy, kl   single-sample ELBO and its parts (hard z)
              active      active units: posterior-mean variance over x above threshold (Fig. 5)
              variances   that variance per unit, a Tensor [N]
              logz, logz_err, n, k, beta_eff
              ll_exact, ll_exact_se   a quantum prior (qv.prior.quantum) of <= 12 units only: L_K with the
                          true p(z) (the diagonal of e^(-H)/Tr e^(-H), exact diagonalization) from the same
                          samples; ll is then the Q-ELBO-based bound (p~(z) = e^(-H(z))/Z <= p(z), Eq. 15)
            beta_eff ≠ 1 evaluates the auxiliary model (Eqs. 17-18): the prior e^(-beta_eff H)/Z, i.e. the
            machine with beta_eff·b and beta_eff·W that an annealer at that temperature samples (logz, when
            given, must be its log Z). Without logz, log Z is estimated by logz_method ("exact", "ais", or
            "pa" with logz_chains replicas in 4 populations), logz_chains and logz_temperatures.
            Randomness from the global generator.
            """) { args in
            try args.expectAtMost(3)
            let v = try args.object(1, VAEBox.self, "model")
            let x = try args.tensor(2, "x")
            let o = try args.options(3, allowed: ["k", "logz", "logz_err", "batch", "threshold", "beta_eff", "logz_method",
                                                  "logz_chains", "logz_temperatures"])
            let beta = try o.number("beta_eff", default: 1)
            var method: LogZMethod? = nil
            if let m = try o.optionalString("logz_method") {
                let chains = try o.int("logz_chains", default: 1000), temps = try o.int("logz_temperatures", default: 1000)
                guard chains >= 4, temps >= 2 else {
                    throw args.optionError("logz_chains", "logz_chains must be >= 4 and logz_temperatures >= 2")
                }
                switch m {
                case "exact": method = .exact
                case "ais": method = .ais(chains: chains, temperatures: temps)
                case "pa": method = .pa(replicas: chains, temperatures: temps, populations: 4)
                default: throw args.optionError("logz_method", "expected 'exact', 'ais' or 'pa', got '\(m)'")
                }
            }
            let k = try o.int("k", default: 1000), batch = try o.int("batch", default: 500)
            let threshold = try o.number("threshold", default: 0.01)
            let logz = try o.optionalNumber("logz"), err = try o.number("logz_err", default: 0)
            let r = try modelOp(args, positions: ["x": 2], renamed: ["logZ": "logz", "logZError": "logz_err", "batchSize": "batch", "betaEff": "beta_eff"]) {
                try v.vae.evaluate(x, k: k, logZ: logz.map { ($0, err) }, betaEff: beta, logZMethod: method,
                                   threshold: threshold, batchSize: batch, generator: &GlobalRandom.generator)
            }
            let ll = r.logLikelihood, mt = r.set.metrics
            var t: [String: LuaValue] = [
                "ll": .number(ll.mean), "ll_se": .number(ll.standardError), "logz": .number(r.logZ),
                "logz_err": .number(r.logZError), "elbo": .number(mt.elbo), "recon": .number(mt.recon),
                "logq": .number(mt.logQ), "energy": .number(mt.energy), "kl": .number(mt.kl),
                "active": .int(r.set.active), "variances": .object(Tensor(r.set.variances.map { Float($0) })),
                "n": .int(r.count), "k": .int(k), "beta_eff": .number(beta)]
            if let e = r.exactLogLikelihood {
                t["ll_exact"] = .number(e.mean); t["ll_exact_se"] = .number(e.standardError)
            }
            return .table(t)
        }
    }
}
