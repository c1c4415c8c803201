import XCTest
@testable import Model
import Runtime

/// What the paper's Table I and Figs. 11/13 need from Model: the auxiliary
/// machine's evaluation (Eqs. 17-18), a sampled negative phase for the
/// edge-free prior, the emulator's drifting temperature, plot bands.
final class AuxiliaryMachineTests: XCTestCase {
    func model(graph: Graph, seed: UInt64 = 1) throws -> (DiscreteVAE, BoltzmannPrior) {
        var g = Generator(seed: seed)
        let prior = try BoltzmannPrior(graph: graph, biasInit: 0.3, weightScale: 0.8, generator: &g)
        let vae = try DiscreteVAE.dense(prior: prior, grouping: "bipartite", encoderHidden: [16], decoderHidden: [16],
                                        generator: &g)
        return (vae, prior)
    }

    /// log Σ_z exp(−β H(z)) by enumeration.
    func enumeratedLogZ(_ bm: BoltzmannMachine, beta: Double) throws -> Double {
        let scaled = try BoltzmannMachine(graph: bm.graph, bias: bm.bias.map { $0 * Float(beta) },
                                          weights: bm.weights.map { $0 * Float(beta) })
        return try ExactSampler.logZ(scaled)
    }

    func testAuxiliaryEvaluationIsTheScaledMachine() throws {
        let (vae, prior) = try model(graph: Graph.chimera(m: 1, n: 1, t: 4))
        let x = prototypeData(5, pixels: 784, seed: 2)
        let b = prior.bias.toArray(), w = prior.weights.toArray()
        let beta = 0.5
        var g1 = Generator(seed: 3)
        let aux = try vae.evaluate(x, k: 7, betaEff: beta, generator: &g1)
        XCTAssertEqual(prior.bias.toArray(), b, "parameters restored bit for bit")
        XCTAssertEqual(prior.weights.toArray(), w)
        let bm = try BoltzmannMachine(graph: prior.graph, bias: b, weights: w)
        XCTAssertEqual(aux.logZ, try enumeratedLogZ(bm, beta: beta), accuracy: 1e-4)
        // the same numbers as a model whose prior holds β·b, β·W
        for t in [prior.bias, prior.weights] { for i in 0..<t.count { t.data[i] *= Float(beta) } }
        var g2 = Generator(seed: 3)
        let scaled = try vae.evaluate(x, k: 7, generator: &g2)
        XCTAssertEqual(aux.logLikelihood.mean, scaled.logLikelihood.mean, accuracy: 1e-9)
        XCTAssertEqual(aux.set.metrics.elbo, scaled.set.metrics.elbo, accuracy: 1e-9)
        XCTAssertThrowsError(try vae.evaluate(x, betaEff: 0, generator: &g2)) { e in
            XCTAssertEqual((e as? ModelError)?.field, "betaEff")
        }
    }

    func testSampledNegativePhaseOfTheEdgeFreePrior() throws {
        var g = Generator(seed: 4)
        let prior = try BoltzmannPrior(graph: Graph.bernoulli(6), generator: &g)
        for (i, v) in [Float(-2), -1, 0, 0.5, 1, 2].enumerated() { prior.bias.data[i] = v }
        prior.sampler = AnnealerEmulator(betaEff: 0.75, gauges: 2, annealSweeps: 20)
        prior.negativeSamples = 20_000
        XCTAssertTrue(try prior.drawNegativePhase().exact, "exact by default")
        prior.sampledNegativePhase = true
        XCTAssertTrue(prior.negativePhaseIsSampled)
        let ph = try prior.drawNegativePhase(betaEffRate: 0)
        XCTAssertFalse(ph.exact)
        XCTAssertEqual(ph.stats["sampler_beta_eff"], 0.75)
        for (i, b) in [-2.0, -1, 0, 0.5, 1, 2].enumerated() {
            XCTAssertEqual(Double(ph.means[i]), 1 / (1 + exp(0.75 * b)), accuracy: 0.02)
        }
    }

    func testEmulatorTemperatureDrift() throws {
        let bm = try BoltzmannMachine(graph: Graph.chimera(m: 1, n: 1, t: 4), bias: [Float](repeating: 0.1, count: 8),
                                      weights: [Float](repeating: -0.2, count: 16))
        func path(_ em: AnnealerEmulator, _ n: Int) throws -> [Double] {
            var g = Generator(seed: 1)
            return try (0..<n).map { _ in try em.sample(bm, count: 4, generator: &g).stats["beta_eff"]! }
        }
        let a = try path(AnnealerEmulator(betaEff: 1, gauges: 1, driftSD: 0.2, driftTime: 5, driftSeed: 9), 40)
        let b = try path(AnnealerEmulator(betaEff: 1, gauges: 2, driftSD: 0.2, driftTime: 5, driftSeed: 9), 40)
        let c = try path(AnnealerEmulator(betaEff: 1, gauges: 1, driftSD: 0.2, driftTime: 5, driftSeed: 10), 40)
        XCTAssertEqual(a, b, "one drift seed, one temperature path")
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a[0], 1)
        XCTAssertGreaterThan(a.max()! - a.min()!, 0.05)
        let resumed = try path(AnnealerEmulator(betaEff: 1, gauges: 1, driftSD: 0.2, driftTime: 5, driftSeed: 9,
                                                driftStart: 25), 5)
        XCTAssertEqual(resumed, Array(a[25..<30]))
        XCTAssertEqual(try path(AnnealerEmulator(betaEff: 0.7, gauges: 1), 3), [0.7, 0.7, 0.7])
        XCTAssertThrowsError(try AnnealerEmulator(driftSD: -1).validate()) { e in
            XCTAssertEqual((e as? ModelError)?.field, "driftSD")
        }
    }

    func testPlotBandsNeedLoAndHiTogether() throws {
        let path = NSTemporaryDirectory() + "/qv-band-\(UInt32.random(in: 0...UInt32.max)).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ok = LinePlot(panels: [.init(title: "t", series: [.init(name: "a", x: [1, 2, 3], y: [1, 2, 3],
                                                                    lo: [0, 1, 2], hi: [2, 3, 4])])])
        XCTAssertNoThrow(try ok.write(path: path))
        let bad = LinePlot(panels: [.init(title: "t", series: [.init(name: "a", x: [1, 2], y: [1, 2], lo: [0], hi: [1, 2])])])
        XCTAssertThrowsError(try bad.write(path: path))
    }
}
