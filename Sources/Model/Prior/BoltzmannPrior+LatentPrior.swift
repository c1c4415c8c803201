import Runtime

/// The trained Boltzmann prior is the VAE's latent prior: energy, the
/// negative phase and samples come from `BoltzmannPrior`; evaluation's
/// log Z is exact where the graph allows and annealed importance sampling
/// (1000 chains × 1000 temperatures) otherwise, not cached.
extension BoltzmannPrior: LatentPrior {
    public func estimateLogZ(generator: inout Generator) throws -> (logZ: Double, error: Double) {
        let e = try estimateLogZ(method: .ais(chains: 1000, temperatures: 1000), cache: false, generator: &generator)
        return (e.logZ, e.error)
    }
}
