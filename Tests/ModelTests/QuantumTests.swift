import XCTest
import Foundation
import Runtime
@testable import Model

/// Small QBMs on Chimera fragments: C(1,1,4) (8 units), C(1,1,5) (10),
/// C(1,2,3) (12).
enum QuantumInstances {
    static func machine(m: Int = 1, n: Int = 1, t: Int = 4, seed: UInt64 = 21,
                        bias: Float = 0.6, weight: Float = 0.8) throws -> BoltzmannMachine {
        var g = Generator(seed: seed)
        return try BoltzmannMachine.random(graph: try Graph.chimera(m: m, n: n, t: t), biasScale: bias,
                                           weightScale: weight, generator: &g)
    }
}

/// |estimate − exact| ≤ k σ for ⟨z_l⟩ and ⟨z_u z_v⟩ per edge of independent
/// samples (σ² = (p(1−p) + 1/n)/n); returns the largest |Δ|/σ.
@discardableResult
func assertQuantumMoments(_ set: SampleSet, means: [Double], edgeMeans: [Double], graph: Graph, k: Double = 5,
                          _ label: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
    let n = Double(set.count)
    var worst = 0.0
    func check(_ q: Double, _ p: Double, _ what: String) {
        let sigma = ((p * (1 - p) + 1 / n) / n).squareRoot()
        worst = max(worst, abs(q - p) / sigma)
        if abs(q - p) > k * sigma {
            XCTFail("\(label): \(what) = \(q), exact \(p), |Δ| > \(k)σ (σ = \(sigma))", file: file, line: line)
        }
    }
    for (l, q) in set.means().enumerated() { check(q, means[l], "⟨z\(l)⟩") }
    for (e, q) in set.edgeMeans(graph).enumerated() { check(q, edgeMeans[e], "⟨z z⟩ edge \(e)") }
    return worst
}

final class QuantumExactTests: XCTestCase {
    /// Γ = 0 is the classical machine: same log Z and moments as enumeration.
    func testGammaZeroIsTheClassicalMachine() throws {
        let bm = try QuantumInstances.machine()
        let q = try QuantumBoltzmannMachine(machine: bm, gamma: 0)
        let ed = try QuantumExact.moments(q)
        let cl = try ExactSampler.moments(bm)
        XCTAssertEqual(ed.logZ, cl.logZ, accuracy: 1e-9)
        for l in 0..<bm.units { XCTAssertEqual(ed.means[l], cl.means[l], accuracy: 1e-9) }
        for e in 0..<bm.graph.edgeCount { XCTAssertEqual(ed.edgeMeans[e], cl.edgeMeans[e], accuracy: 1e-9) }
        XCTAssertTrue(ed.sigmaX.allSatisfy { abs($0) < 1e-12 })
        XCTAssertEqual(try QuantumExact.trotterMoments(q, slices: 4).logZ, cl.logZ, accuracy: 1e-9)
    }

    /// One spin: H = Γσx + b z is the 2×2 matrix [[0, Γ], [Γ, b]].
    func testSingleSpinClosedForm() throws {
        let bm = try BoltzmannMachine(graph: try Graph.bernoulli(1), bias: [0.7])
        let gamma = 0.9, b = 0.7
        let q = try QuantumBoltzmannMachine(machine: bm, gamma: Float(gamma))
        let ed = try QuantumExact.moments(q)
        let r = (b * b / 4 + gamma * gamma).squareRoot()
        let l1 = b / 2 - r, l2 = b / 2 + r
        XCTAssertEqual(ed.logZ, log(exp(-l1) + exp(-l2)), accuracy: 1e-6)
        // ⟨σx⟩ = −∂ log Z/∂Γ = (Γ/r) · (e^{−l2} − e^{−l1}) / (e^{−l1} + e^{−l2})
        XCTAssertEqual(ed.sigmaX[0], gamma / r * (exp(-l2) - exp(-l1)) / (exp(-l1) + exp(-l2)), accuracy: 1e-6)
        // ⟨z⟩ = ∂ log Z / ∂(−b)
        let h = 1e-5
        let up = try QuantumExact.logZ(QuantumBoltzmannMachine(machine: try BoltzmannMachine(graph: bm.graph, bias: [Float(b + h)]), gamma: Float(gamma)))
        XCTAssertEqual(ed.means[0], -(up - ed.logZ) / h, accuracy: 1e-3)
    }

    /// The exact M-slice Trotter log Z converges to log Tr e^{−H} as 1/M².
    func testTrotterErrorShrinksWithSlices() throws {
        let q = try QuantumBoltzmannMachine(machine: try QuantumInstances.machine(), gamma: 1.0)
        let exact = try QuantumExact.moments(q)
        var errors: [Double] = []
        for m in [2, 4, 8, 16, 32] {
            let t = try QuantumExact.trotterMoments(q, slices: m)
            let dp = zip(t.means, exact.means).map { abs($0 - $1) }.max()!
            errors.append(abs(t.logZ - exact.logZ))
            print("Trotter M = \(m): |Δ log Z| = \(abs(t.logZ - exact.logZ)), max |Δ⟨z⟩| = \(dp)")
        }
        for i in 1..<errors.count {
            XCTAssertLessThan(errors[i], errors[i - 1] / 3, "Trotter error must fall ~4× per doubling of M")
        }
        XCTAssertLessThan(errors.last!, 1e-3)
    }
}

final class PathIntegralTests: XCTestCase {
    func run(_ q: QuantumBoltzmannMachine, slices: Int, chains: Int = 4000, burnIn: Int = 200,
             seed: UInt64 = 5) throws -> PathIntegralResult {
        var g = Generator(seed: seed)
        let s = PathIntegralSampler(gamma: q.gamma, slices: slices, sweeps: 0, burnIn: burnIn, persistent: false)
        return try s.sample(q, count: chains, generator: &g)
    }

    /// Slice-0 single-unit and edge statistics agree with the exact
    /// Trotterized distribution (no Trotter bias: pure sampling error) on
    /// Chimera fragments of 8 and 10 units for Γ from 0.1 to 2.
    func testPIMCMatchesExactTrotterDistribution() throws {
        for (t, seed) in [(4, UInt64(21)), (5, UInt64(22))] {
            let bm = try QuantumInstances.machine(t: t, seed: seed)
            for gamma in [0.1, 0.5, 1.0, 2.0] as [Float] {
                let q = try QuantumBoltzmannMachine(machine: bm, gamma: gamma)
                let m = 8
                let exact = try QuantumExact.trotterMoments(q, slices: m)
                let r = try run(q, slices: m)
                let worst = assertQuantumMoments(r.samples, means: exact.means, edgeMeans: exact.edgeMeans,
                                                 graph: bm.graph, "PIMC \(bm.units) units Γ=\(gamma) M=\(m)")
                print("PIMC vs exact Trotter: \(bm.units) units, Γ = \(gamma), M = \(m): worst |Δ|/σ = \(worst)")
            }
        }
    }

    /// Against exact diagonalization: at M = 32 the Trotter error is far
    /// below the sampling error, so ⟨z⟩, ⟨zz⟩ and ⟨σx⟩ agree within error
    /// bars (12-unit Chimera fragment, Γ = 0.1 … 2); the distance to
    /// ED shrinks with M.
    func testPIMCMatchesExactDiagonalization() throws {
        let bm = try QuantumInstances.machine(n: 2, t: 3, seed: 23)
        XCTAssertEqual(bm.units, 12)
        for gamma in [0.1, 2.0] as [Float] {
            let q = try QuantumBoltzmannMachine(machine: bm, gamma: gamma)
            let ed = try QuantumExact.moments(q)
            let r = try run(q, slices: 32, chains: 4000, burnIn: 300, seed: 7)
            let worst = assertQuantumMoments(r.samples, means: ed.means, edgeMeans: ed.edgeMeans, graph: bm.graph,
                                             "PIMC vs ED Γ=\(gamma)")
            var worstX = 0.0
            for l in 0..<bm.units {
                let z = abs(r.sigmaX[l] - ed.sigmaX[l]) / max(r.sigmaXError[l], 1e-12)
                worstX = max(worstX, z)
                XCTAssertLessThan(z, 5, "⟨σx\(l)⟩ = \(r.sigmaX[l]) ± \(r.sigmaXError[l]), exact \(ed.sigmaX[l])")
            }
            print("PIMC vs ED: 12 units, Γ = \(gamma), M = 32: worst |Δ|/σ moments \(worst), σx \(worstX); ⟨σx0⟩ \(r.sigmaX[0]) ± \(r.sigmaXError[0]) vs \(ed.sigmaX[0])")
        }
    }

    /// Γ = 0: rigid world lines, the cluster move is the classical update;
    /// moments agree with the classical exact sampler.
    func testGammaZeroMatchesClassicalExact() throws {
        let bm = try QuantumInstances.machine(t: 5, seed: 24)
        let q = try QuantumBoltzmannMachine(machine: bm, gamma: 0)
        let exact = try ExactSampler.moments(bm)
        let r = try run(q, slices: 4)
        let worst = assertQuantumMoments(r.samples, means: exact.means, edgeMeans: exact.edgeMeans,
                                         graph: bm.graph, "PIMC Γ=0")
        print("PIMC Γ = 0 vs classical exact: worst |Δ|/σ = \(worst)")
    }

    /// Persistent chains: repeated short calls keep sampling the same
    /// distribution (the PCD negative phase), pooled over calls.
    func testPersistentChainsAsSampler() throws {
        let bm = try QuantumInstances.machine(seed: 25)
        let s = PathIntegralSampler(gamma: 0.5, slices: 8, sweeps: 5, burnIn: 100)
        let exact = try QuantumExact.trotterMoments(try s.quantumMachine(bm), slices: 8)
        var g = Generator(seed: 3)
        var pooled: [Float] = []
        for _ in 0..<10 { pooled += try s.sample(bm, count: 1000, generator: &g).samples }
        XCTAssertEqual(s.chains, 1000)
        let set = SampleSet(units: bm.units, samples: pooled, energies: [])
        // 10 correlated draws of each chain: n_eff between 1000 and 10000; use 1000 per call × 10 / 3
        let worst = assertQuantumMoments(SampleSet(units: bm.units, samples: Array(pooled.prefix(3000 * bm.units)), energies: []),
                                         means: exact.means, edgeMeans: exact.edgeMeans, graph: bm.graph, "PCD PIMC")
        XCTAssertEqual(set.count, 10_000)
        print("PIMC persistent chains: worst |Δ|/σ = \(worst)")
    }
}

final class QuantumLogZTests: XCTestCase {
    /// Quantum AIS agrees with the exact Trotter log Z within its error bar,
    /// the error bar is calibrated over repeats, and at M = 32 it agrees
    /// with exact diagonalization.
    func testQuantumAISIsCalibrated() throws {
        let bm = try QuantumInstances.machine(t: 5, seed: 26)
        let q = try QuantumBoltzmannMachine(machine: bm, gamma: 0.7)
        let m = 16
        let exactM = try QuantumExact.trotterMoments(q, slices: m).logZ
        let ed = try QuantumExact.logZ(q)
        var zs: [Double] = []
        var g = Generator(seed: 9)
        for _ in 0..<12 {
            let e = try QuantumAnnealedImportanceSampling(temperatures: 200, slices: m)
                .estimateLogZ(q, chains: 256, generator: &g)
            zs.append((e.logZ - exactM) / e.error)
        }
        let within2 = zs.filter { abs($0) < 2 }.count
        let rms = (zs.map { $0 * $0 }.reduce(0, +) / Double(zs.count)).squareRoot()
        print("quantum AIS (10 units, Γ = 0.7, M = \(m)): z-scores \(zs.map { String(format: "%.2f", $0) }), rms \(rms), |exact_M − ED| = \(abs(exactM - ed))")
        XCTAssertGreaterThanOrEqual(within2, 8, "error bar too small: \(zs)")
        XCTAssertLessThan(rms, 2.0)
        XCTAssertGreaterThan(rms, 0.3, "error bar too large")
        let e = try QuantumAnnealedImportanceSampling(temperatures: 500, slices: 32).estimateLogZ(q, chains: 512, generator: &g)
        print("quantum AIS M = 32: \(e.logZ) ± \(e.error), ED \(ed)")
        XCTAssertLessThan(abs(e.logZ - ed), 4 * e.error + 2e-3)
    }
}

final class QuantumPriorTests: XCTestCase {
    /// A prior on C(1,1,4) with random b, W copied from a test machine.
    func prior(gamma: Float, seed: UInt64 = 31, slices: Int = 16) throws -> (QuantumPrior, BoltzmannMachine) {
        let bm = try QuantumInstances.machine(seed: seed)
        var g = Generator(seed: seed)
        let p = try QuantumPrior(graph: bm.graph, gamma: [gamma], slices: slices, sweeps: 5, burnIn: 200, generator: &g)
        for l in 0..<bm.units { p.bias.data[l] = bm.bias[l] }
        for e in 0..<bm.graph.edgeCount { p.weights.data[e] = bm.weights[e] }
        return (p, bm)
    }

    /// Eq. 16's closed form: ∂log Z/∂b_l = −⟨z_l⟩ and ∂log Z/∂W_e = −⟨z_u z_v⟩
    /// under the quantum p(z), against central differences of the exact
    /// quantum log Z.
    func testNegativePhaseIsTheGradientOfQuantumLogZ() throws {
        let bm = try QuantumInstances.machine(seed: 32)
        let gamma: Float = 0.8
        let ed = try QuantumExact.moments(try QuantumBoltzmannMachine(machine: bm, gamma: gamma))
        func logZ(_ m: BoltzmannMachine) throws -> Double { try QuantumExact.logZ(try QuantumBoltzmannMachine(machine: m, gamma: gamma)) }
        var worst = 0.0
        for l in 0..<bm.units {
            var up = bm, dn = bm
            up.bias[l] += 1e-3; dn.bias[l] -= 1e-3
            let d = (try logZ(up) - logZ(dn)) / (Double(up.bias[l]) - Double(dn.bias[l]))
            worst = max(worst, abs(d + ed.means[l]))
            XCTAssertEqual(d, -ed.means[l], accuracy: 2e-4, "∂logZ/∂b\(l)")
        }
        for e in 0..<bm.graph.edgeCount {
            var up = bm, dn = bm
            up.weights[e] += 1e-3; dn.weights[e] -= 1e-3
            let d = (try logZ(up) - logZ(dn)) / (Double(up.weights[e]) - Double(dn.weights[e]))
            worst = max(worst, abs(d + ed.edgeMeans[e]))
            XCTAssertEqual(d, -ed.edgeMeans[e], accuracy: 2e-4, "∂logZ/∂W\(e)")
        }
        print("Eq. 16 closed form vs finite differences of exact quantum log Z: max |Δ| = \(worst)")
    }

    /// The prior's Q-ELBO term mean(H(ζ)) + log Z: exact quantum log Z value,
    /// gradient = positive phase (mean ζ, mean ζζ) − PIMC negative phase,
    /// within error bars of the closed form (exact M-slice moments).
    func testQELBOGradientMatchesClosedForm() throws {
        let (p, bm) = try prior(gamma: 0.8)
        p.negativeSamples = 4000
        let exact = try QuantumExact.trotterMoments(try p.quantumMachine(), slices: p.slices)
        let ed = try QuantumExact.logZ(try p.quantumMachine())
        var g = Generator(seed: 4)
        let B = 50, n = bm.units
        let zv = (0..<(B * n)).map { _ in g.uniform() }
        let zeta = try Tensor(zv, shape: [B, n])
        let lz = try p.logZ(negativePhase: try p.drawNegativePhase())
        XCTAssertEqual(Double(try lz.item()), ed, accuracy: 1e-4)
        XCTAssertEqual(p.stats["logZ_source"], 1)
        let loss = try p.energy(zeta).mean() + lz
        try loss.backward()
        let gb = p.bias.grad!.toArray(), gw = p.weights.grad!.toArray()
        var worst = 0.0
        let sigmaN = { (q: Double) in ((q * (1 - q) + 1e-3) / Double(p.negativeSamples)).squareRoot() }
        for l in 0..<n {
            let pos = (0..<B).reduce(0.0) { $0 + Double(zv[$1 * n + l]) } / Double(B)
            let want = pos - exact.means[l]
            let z = abs(Double(gb[l]) - want) / sigmaN(exact.means[l])
            worst = max(worst, z)
            XCTAssertLessThan(z, 5, "∂/∂b\(l): \(gb[l]) vs \(want)")
        }
        for (e, ed) in bm.graph.edges.enumerated() {
            let pos = (0..<B).reduce(0.0) { $0 + Double(zv[$1 * n + ed.u] * zv[$1 * n + ed.v]) } / Double(B)
            let want = pos - exact.edgeMeans[e]
            let z = abs(Double(gw[e]) - want) / sigmaN(exact.edgeMeans[e])
            worst = max(worst, z)
            XCTAssertLessThan(z, 5, "∂/∂W\(e): \(gw[e]) vs \(want)")
        }
        print("Q-ELBO gradient (PIMC negative phase, 4000 chains × 16 slices) vs closed form: worst |Δ|/σ = \(worst)")
    }

    /// Evaluation of a small QBM prior: with the same posterior samples,
    /// every image's L_K with the true p(z) is above its Q-ELBO bound
    /// (p(z) ≥ p̃(z) for every z, Eq. 15), and equal to it at Γ = 0; the
    /// bound is the one `logLikelihood` alone gives with the same draws.
    func testExactLogLikelihoodIsAboveTheBound() throws {
        var g = Generator(seed: 41)
        let x = try Tensor.rand([5, 784], generator: &g).gt(0.5)
        for gamma: Float in [0, 1] {
            let (p, _) = try prior(gamma: gamma, seed: 35, slices: 4)
            let vae = try DiscreteVAE.dense(prior: p, generator: &g)
            let table = try XCTUnwrap(try p.exactLogProbabilities())
            let e = try p.estimateLogZ(generator: &g), lz = (value: e.logZ, error: e.error)
            var g1 = Generator(seed: 42), g2 = Generator(seed: 42)
            let r = try vae.logLikelihoods(x, k: 20, logZ: lz, exactLogPrior: table, generator: &g1)
            let alone = try vae.logLikelihood(x, k: 20, logZ: lz, generator: &g2)
            XCTAssertEqual(r.bound.perExample, alone.perExample)
            for (e, b) in zip(r.exact.perExample, r.bound.perExample) {
                if gamma == 0 { XCTAssertEqual(e, b, accuracy: 1e-3) } else { XCTAssertGreaterThan(e, b) }
            }
        }
    }

    /// Golden–Thompson (Eq. 15): p̃(z) = e^{−H(z)}/Z ≤ p(z) for every z.
    func testGoldenThompsonBound() throws {
        let bm = try QuantumInstances.machine(seed: 33)
        let q = try QuantumBoltzmannMachine(machine: bm, gamma: 1.0)
        let ed = try QuantumExact.moments(q)
        let h = try QuantumExact.diagonal(bm)
        var minGap = Double.infinity
        for z in 0..<h.count {
            let gap = log(ed.probabilities[z]) - (-h[z] - ed.logZ)
            minGap = min(minGap, gap)
        }
        XCTAssertGreaterThan(minGap, 0)
        print("Golden–Thompson: min_z log p(z) − log p̃(z) = \(minGap)")
    }

    /// Γ = 0: the value and gradient of the quantum prior's log Z are the
    /// classical prior's (exact enumeration; the negative phase sampled).
    func testGammaZeroEqualsClassicalPrior() throws {
        let (p, bm) = try prior(gamma: 0, seed: 34, slices: 4)
        p.negativeSamples = 4000
        let exact = try ExactSampler.moments(bm)
        let lz = try p.logZ(negativePhase: try p.drawNegativePhase())
        XCTAssertEqual(Double(try lz.item()), exact.logZ, accuracy: 1e-4)
        try lz.backward()
        let gb = p.bias.grad!.toArray()
        for l in 0..<bm.units {
            let sigma = ((exact.means[l] * (1 - exact.means[l]) + 1e-3) / 4000).squareRoot()
            XCTAssertLessThan(abs(Double(gb[l]) + exact.means[l]), 5 * sigma)
        }
        var g = Generator(seed: 8)
        XCTAssertEqual(try p.estimateLogZ(generator: &g).logZ, exact.logZ, accuracy: 1e-6)
    }
}

final class SimulatedQuantumAnnealingTests: XCTestCase {
    func testScheduleParsing() throws {
        let s = try AnnealingSchedule.parse("# c\ns,A,B\n0,4,0\n0.5,2,1 # mid\n1,0,2\n")
        XCTAssertEqual(s(0.25).a, 3, accuracy: 1e-12)
        XCTAssertEqual(s(0.75).b, 1.5, accuracy: 1e-12)
        XCTAssertThrowsError(try AnnealingSchedule.parse("0,1,1\n0.5,x,1\n1,0,1"))
        XCTAssertThrowsError(try AnnealingSchedule.parse("0,1,1\n0.7,1,1\n0.5,1,1\n1,0,1"))
    }

    /// With a pause at s*, the reads follow the QBM of Eq. 17 (Γ = A(s*)/T,
    /// b, W = β_eff (h, J), β_eff = B(s*)/T): moments agree with its exact
    /// M-slice Trotter distribution.
    func testFrozenDistributionIsTheQBMOfEq17() throws {
        let bm = try QuantumInstances.machine(seed: 41)
        let sched = try AnnealingSchedule(s: [0, 1], a: [4, 0], b: [0.2, 3])
        let sqa = SimulatedQuantumAnnealing(schedule: sched, temperature: 2, freezeOut: 0.5, steps: 50,
                                            pauseSweeps: 200, slices: 8)
        let (be, g) = sqa.frozenParameters
        XCTAssertEqual(be, 1.6 / 2, accuracy: 1e-12)
        XCTAssertEqual(g, 2.0 / 2, accuracy: 1e-12)
        let exact = try QuantumExact.trotterMoments(try sqa.frozenMachine(bm), slices: 8)
        var gen = Generator(seed: 12)
        let set = try sqa.sample(bm, count: 4000, generator: &gen)
        let worst = assertQuantumMoments(set, means: exact.means, edgeMeans: exact.edgeMeans, graph: bm.graph, "SQA at s*")
        print("SQA frozen at s* = 0.5 vs QBM of Eq. 17: worst |Δ|/σ = \(worst)")
    }
}

final class QuantumPriorStateTests: XCTestCase {
    /// Saving the state and loading it back replays the next negative phase
    /// exactly (PIMC paths, log Z cache and the prior's stream are buffers).
    func testStateDictRoundTripReplaysTheNegativePhase() throws {
        let bm = try QuantumInstances.machine(n: 2, t: 4, seed: 51)   // 16 units: log Z from the cache
        var g = Generator(seed: 51)
        let p = try QuantumPrior(graph: bm.graph, gamma: [0.5], slices: 4, sweeps: 3, burnIn: 10, generator: &g)
        p.negativeSamples = 64
        var ge = Generator(seed: 2)
        _ = try p.estimateLogZ(chains: 32, temperatures: 20, generator: &ge)
        try p.logZ(negativePhase: try p.drawNegativePhase()).backward()
        let saved = Dictionary(uniqueKeysWithValues: p.stateDict().map { ($0.0, $0.1.clone()) })
        XCTAssertEqual(Set(saved.keys), ["bias", "weights", "pimc_chains", "pimc_chains_valid", "logz_cache", "rng"])
        func step() throws -> ([Float], Float) {
            p.bias.grad = nil; p.weights.grad = nil
            let lz = try p.logZ(negativePhase: try p.drawNegativePhase())
            try lz.backward()
            return (p.bias.grad!.toArray() + p.weights.grad!.toArray(), try lz.item())
        }
        let a = try step()
        _ = try step()
        try p.loadStateDict(saved)
        let b = try step()
        XCTAssertEqual(a.0, b.0)
        XCTAssertEqual(a.1, b.1)
        XCTAssertEqual(p.stats["logZ_source"], 2)
    }
}
