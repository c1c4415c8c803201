import Foundation
import Runtime

/// The negative phase of one training step: the model's moments ⟨z_l⟩ and
/// ⟨z_u z_v⟩ under p(z) = e^{−H(z)}/Z, which give the log-partition
/// gradient ∂log Z/∂b_l = −⟨z_l⟩, ∂log Z/∂W_uv = −⟨z_u z_v⟩.
///
/// Drawn explicitly, once per step, by `LatentPrior.drawNegativePhase`
/// (which advances the sampler's persistent chains and may update β_eff),
/// then handed to `logZ(negativePhase:)` / `DiscreteVAE.objective(...,
/// negativePhase:)`, so that a forward pass changes no state.
public struct NegativePhase: Sendable, CustomStringConvertible {
    /// ⟨z_l⟩ for each unit, [N].
    public let means: [Float]
    /// ⟨z_u z_v⟩ for each edge in `graph.edges` order, [E].
    public let edgeMeans: [Float]
    /// Samples the moments were estimated from (0 when exact).
    public let samples: Int
    /// Whether the moments are exact (no couplers, or an enumerated prior).
    public var exact: Bool { samples == 0 }
    /// Mean energy H of the negative samples (⟨H⟩_p when exact).
    public let meanEnergy: Double
    /// β_eff in force when the samples were drawn: the scale of the prior
    /// energy's gradient reaching the encoder in this step (Eq. C2).
    public let drawnAtBetaEff: Float
    /// β_eff after the phase's Eq. C3 update (= `drawnAtBetaEff` without one).
    public let betaEff: Float
    /// The sampler's and the Eq. C3 update's statistics ("hw_energy",
    /// "bm_energy" when β_eff was updated).
    public let stats: [String: Double]

    public init(means: [Float], edgeMeans: [Float], samples: Int, meanEnergy: Double,
                drawnAtBetaEff: Float = 1, betaEff: Float = 1, stats: [String: Double] = [:]) {
        self.means = means; self.edgeMeans = edgeMeans; self.samples = samples
        self.meanEnergy = meanEnergy; self.drawnAtBetaEff = drawnAtBetaEff; self.betaEff = betaEff
        self.stats = stats
    }

    /// The number of units N.
    public var units: Int { means.count }

    /// "negative phase: 1000 samples, mean energy -3.21, β_eff 1 → 0.98".
    public var description: String {
        var s = "negative phase: " + (exact ? "exact" : "\(samples) samples")
        s += ", mean energy \(String(format: "%.6g", meanEnergy)), \(units) units, \(edgeMeans.count) couplings"
        s += ", β_eff \(String(format: "%.4g", Double(drawnAtBetaEff)))"
        if betaEff != drawnAtBetaEff { s += " → \(String(format: "%.4g", Double(betaEff)))" }
        return s
    }

    /// Throws unless the phase fits a prior with `units` units and `edges` couplers.
    func check(units n: Int, edges e: Int) throws {
        try require(means.count == n && edgeMeans.count == e, field: "negativePhase",
                    "was drawn for a prior of \(means.count) units and \(edgeMeans.count) couplings, this one has \(n) and \(e)")
    }

    /// The 0-d tensor log Z with the value `value` whose backward applies
    /// this phase: ∂/∂b = −g⟨z⟩, ∂/∂W = −g⟨z_u z_v⟩ (g the incoming gradient).
    func logZTensor(value: Double, bias: Tensor, weights: Tensor) throws -> Tensor {
        let mb = means, mw = edgeMeans
        return try Tensor.custom(name: "bm_logZ", inputs: [bias, weights], forward: { _ in
            Tensor(scalar: Float(value))
        }, backward: { g in
            let gv = try g.item()
            return [Tensor(mb.map { -gv * $0 }), Tensor(mw.map { -gv * $0 })]
        })
    }
}
