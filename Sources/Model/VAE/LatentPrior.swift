import Foundation
import Runtime

/// What the VAE needs from its latent prior p(z) = e^{−H(z)}/Z over
/// z ∈ {0,1}^N: a differentiable energy, an explicit negative phase, a
/// log-partition tensor whose gradient is that phase, samples, and a log Z
/// estimate for evaluation. `ExactPrior` implements it for small graphs;
/// the Boltzmann prior trained with a sampler conforms by an extension.
///
/// A training step draws the negative phase first (the only call that
/// changes the prior's sampling state), then runs the forward pass with it:
///
///     let phase = try prior.drawNegativePhase()
///     let out = try vae.objective(x: x, negativePhase: phase)
///     try out.loss.backward()
public protocol LatentPrior: Module {
    /// N, the number of latent units.
    var units: Int { get }
    /// The connectivity (its `groupings` map posterior groups onto units).
    var graph: Graph { get }
    /// b [N], a leaf requiring grad.
    var bias: Tensor { get }
    /// W [E] in `graph.edges` order, a leaf requiring grad.
    var weights: Tensor { get }
    /// H(ζ) for ζ [B, N] (relaxed or binary) → [B]; differentiable in ζ
    /// (the positive phase reaching the encoder) and in the parameters.
    func energy(_ zeta: Tensor) throws -> Tensor
    /// Whether the gradient of log Z needs a drawn negative phase (true for
    /// a sampled prior with couplers; false where it is exact).
    var negativePhaseIsSampled: Bool { get }
    /// The negative phase of one training step: exact moments where they
    /// are (no state changes), otherwise samples of the prior's sampler
    /// (persistent chains advance) and, when `betaEffRate` (or the prior's
    /// own default) is > 0, one Eq. C3 update of β_eff.
    func drawNegativePhase(betaEffRate: Float?) throws -> NegativePhase
    /// log Z as a scalar tensor whose backward applies ∂log Z/∂θ = −E_p[∂H/∂θ]:
    /// exact, or `negativePhase`'s moments. In grad mode a sampled prior
    /// whose parameters require grad needs the phase (error naming
    /// `negativePhase` otherwise). Changes no state.
    func logZ(negativePhase: NegativePhase?) throws -> Tensor
    /// `n` samples of p(z) as [n, N] 0/1 values, equally weighted: the
    /// prior's own method by default, else `sampler`'s samples
    /// (importance-weighted ones resampled).
    func sample(_ n: Int, using sampler: (any Sampler)?, generator: inout Generator) throws -> Tensor
    /// log Z for evaluation with its standard error (0 when exact); changes
    /// no state.
    func estimateLogZ(generator: inout Generator) throws -> (logZ: Double, error: Double)
    /// β_eff: the scale of the prior-energy gradient that reaches the
    /// encoder through ζ (Eq. C2); 1 for a classical prior.
    var betaEff: Float { get set }
}

extension LatentPrior {
    /// log Z without a negative phase (exact priors, or no gradient).
    public func logZ() throws -> Tensor { try logZ(negativePhase: nil) }

    /// The negative phase with the prior's default β_eff rate.
    public func drawNegativePhase() throws -> NegativePhase { try drawNegativePhase(betaEffRate: nil) }

    /// `n` samples by the prior's own method.
    public func sample(_ n: Int, generator: inout Generator) throws -> Tensor {
        try sample(n, using: nil, generator: &generator)
    }

    /// log p(z) = −H(z) − log Z for binary z [B, N] (no gradient).
    public func logProbability(_ z: Tensor) throws -> Tensor {
        try Tensor.noGrad { try energy(z).neg() - logZ() }
    }

    /// The current parameters as a numeric machine (a copy). Non-finite
    /// parameters are copied as they are; samplers check for them.
    public var machine: BoltzmannMachine {
        var m = try! BoltzmannMachine(graph: graph)
        m.bias = bias.toArray()
        m.weights = weights.toArray()
        return m
    }

    /// `machine`, or an error when a parameter is NaN or infinite.
    func checkedMachine(_ what: String) throws -> BoltzmannMachine {
        let m = machine
        try require(m.bias.allSatisfy { $0.isFinite } && m.weights.allSatisfy { $0.isFinite },
                    "\(what): the prior's parameters are not finite (diverged training?)")
        return m
    }

    /// Clips the parameters in place (the paper's weight clipping): W into
    /// [−weights, weights], b into [−bias, bias]; nil leaves a group as it is.
    public func clamp(weights w: Float?, bias b: Float?) throws {
        try require(w.map { $0.isFinite && $0 >= 0 } ?? true, field: "weights",
                    "must be a finite number >= 0 (meaning [-w, w]), got \(numberText(w ?? 0))")
        try require(b.map { $0.isFinite && $0 >= 0 } ?? true, field: "bias",
                    "must be a finite number >= 0 (meaning [-b, b]), got \(numberText(b ?? 0))")
        try Tensor.noGrad {
            if let w { try weights.clamp_(min: -w, max: w) }
            if let b { try bias.clamp_(min: -b, max: b) }
        }
    }

    /// `n` equally weighted samples of `machine` from `sampler` (resampled
    /// when the sampler weights them, e.g. AIS), checked for shape.
    func samples(of machine: BoltzmannMachine, _ n: Int, sampler: any Sampler,
                 generator: inout Generator) throws -> SampleSet {
        let s = try sampler.sample(machine, count: n, generator: &generator).resampled(generator: &generator)
        try require(s.count == n && s.units == units, field: "sampler",
                    "returned \(s.count) samples of \(s.units) units, expected \(n) of \(units)")
        return s
    }

    /// Exact moments by enumeration (N ≤ `ExactSampler.maxUnits`) or, without
    /// couplers, ⟨z_l⟩ = σ(−b_l); no state changes.
    func exactNegativePhase() throws -> NegativePhase {
        let bm = try checkedMachine("negative phase")
        if graph.edgeCount == 0 {
            let m = bm.bias.map { 1 / (1 + expf($0)) }
            var e = 0.0
            for l in 0..<units { e += Double(bm.bias[l] * m[l]) }
            return NegativePhase(means: m, edgeMeans: [], samples: 0, meanEnergy: e,
                                 drawnAtBetaEff: betaEff, betaEff: betaEff)
        }
        let t = try ExactSampler.moments(bm, pairs: false)
        return NegativePhase(means: t.means.map(Float.init), edgeMeans: t.edgeMeans.map(Float.init), samples: 0, meanEnergy: t.meanEnergy,
                             drawnAtBetaEff: betaEff, betaEff: betaEff)
    }
}
