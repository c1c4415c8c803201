import Runtime

/// What the VAE needs from its latent prior p(z) = e^{−H(z)}/Z over
/// z ∈ {0,1}^N: a differentiable energy, a log-partition tensor whose
/// gradient is the negative phase, samples, and a log Z estimate for
/// evaluation. `ExactPrior` implements it for small graphs; the Boltzmann
/// prior trained with a sampler conforms by an extension.
public protocol LatentPrior: Module {
    /// N, the number of latent units.
    var units: Int { get }
    /// The connectivity (its `groupings` map posterior groups onto units).
    var graph: Graph { get }
    /// H(ζ) for ζ [B, N] (relaxed or binary) → [B]; differentiable in ζ
    /// (the positive phase reaching the encoder) and in the parameters.
    func energy(_ zeta: Tensor) throws -> Tensor
    /// log Z as a scalar tensor whose backward applies ∂log Z/∂θ = −E_p[∂H/∂θ]
    /// (the negative phase; exact or from samples).
    func logZ() throws -> Tensor
    /// `n` samples of p(z) as [n, N] 0/1 values.
    func sample(_ n: Int, generator: inout Generator) throws -> Tensor
    /// log Z for evaluation with its standard error (0 when exact).
    func estimateLogZ(generator: inout Generator) throws -> (logZ: Double, error: Double)
    /// β_eff: the scale of the prior-energy gradient that reaches the
    /// encoder through ζ (Eq. C2); 1 for a classical prior.
    var betaEff: Float { get }
}

extension LatentPrior {
    /// log p(z) = −H(z) − log Z for binary z [B, N] (no gradient).
    public func logProbability(_ z: Tensor) throws -> Tensor {
        try Tensor.noGrad { try energy(z).neg() - logZ() }
    }
}
