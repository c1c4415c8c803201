import Runtime

/// The trained Boltzmann prior is the VAE's latent prior: energy and the
/// sampled negative phase come from `BoltzmannPrior`; evaluation's log Z
/// is exact where the graph allows and annealed importance sampling
/// (1000 chains × 1000 temperatures) otherwise.
extension BoltzmannPrior: LatentPrior {
    public func sample(_ n: Int, generator: inout Generator) throws -> Tensor {
        try sample(n, using: nil, generator: &generator)
    }

    public func estimateLogZ(generator: inout Generator) throws -> (logZ: Double, error: Double) {
        let e = try estimateLogZ(method: .ais(chains: 1000, temperatures: 1000), generator: &generator)
        return (e.logZ, e.error)
    }
}
