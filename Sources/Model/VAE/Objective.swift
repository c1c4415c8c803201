import Foundation
import Runtime

/// The training objective for one batch and its parts.
public struct ObjectiveResult {
    /// −(1/B) Σ_b L_{K,D}(x_b): the scalar to minimize (`loss.backward()`).
    public let loss: Tensor
    /// Mean over the batch of L_{K,D} with the given KL weight (= −loss).
    public let bound: Double
    /// Mean single-sample ELBO over batch × samples: log p(x|ζ) − log q − H − log Z
    /// (KL weight 1, whatever the weight used for the loss).
    public let elbo: Double
    /// Mean reconstruction loss −log p(x|ζ) (nats per image).
    public let recon: Double
    /// Mean log q(ζ|x).
    public let logQ: Double
    /// Mean prior energy H(ζ).
    public let energy: Double
    /// The prior's log Z (the value the loss used).
    public let logZ: Double
    /// Mean single-sample KL estimate log q + H + log Z.
    public let kl: Double
    /// Mean posterior probability σ(l) over units and rows (how on the latents are).
    public let meanQ: Double
    public let k: Int, d: Int, klWeight: Float, tau: Float
}

extension DiscreteVAE {
    /// The multi-sample bound L_{K,D} (Eq. A2) for a batch x [B, P]: K·D
    /// posterior samples per image (the trunk runs once per image; its
    /// output is replicated), per sample
    /// log w = log p(x|ζ) − klWeight·(log q(ζ|x) + H(ζ) + log Z), and
    /// L = (1/D) Σ_d log (1/K) Σ_k w_{k,d}. K = D = 1 is the ELBO, D = 1 the
    /// importance-weighted L_K. K, D, the KL weight and τ may change
    /// between calls (schedules).
    ///
    /// The negative phase: in grad mode, when the prior's parameters
    /// require grad and its log Z gradient is sampled, `negativePhase` (from
    /// `prior.drawNegativePhase()`, drawn before this call) is required;
    /// without gradients it is not needed. The forward pass changes no
    /// state of the prior.
    ///
    /// β_eff (Eq. C2, applied here and nowhere else): the energy is
    /// evaluated at ζ' = ζ̄ + β(ζ − ζ̄), ζ̄ = ζ detached, β the phase's
    /// `drawnAtBetaEff` (the prior's `betaEff` without a phase): the same
    /// value (so the loss and the prior parameters' gradients are
    /// unchanged), but the gradient reaching the encoder through H(ζ) is
    /// scaled by β. Decoder and log q see ζ.
    public func objective(x: Tensor, k: Int = 1, d: Int = 1, klWeight: Float = 1, tau: Float = 1.0 / 7,
                          negativePhase: NegativePhase? = nil, generator: inout Generator) throws -> ObjectiveResult {
        try checkInput(x)
        try require(k >= 1, field: "k", "the number of importance samples K must be >= 1, got \(k)")
        try require(d >= 1, field: "d", "the number of bounds D must be >= 1, got \(d)")
        try require(klWeight >= 0 && klWeight.isFinite, field: "klWeight", "the KL weight must be finite and >= 0, got \(numberText(klWeight))")
        try require(tau > 0 && tau.isFinite, field: "tau", "the temperature τ must be finite and > 0, got \(numberText(tau))")
        if negativePhase == nil, GradMode.isEnabled, prior.negativePhaseIsSampled,
           prior.bias.requiresGrad || prior.weights.requiresGrad {
            _ = try prior.logZ(negativePhase: nil)   // the error naming `negativePhase`, before any random draw
        }
        let b = x.shape[0], s = k * d
        // Random draws, in this order, all from `generator`: the encoder's
        // relaxation noise (group by group), then the decoder's dropout masks
        // (layer by layer). The prior's negative phase was drawn before,
        // from the prior's own (checkpointed) stream.
        let post = try encode(x, samples: s, tau: tau, generator: &generator)
        let logpx = try Dropout.drawing(from: &generator) { try decode(post.zeta) }.bernoulliLogLikelihood(x)  // [R]
        let logq = try post.logQ()                                            // [R]
        let beta = negativePhase?.drawnAtBetaEff ?? prior.betaEff
        var zetaE = post.zeta
        if beta != 1 {
            let zd = post.zeta.detach()
            zetaE = try zd + (post.zeta - zd).mul(beta)
        }
        let energy = try prior.energy(zetaE)                                 // [R]
        let logZ = try prior.logZ(negativePhase: negativePhase)               // []
        let klTerm = try (logq + energy) + logZ
        let logw = klWeight == 1 ? try logpx - klTerm : try logpx - klTerm.mul(klWeight)
        var bound = try logw.view([b, d, k])
        if k > 1 { bound = try bound.logsumexp(2).sub(Float(Foundation.log(Double(k)))) } else { bound = try bound.squeeze(2) }
        let perExample = d > 1 ? try bound.mean(1) : try bound.squeeze(1)
        let loss = try perExample.mean().neg()
        // Diagnostics in Double.
        func mean(_ t: Tensor) -> Double {
            let v = t.toArray()
            return v.reduce(0.0) { $0 + Double($1) } / Double(Swift.max(v.count, 1))
        }
        let lz = Double(try logZ.item())
        let mp = mean(logpx), mq = mean(logq), me = mean(energy)
        let qMean = try Tensor.noGrad { () -> Double in
            var tot = 0.0, cnt = 0
            for l in post.logits { let v = l.sigmoid().toArray(); tot += v.reduce(0.0) { $0 + Double($1) }; cnt += v.count }
            return tot / Double(Swift.max(cnt, 1))
        }
        return ObjectiveResult(loss: loss, bound: -Double(try loss.item()), elbo: mp - mq - me - lz, recon: -mp,
                               logQ: mq, energy: me, logZ: lz, kl: mq + me + lz, meanQ: qMean,
                               k: k, d: d, klWeight: klWeight, tau: tau)
    }

    /// Same, with the global generator.
    public func objective(x: Tensor, k: Int = 1, d: Int = 1, klWeight: Float = 1, tau: Float = 1.0 / 7,
                          negativePhase: NegativePhase? = nil) throws -> ObjectiveResult {
        try objective(x: x, k: k, d: d, klWeight: klWeight, tau: tau, negativePhase: negativePhase,
                      generator: &GlobalRandom.generator)
    }
}
