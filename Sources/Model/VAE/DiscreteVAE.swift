import Foundation
import Runtime

/// A variational autoencoder with discrete latents z ∈ {0,1}^N under a
/// Boltzmann-machine prior (the paper's DVAE): a hierarchical encoder
/// q(z|x) over groups of units mapped onto the prior's graph, a decoder
/// p(x|ζ) with Bernoulli logits, and any `LatentPrior`. Children
/// "encoder", "decoder", "prior", so parameters read
/// "encoder.trunk.0.weight", "encoder.heads.1.bias", "decoder.0.weight",
/// "prior.bias".
///
/// `config` describes the architecture (not the weights) in strings, for
/// checkpoint metadata; `DiscreteVAE(config:prior:)` rebuilds the same
/// layout from it.
public final class DiscreteVAE: Module {
    public let encoder: HierarchicalEncoder
    public let decoder: Layer
    public let prior: LatentPrior
    public let grouping: LatentGrouping
    public let inputSize: Int
    public let config: [String: String]
    public var training = true

    public var localParameters: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { [("encoder", encoder), ("decoder", decoder), ("prior", prior)] }

    /// Assembles a VAE from parts (config is recorded as given).
    public init(encoder: HierarchicalEncoder, decoder: Layer, prior: LatentPrior, grouping: LatentGrouping,
                inputSize: Int, config: [String: String]) throws {
        try require(grouping.units == prior.units, "vae: grouping covers \(grouping.units) units, the prior has \(prior.units)")
        try require(grouping.sizes == encoder.groupSizes, "vae: grouping sizes \(grouping.sizes) differ from the encoder's \(encoder.groupSizes)")
        self.encoder = encoder; self.decoder = decoder; self.prior = prior
        self.grouping = grouping; self.inputSize = inputSize; self.config = config
    }

    /// The paper's default architecture keys.
    public static let denseDefaults: [String: String] = [
        "arch": "dense", "input": "784", "encoder_hidden": "512,256", "decoder_hidden": "256,512",
    ]
    public static let convDefaults: [String: String] = [
        "arch": "conv", "input": "784", "image": "28x28",
        "encoder_convs": "16:4:1,32:3:2,32:4:1,64:3:2,128:4:1",
        "decoder_dense": "128", "decoder_deconvs": "64:4:1,32:3:2,32:4:1,16:3:2,1:4:1",
        "padding": "0", "dropout": "0.2",
    ]

    /// Builds the architecture `config` describes (keys as in
    /// `denseDefaults`/`convDefaults`, plus "grouping"), over `prior`: a
    /// fresh model (load weights with `loadStateDict`). A config recorded
    /// for another prior graph ("prior_graph") is refused (field `prior`),
    /// as is one of a VAE built from custom networks (field `config`).
    public convenience init(config: [String: String], prior: LatentPrior, generator: inout Generator) throws {
        let arch = config["arch"] ?? "dense"
        try require(arch != "custom", field: "config",
                    "a VAE built from custom networks cannot be rebuilt from its config; build it again from its networks")
        if let g = config["prior_graph"] {
            try require(g == prior.graph.name, field: "prior",
                        "the config was made for a prior on \(g), this one is on \(prior.graph.name)")
        }
        var cfg = arch == "conv" ? DiscreteVAE.convDefaults : DiscreteVAE.denseDefaults
        for (k, v) in config { cfg[k] = v }
        let grouping = try LatentGrouping(parsing: cfg["grouping"] ?? "bipartite", graph: prior.graph)
        cfg["grouping"] = grouping.descriptionString
        cfg["latent_units"] = String(prior.units)
        cfg["latent_groups"] = grouping.sizes.map(String.init).joined(separator: ",")
        cfg["prior_graph"] = prior.graph.name
        let input = try intValue(cfg, "input")
        let n = prior.units
        let trunk: Layer, decoder: Layer, hidden: Int
        switch arch {
        case "dense":
            let eh = try intList(cfg, "encoder_hidden"), dh = try intList(cfg, "decoder_hidden")
            var layers: [Layer] = []
            var w = input
            for h in eh { layers.append(try Linear(w, h, generator: &generator)); layers.append(ReLU()); w = h }
            trunk = Sequential(layers)
            hidden = w
            var dl: [Layer] = []
            w = n
            for h in dh { dl.append(try Linear(w, h, generator: &generator)); dl.append(ReLU()); w = h }
            dl.append(try Linear(w, input, generator: &generator))
            decoder = Sequential(dl)
        case "conv":
            let dims = (cfg["image"] ?? "").split(separator: "x").compactMap { Int($0) }
            try require(dims.count == 2 && dims[0] * dims[1] == input, field: "config", "image \(cfg["image"] ?? "") does not match input \(input)")
            let pad = try intValue(cfg, "padding")
            guard let rate = Float(cfg["dropout"] ?? "0.2"), rate >= 0, rate < 1 else {
                throw ModelError(field: "dropout", "must be in [0, 1), got \(cfg["dropout"] ?? "")")
            }
            let enc = try triples(cfg, "encoder_convs"), dec = try triples(cfg, "decoder_deconvs")
            var layers: [Layer] = [Reshape([-1, 1, dims[0], dims[1]])]
            var c = 1, hh = dims[0], ww = dims[1]
            for (f, k, s) in enc {
                layers.append(try GatedConv(c, f, kernel: k, stride: s, padding: pad, generator: &generator))
                hh = (hh + 2 * pad - k) / s + 1; ww = (ww + 2 * pad - k) / s + 1
                try require(hh >= 1 && ww >= 1, field: "config", "the encoder convolutions shrink the image below 1×1")
                c = f
            }
            layers.append(Flatten())
            trunk = Sequential(layers)
            hidden = c * hh * ww
            // Decoder: dense to [dense, hh, ww] (the encoder's final grid), then the deconvs.
            let dense = try intValue(cfg, "decoder_dense")
            var dl: [Layer] = [try Linear(n, dense * hh * ww, generator: &generator), Reshape([-1, dense, hh, ww])]
            var dc = dense, dh = hh, dw = ww
            for (i, (f, k, s)) in dec.enumerated() {
                let last = i == dec.count - 1
                dl.append(try GatedConvTranspose(dc, f, kernel: k, stride: s, padding: pad,
                                                 dropout: last ? 0 : rate, reluValue: !last, generator: &generator))
                dh = (dh - 1) * s - 2 * pad + k; dw = (dw - 1) * s - 2 * pad + k
                dc = f
            }
            try require(dc == 1 && dh == dims[0] && dw == dims[1], field: "config",
                        "the decoder produces [\(dc), \(dh), \(dw)], expected [1, \(dims[0]), \(dims[1])]")
            dl.append(Flatten())
            decoder = Sequential(dl)
        default:
            throw ModelError(field: "config", "unknown architecture '\(arch)' (dense, conv)")
        }
        let encoder = try HierarchicalEncoder(trunk: trunk, hiddenSize: hidden, groupSizes: grouping.sizes, generator: &generator)
        try self.init(encoder: encoder, decoder: decoder, prior: prior, grouping: grouping, inputSize: input, config: cfg)
    }

    public convenience init(config: [String: String], prior: LatentPrior) throws {
        try self.init(config: config, prior: prior, generator: &GlobalRandom.generator)
    }

    /// P-dense: trunk 784-512-256 (ReLU), heads per group, decoder
    /// N-256-512-784 (ReLU), Bernoulli logits. `grouping` is a grouping's
    /// `descriptionString` (a name such as "bipartite" or "chains").
    public static func dense(prior: LatentPrior, grouping: String = "bipartite", input: Int = 784,
                             encoderHidden: [Int] = [512, 256], decoderHidden: [Int] = [256, 512],
                             generator: inout Generator) throws -> DiscreteVAE {
        try require(input >= 1, field: "input", "must be >= 1, got \(input)")
        try require(encoderHidden.allSatisfy { $0 >= 1 }, field: "encoderHidden", "layer sizes must be >= 1, got \(encoderHidden)")
        try require(decoderHidden.allSatisfy { $0 >= 1 }, field: "decoderHidden", "layer sizes must be >= 1, got \(decoderHidden)")
        return try DiscreteVAE(config: ["arch": "dense", "grouping": grouping, "input": String(input),
                                 "encoder_hidden": encoderHidden.map(String.init).joined(separator: ","),
                                 "decoder_hidden": decoderHidden.map(String.init).joined(separator: ",")],
                        prior: prior, generator: &generator)
    }

    public static func dense(prior: LatentPrior, grouping: String = "bipartite") throws -> DiscreteVAE {
        try dense(prior: prior, grouping: grouping, generator: &GlobalRandom.generator)
    }

    /// P-conv: the paper's gated convolutional encoder and decoder (Fig. 12)
    /// for 28×28 images, all paddings 0:
    /// encoder 28 →(16,4,1)→ 25 →(32,3,2)→ 12 →(32,4,1)→ 9 →(64,3,2)→ 4 →(128,4,1)→ 1,
    /// h = 128; decoder dense N→128 as [128,1,1], then
    /// 1 →(64,4,1)→ 4 →(32,3,2)→ 9 →(32,4,1)→ 12 →(16,3,2)→ 25 →(1,4,1)→ 28.
    /// `dropout` is the rate of the decoder's dropout layers, in [0, 1).
    public static func conv(prior: LatentPrior, grouping: String = "bipartite", dropout: Float = 0.2,
                            generator: inout Generator) throws -> DiscreteVAE {
        try require(dropout >= 0 && dropout < 1, field: "dropout", "must be in [0, 1), got \(numberText(dropout))")
        return try DiscreteVAE(config: ["arch": "conv", "grouping": grouping, "dropout": "\(dropout)"],
                               prior: prior, generator: &generator)
    }

    public static func conv(prior: LatentPrior, grouping: String = "bipartite") throws -> DiscreteVAE {
        try conv(prior: prior, grouping: grouping, generator: &GlobalRandom.generator)
    }

    /// Samples the posterior for x [B, P]: S per example, relaxed (τ) or hard (τ = nil).
    public func encode(_ x: Tensor, samples: Int = 1, tau: Float?, generator: inout Generator) throws -> PosteriorSample {
        try checkInput(x)
        return try encoder.sample(features: encoder.features(x), samples: samples, tau: tau, grouping: grouping, generator: &generator)
    }

    /// Decoder logits [R, P] for latents in unit order [R, N] (field `z`).
    public func decode(_ zeta: Tensor) throws -> Tensor {
        guard zeta.rank == 2, zeta.shape[1] == prior.units else {
            throw ModelError(field: "z", "expected latents [R, \(prior.units)], got \(zeta.shape)")
        }
        return try decoder.forward(zeta)
    }

    /// Reconstructions: pixel probabilities σ(decoder(z)) for one hard
    /// posterior sample per image (evaluation mode, no gradient).
    public func reconstruct(_ x: Tensor, generator: inout Generator) throws -> Tensor {
        try evaluating {
            let post = try encode(x, samples: 1, tau: nil, generator: &generator)
            return try decode(post.zeta).sigmoid()
        }
    }

    /// Images from the model: prior samples → decoder → pixel
    /// probabilities [n, P] (evaluation mode, no gradient).
    public func generate(_ n: Int, generator: inout Generator) throws -> (probabilities: Tensor, latents: Tensor) {
        try evaluating {
            let z = try prior.sample(n, generator: &generator)
            return (try decode(z).sigmoid(), z)
        }
    }

    /// One block-Gibbs chain of the prior's current machine, started
    /// uniformly at random, run `burnIn` sweeps and then `n` frames
    /// `sweeps` apart, each frame decoded (the paper's Fig. 10): pixel
    /// probabilities [n, P] and the chain's states [n, N]. Evaluation mode,
    /// no gradient; randomness from `generator`.
    public func decodeChain(_ n: Int, sweeps: Int = 10, burnIn: Int = 1000,
                            generator: inout Generator) throws -> (probabilities: Tensor, latents: Tensor) {
        try require(n >= 1, field: "n", "must be >= 1, got \(n)")
        try require(sweeps >= 1 && sweeps <= 10_000_000, field: "sweeps", "must be in 1..10000000, got \(sweeps)")
        try require(burnIn >= 0 && burnIn <= 100_000_000, field: "burnIn", "must be in 0..100000000, got \(burnIn)")
        let bm = prior.machine
        let chain = BlockGibbsSampler(sweeps: sweeps, burnIn: burnIn, beta: 1, persistent: true)
        var frames: [Float] = []
        frames.reserveCapacity(n * bm.units)
        for _ in 0..<n {
            try Interrupt.check()
            frames += try chain.sample(bm, count: 1, generator: &generator).samples
        }
        let z = try Tensor(frames, shape: [n, bm.units])
        return (try evaluating { try decode(z).sigmoid() }, z)
    }

    /// Throws (field `x`) unless x is a non-empty batch of images [B, P].
    func checkInput(_ x: Tensor) throws {
        guard x.rank == 2, x.shape[1] == inputSize, x.shape[0] > 0 else {
            throw ModelError(field: "x", "expected images [B, \(inputSize)], got \(x.shape)")
        }
    }
}

private func intValue(_ c: [String: String], _ k: String) throws -> Int {
    guard let s = c[k], let v = Int(s.trimmingCharacters(in: .whitespaces)), v >= 0 else {
        throw ModelError(field: "config", "'\(k)' must be a non-negative integer, got \(c[k] ?? "nothing")")
    }
    return v
}

private func intList(_ c: [String: String], _ k: String) throws -> [Int] {
    guard let s = c[k] else { throw ModelError(field: "config", "'\(k)' is missing") }
    if s.isEmpty { return [] }
    return try s.split(separator: ",").map {
        guard let v = Int($0.trimmingCharacters(in: .whitespaces)), v > 0 else { throw ModelError(field: "config", "'\(k)': bad size '\($0)'") }
        return v
    }
}

private func triples(_ c: [String: String], _ k: String) throws -> [(Int, Int, Int)] {
    guard let s = c[k], !s.isEmpty else { throw ModelError(field: "config", "'\(k)' is missing") }
    return try s.split(separator: ",").map { t in
        let v = t.split(separator: ":").compactMap { Int($0) }
        guard v.count == 3, v.allSatisfy({ $0 > 0 }) else { throw ModelError(field: "config", "'\(k)': expected f:k:s, got '\(t)'") }
        return (v[0], v[1], v[2])
    }
}
