import Runtime

/// Samples of the hierarchical posterior q(z|x) = Π_g q(z_g | x, ζ_<g),
/// for R = B·S rows (S samples per example, row b·S + s).
public struct PosteriorSample {
    /// Per group, the logits l_g [R, n_g] (q = σ(l)).
    public let logits: [Tensor]
    /// Per group, the sampled ζ_g [R, n_g]: relaxed σ((σ⁻¹(ρ) + l)/τ), or
    /// hard Θ(σ⁻¹(ρ) + l) when τ was nil.
    public let groups: [Tensor]
    /// All groups concatenated and put in unit order [R, N] (the prior's
    /// and the decoder's order).
    public let zeta: Tensor
    /// Whether ζ is the hard z.
    public let hard: Bool

    /// log q(ζ|x) [R] = Σ_g Σ [ζ log σ(l) + (1 − ζ) log σ(−l)]: the paper's
    /// surrogate for relaxed ζ, the exact Bernoulli log-probability for
    /// hard z. Differentiable in the logits and in ζ.
    public func logQ() throws -> Tensor {
        var total: Tensor? = nil
        for (l, z) in zip(logits, groups) {
            let t = try l.bceWithLogits(z).sum(1).neg()
            total = try total.map { try $0 + t } ?? t
        }
        return total!
    }
}

/// The encoder: a trunk x → h [B, H] and one dense head per group,
/// l_g = Linear(H + Σ_{g'<g} n_{g'}, n_g)([h, ζ_1, …, ζ_{g−1}]) (children
/// "trunk" and "heads.0", "heads.1", ...; PyTorch's layout of one Linear
/// over the concatenation). The head's h-part runs once per example and
/// is replicated over the S samples; only the ζ-part runs per sample.
public final class HierarchicalEncoder: Module {
    public let trunk: Layer
    public let heads: ModuleList<Linear>
    public let hiddenSize: Int
    public let groupSizes: [Int]
    public var training = true

    public init(trunk: Layer, hiddenSize: Int, groupSizes: [Int], generator: inout Generator) throws {
        try require(!groupSizes.isEmpty && groupSizes.allSatisfy { $0 > 0 }, "encoder: group sizes must be positive")
        self.trunk = trunk; self.hiddenSize = hiddenSize; self.groupSizes = groupSizes
        var hs: [Linear] = []
        var prev = 0
        for n in groupSizes {
            hs.append(try Linear(hiddenSize + prev, n, generator: &generator))
            prev += n
        }
        heads = ModuleList(hs)
    }

    public var localParameters: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { [("trunk", trunk), ("heads", heads)] }

    /// The trunk's features h [B, H].
    public func features(_ x: Tensor) throws -> Tensor {
        let h = try trunk.forward(x)
        guard h.rank == 2, h.shape[1] == hiddenSize else {
            throw ModelError("encoder: the trunk produced \(h.shape), expected [B, \(hiddenSize)]")
        }
        return h
    }

    /// Samples the groups given trunk features h [B, H]: S samples per
    /// example; τ = nil gives hard samples (evaluation), else the relaxation.
    public func sample(features h: Tensor, samples s: Int, tau: Float?, grouping: LatentGrouping,
                       generator: inout Generator) throws -> PosteriorSample {
        try require(s >= 1, "encoder: samples per example must be ≥ 1, got \(s)")
        if let tau { try require(tau > 0 && tau.isFinite, field: "tau", "the temperature τ must be finite and > 0, got \(numberText(tau))") }
        try require(grouping.sizes == groupSizes, "encoder: grouping sizes \(grouping.sizes) differ from the encoder's \(groupSizes)")
        let b = h.shape[0], r = b * s
        var logits: [Tensor] = [], zs: [Tensor] = []
        var prev = 0
        for (g, n) in groupSizes.enumerated() {
            let head = heads[g]
            let wh = try head.weight.narrow(1, start: 0, length: hiddenSize)
            var l = try Tensor.linear(h, wh, head.bias)
            if s > 1 { l = try l.unsqueeze(1).expand([b, s, n]).reshape([r, n]) }
            if g > 0 {
                let wz = try head.weight.narrow(1, start: hiddenSize, length: prev)
                let zin = zs.count == 1 ? zs[0] : try Tensor.cat(zs, dim: 1)
                l = try l + Tensor.linear(zin, wz)
            }
            // σ⁻¹(ρ), ρ ~ U(0, 1) open.
            let u = try Tensor.logisticNoise([r, n], generator: &generator)
            let z: Tensor
            if let tau { z = try (l + u).mul(1 / tau).sigmoid() }
            else { z = try Tensor.noGrad { try (l + u).gt(0) } }
            logits.append(l); zs.append(z)
            prev += n
        }
        let grouped = zs.count == 1 ? zs[0] : try Tensor.cat(zs, dim: 1)
        return PosteriorSample(logits: logits, groups: zs, zeta: try grouping.toUnits(grouped), hard: tau == nil)
    }

    /// Hard samples z (unit order, [R, N]) and log q(z|x) [R] for
    /// evaluation (no gradient), S per example: the same draws as
    /// `sample(features:samples:tau: nil, ...)` (one uniform per unit and
    /// row, group by group), but each group's sample and log-probability
    /// come from one fused pass and the per-example part of the logits is
    /// never replicated in memory.
    public func sampleHard(features h: Tensor, samples s: Int, grouping: LatentGrouping,
                           generator: inout Generator) throws -> (zeta: Tensor, logQ: Tensor) {
        try require(s >= 1, "encoder: samples per example must be ≥ 1, got \(s)")
        try require(grouping.sizes == groupSizes, "encoder: grouping sizes \(grouping.sizes) differ from the encoder's \(groupSizes)")
        return try Tensor.noGrad {
            var zs: [Tensor] = []
            var logQ: Tensor? = nil
            var prev = 0
            for (g, n) in groupSizes.enumerated() {
                let head = heads[g]
                let lh = try Tensor.linear(h, head.weight.narrow(1, start: 0, length: hiddenSize), head.bias)
                var lz: Tensor? = nil
                if g > 0 {
                    let zin = zs.count == 1 ? zs[0] : try Tensor.cat(zs, dim: 1)
                    lz = try Tensor.linear(zin, head.weight.narrow(1, start: hiddenSize, length: prev))
                }
                let (z, lq) = try Tensor.bernoulliLogitSample(base: lh, replicate: s, offset: lz, generator: &generator)
                zs.append(z)
                logQ = try logQ.map { try $0 + lq } ?? lq
                prev += n
            }
            let grouped = zs.count == 1 ? zs[0] : try Tensor.cat(zs, dim: 1)
            return (try grouping.toUnits(grouped), logQ!)
        }
    }
}
