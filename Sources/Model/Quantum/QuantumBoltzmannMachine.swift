#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime

/// A quantum Boltzmann machine (QBM): the transverse-field Ising model of
/// the paper's Eq. 13 built on a classical `BoltzmannMachine`,
///
///     H = Σ_l Γ_l σx_l + H_cl(Z),   H_cl(z) = Σ_l b_l z_l + Σ_{e=(u,v)} W_e z_u z_v,
///
/// with p(z) = ⟨z|e^{−H}|z⟩ / Z and Z = Tr e^{−H} (β = 1, as in the paper).
///
/// **Units and σz.** qvlua's units are z ∈ {0,1}; the computational basis
/// state |z⟩ has σz_l |z⟩ = (2 z_l − 1) |z⟩, so z = 1 ↔ σz = +1 (the
/// convention of `IsingModel`, s = 2z − 1). The classical energy operator
/// H_cl(Z) is diagonal with entries H(z) of the classical machine, which
/// in Eq. 13's σz form reads Σ h_l σz_l + Σ J_e σz_u σz_v + c with
/// h_l = b_l/2 + Σ_m W_lm/4, J_e = W_e/4, c = Σ b/2 + Σ W/4
/// (`machine.toIsing()`). The constant c is kept, so with Γ = 0 the QBM is
/// the classical prior exactly: the same p(z) and the same log Z.
///
/// **Sign of Γ.** Eq. 13 writes +Γ σx. The unitary Π_l σz_l maps Γ → −Γ and
/// fixes every diagonal element, so Z and p(z) do not depend on the sign;
/// ⟨σx_l⟩ does: with Γ_l > 0 it is negative. Γ ≥ 0 is required here.
public struct QuantumBoltzmannMachine: Sendable {
    /// The classical (diagonal) part: b, W over the graph.
    public var machine: BoltzmannMachine
    /// Γ_l ≥ 0, one per unit.
    public var gamma: [Float]

    public var graph: Graph { machine.graph }
    public var units: Int { machine.units }

    /// A QBM with a per-unit transverse field.
    public init(machine: BoltzmannMachine, gamma: [Float]) throws {
        try require(gamma.count == machine.units,
                     "quantum machine: gamma has \(gamma.count) entries, the machine has \(machine.units) units")
        try require(gamma.allSatisfy { $0.isFinite && $0 >= 0 }, "quantum machine: gamma must be finite and >= 0")
        self.machine = machine
        self.gamma = gamma
    }

    /// A QBM with the same Γ on every unit.
    public init(machine: BoltzmannMachine, gamma: Float) throws {
        try self.init(machine: machine, gamma: [Float](repeating: gamma, count: machine.units))
    }

    /// Imaginary-time coupling of M Trotter slices (Suzuki–Trotter):
    /// K⊥_l = −½ ln tanh(Γ_l/M) per slice link; +∞ where Γ_l = 0 (rigid
    /// world lines: the classical machine).
    public func imaginaryTimeCoupling(slices m: Int) -> [Double] {
        gamma.map { g in g > 0 ? -0.5 * log(tanh(Double(g) / Double(m))) : .infinity }
    }

    /// log Z of the classical part switched off: Σ_l log(2 cosh Γ_l), the
    /// free spins in their transverse fields (also the M-slice Trotter value).
    public var freeSpinLogZ: Double {
        gamma.reduce(0.0) { s, g in
            let x = abs(Double(g))
            return s + x + log1p(exp(-2 * x))    // log(2 cosh x)
        }
    }
}
