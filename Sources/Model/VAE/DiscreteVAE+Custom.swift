import Runtime

extension DiscreteVAE {
    /// A VAE from the user's own networks: `trunk` maps images [B, input]
    /// to features [B, H], one dense head per latent group is added on top
    /// (conditioned on the earlier groups); `decoder` maps latents [B, N]
    /// to logits [B, input]. H is `trunkFeatures` when given (checked) and
    /// found by a trial run otherwise; both networks are tried on a batch
    /// of two zero inputs in evaluation mode (no dropout draws, no
    /// running-statistics updates), so a wrong shape is reported now, with
    /// the offending field (`trunk`, `decoder`, `trunkFeatures`). `grouping`
    /// defaults to `LatentGrouping(defaultFor:)`. The config has
    /// arch "custom" (it cannot be rebuilt from its config alone).
    public convenience init(trunk: Layer, decoder: Layer, prior: LatentPrior, grouping: LatentGrouping? = nil,
                            input: Int = 784, trunkFeatures: Int? = nil, generator: inout Generator) throws {
        try require(input >= 1 && input <= 1 << 24, field: "input", "must be in 1..\(1 << 24), got \(input)")
        let grouping = try grouping ?? LatentGrouping(defaultFor: prior.graph)
        let n = prior.units
        let ts = try trialShape(trunk, [2, input], "trunk")
        try require(ts.count == 2 && ts[0] == 2, field: "trunk",
                    "must map [B, \(input)] to [B, H], it gives \(ts) for B = 2")
        if let h = trunkFeatures {
            try require(h == ts[1], field: "trunkFeatures", "is \(h), but the trunk produces \(ts[1]) features")
        }
        let ds = try trialShape(decoder, [2, n], "decoder")
        try require(ds == [2, input], field: "decoder",
                    "must map latents [B, \(n)] to logits [B, \(input)], it gives \(ds) for B = 2")
        let enc = try HierarchicalEncoder(trunk: trunk, hiddenSize: ts[1], groupSizes: grouping.sizes, generator: &generator)
        let cfg = ["arch": "custom", "input": String(input), "trunk_features": String(ts[1]),
                   "grouping": grouping.descriptionString, "latent_units": String(n),
                   "latent_groups": grouping.sizes.map(String.init).joined(separator: ","),
                   "prior_graph": prior.graph.name]
        try self.init(encoder: enc, decoder: decoder, prior: prior, grouping: grouping, inputSize: input, config: cfg)
    }

    /// Same, with the global generator.
    public convenience init(trunk: Layer, decoder: Layer, prior: LatentPrior, grouping: LatentGrouping? = nil,
                            input: Int = 784, trunkFeatures: Int? = nil) throws {
        try self.init(trunk: trunk, decoder: decoder, prior: prior, grouping: grouping, input: input,
                      trunkFeatures: trunkFeatures, generator: &GlobalRandom.generator)
    }
}

/// The output shape of `layer` on zeros of `shape` in evaluation mode; a
/// Model or Runtime failure becomes an error about `field` (other errors,
/// e.g. from a network written in a front end's language, pass through).
private func trialShape(_ layer: Layer, _ shape: [Int], _ field: String) throws -> [Int] {
    do {
        return try layer.evaluating { try layer.forward(try Tensor.zeros(shape)).shape }
    } catch let e as ModelError {
        throw ModelError(field: field, "fails on input \(shape): \(e)")
    } catch let e as TensorError {
        throw ModelError(field: field, "fails on input \(shape): \(e.message)")
    }
}
