import XCTest
@testable import Model
import Runtime

/// The negative phase as an explicit step; a forward pass changes nothing;
/// sampling with any sampler is equally weighted; errors name their field.
final class NegativePhaseTests: XCTestCase {
    /// A Chimera C(2,2,4) prior (32 units) under a dense VAE on 784 pixels.
    func model(rate: Float?, sampler: (any Sampler)? = nil, seed: UInt64 = 1) throws -> (DiscreteVAE, BoltzmannPrior) {
        var g = Generator(seed: seed)
        let prior = try BoltzmannPrior(graph: Graph.chimera(m: 2, n: 2, t: 4), weightScale: 0.5, betaEffRate: rate, generator: &g)
        prior.negativeSamples = 64
        if let sampler { prior.sampler = sampler }
        let vae = try DiscreteVAE.dense(prior: prior, grouping: "bipartite", encoderHidden: [16], decoderHidden: [16],
                                        generator: &g)
        return (vae, prior)
    }

    /// Everything a forward pass could change: buffers (chains, β chains,
    /// β_eff, log Z cache, the prior's stream), stats, β_eff.
    func snapshot(_ p: BoltzmannPrior) -> ([String: [Float]], [String: Double], Float) {
        var d: [String: [Float]] = [:]
        for (k, t) in p.localBuffers { d[k] = t.toArray() }
        return (d, p.stats, p.betaEff)
    }

    func testForwardPassChangesNoPriorState() throws {
        let (vae, prior) = try model(rate: 0.01, sampler: AnnealerEmulator(betaEff: 0.5, gauges: 1, annealSweeps: 20))
        let x = prototypeData(4, pixels: 784, seed: 2)
        let phase = try prior.drawNegativePhase()
        XCTAssertEqual(phase.samples, 64)
        XCTAssertNotEqual(phase.betaEff, phase.drawnAtBetaEff, "the phase made one Eq. C3 update")
        XCTAssertEqual(phase.betaEff, prior.betaEff)
        let before = snapshot(prior)
        var g = Generator(seed: 3)
        let r = try vae.objective(x: x, k: 2, negativePhase: phase, generator: &g)
        try r.loss.backward()
        _ = try Tensor.noGrad { try vae.objective(x: x, generator: &g) }
        _ = try vae.evaluate(x, k: 3, generator: &g)   // log Z estimated, not cached
        let after = snapshot(prior)
        XCTAssertEqual(before.0, after.0)
        XCTAssertEqual(before.1, after.1)
        XCTAssertEqual(before.2, after.2)
        // The phase's moments are log Z's gradient.
        prior.bias.grad = nil; prior.weights.grad = nil
        try prior.logZ(negativePhase: phase).backward()
        XCTAssertEqual(prior.bias.grad!.toArray(), phase.means.map { -$0 })
        XCTAssertEqual(prior.weights.grad!.toArray(), phase.edgeMeans.map { -$0 })
    }

    func testMissingPhaseIsAnErrorNamingTheField() throws {
        let (vae, prior) = try model(rate: nil)
        let x = prototypeData(2, pixels: 784, seed: 2)
        var g = Generator(seed: 3)
        XCTAssertThrowsError(try vae.objective(x: x, generator: &g)) { e in
            XCTAssertEqual((e as? ModelError)?.field, "negativePhase")
        }
        XCTAssertThrowsError(try prior.logZ()) { e in XCTAssertEqual((e as? ModelError)?.field, "negativePhase") }
        XCTAssertNoThrow(try Tensor.noGrad { try vae.objective(x: x, generator: &g) })
        // A phase of another prior is refused.
        let other = try BoltzmannPrior(graph: Graph.chimera(m: 1, n: 1, t: 4))
        XCTAssertThrowsError(try prior.logZ(negativePhase: other.drawNegativePhase())) { e in
            XCTAssertEqual((e as? ModelError)?.field, "negativePhase")
        }
        XCTAssertThrowsError(try prior.drawNegativePhase(betaEffRate: -1)) { e in
            XCTAssertEqual((e as? ModelError)?.field, "betaEffRate")
        }
    }

    /// The step's order of draws: the phase from the prior's stream before
    /// the forward pass gives the numbers of a phase drawn after the
    /// forward pass's draws from the objective's generator.
    func testPhaseOrderDoesNotChangeTheNumbers() throws {
        let x = prototypeData(3, pixels: 784, seed: 4)
        func step(phaseFirst: Bool) throws -> (Float, [Float], [Float]) {
            let (vae, prior) = try model(rate: 0.02, sampler: AnnealerEmulator(betaEff: 0.7, gauges: 1, annealSweeps: 10), seed: 7)
            var g = Generator(seed: 8)
            var phase: NegativePhase? = phaseFirst ? try prior.drawNegativePhase() : nil
            if !phaseFirst {
                // Draw the global generator's share first, then the phase (the old order), on copies.
                var probe = g
                _ = try Tensor.noGrad { try vae.objective(x: x, generator: &probe) }
                phase = try prior.drawNegativePhase()
            }
            let r = try vae.objective(x: x, negativePhase: phase, generator: &g)
            try r.loss.backward()
            return (try r.loss.item(), vae.encoder.parameters()[0].grad!.toArray(), prior.weights.grad!.toArray())
        }
        let a = try step(phaseFirst: true), b = try step(phaseFirst: false)
        XCTAssertEqual(a.0, b.0); XCTAssertEqual(a.1, b.1); XCTAssertEqual(a.2, b.2)
    }

    func testExactPhasesChangeNothing() throws {
        var g = Generator(seed: 2)
        let bern = try BoltzmannPrior(graph: Graph.bernoulli(10), betaEffRate: 0.5, generator: &g)
        let before = snapshot(bern)
        let p = try bern.drawNegativePhase()
        XCTAssertTrue(p.exact)
        XCTAssertEqual(p.means, bern.bias.toArray().map { 1 / (1 + expf($0)) })
        let after = snapshot(bern)
        XCTAssertEqual(before.0, after.0); XCTAssertEqual(before.2, after.2)
        let exact = try ExactPrior(graph: Graph.chimera(m: 1, n: 1, t: 4), biasScale: 0.5, weightScale: 0.5, generator: &g)
        let ep = try exact.drawNegativePhase()
        let m = try ExactSampler.moments(exact.machine, pairs: false)
        for l in 0..<8 { XCTAssertEqual(Double(ep.means[l]), m.means[l], accuracy: 1e-5) }
        for k in 0..<16 { XCTAssertEqual(Double(ep.edgeMeans[k]), m.edgeMeans[k], accuracy: 1e-5) }
        XCTAssertEqual(ep.meanEnergy, m.meanEnergy, accuracy: 1e-6)
        // The exact log Z gradient equals the phase (autograd through the enumeration).
        try exact.logZ(negativePhase: ep).backward()
        for l in 0..<8 { XCTAssertEqual(exact.bias.grad!.toArray()[l], -ep.means[l], accuracy: 1e-5) }
    }

    /// `sample(n, using:)` of both priors with AIS (10 temperatures: its raw
    /// final states are visibly off) and PA: equally weighted samples whose
    /// unit means match enumeration.
    func testSamplingWithAnySamplerIsEquallyWeighted() throws {
        var g = Generator(seed: 5)
        let graph = try Graph.chimera(m: 1, n: 1, t: 4)
        let exact = try ExactPrior(graph: graph, biasScale: 1, weightScale: 3, generator: &g)
        let boltz = try BoltzmannPrior(graph: graph, generator: &g)
        try Tensor.noGrad {
            try boltz.bias.copy_(exact.bias); try boltz.weights.copy_(exact.weights)
        }
        let m = try ExactSampler.moments(exact.machine, pairs: false)
        let ais = AnnealedImportanceSampling(temperatures: 10)
        let raw = try ais.sample(exact.machine, count: 20_000, generator: &g)
        let rawMeans = SampleSet(units: 8, samples: raw.samples, energies: []).means()   // unweighted
        let rawWorst = (0..<8).map { l in Swift.abs(rawMeans[l] - m.means[l]) }.max()!
        XCTAssertGreaterThan(rawWorst, 0.05, "the raw AIS states must be off for this test to mean anything")
        let samplers: [any Sampler] = [ais, PopulationAnnealing(temperatures: 20, populations: 4)]
        for prior in [exact as LatentPrior, boltz as LatentPrior] {
            for s in samplers {
                let z = try prior.sample(20_000, using: s, generator: &g)
                XCTAssertEqual(z.shape, [20_000, 8])
                let zm = try z.mean(0).toArray()
                for l in 0..<8 { XCTAssertEqual(Double(zm[l]), m.means[l], accuracy: 0.03, "\(type(of: prior)) \(s) unit \(l)") }
            }
        }
    }

    func testModelErrorsNameTheirField() throws {
        let (vae, _) = try model(rate: nil)
        var g = Generator(seed: 1)
        func field(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let e as ModelError { return e.field } catch { return "other" }
        }
        XCTAssertEqual(field { _ = try vae.decodeChain(2, burnIn: -1, generator: &g) }, "burnIn")
        XCTAssertEqual(field { _ = try Tensor.noGrad { try vae.objective(x: prototypeData(2, pixels: 784, seed: 1), klWeight: -1, generator: &g) } }, "klWeight")
        XCTAssertEqual(field { _ = try vae.decode(Tensor.zeros([2, 5])) }, "z")
        XCTAssertEqual(field { _ = try vae.evaluate(Tensor.zeros([2, 784]), batchSize: 0, generator: &g) }, "batchSize")
        XCTAssertEqual(field { try vae.prior.clamp(weights: -1, bias: nil) }, "weights")
        XCTAssertEqual(ModelError(field: "burnIn", "must be >= 0").description, "burnIn: must be >= 0")
    }

    func testDecodeChainAndCustomAssembly() throws {
        let (vae, prior) = try model(rate: nil)
        var g = Generator(seed: 4)
        let (p, z) = try vae.decodeChain(3, sweeps: 2, burnIn: 5, generator: &g)
        XCTAssertEqual(p.shape, [3, 784]); XCTAssertEqual(z.shape, [3, 32])
        XCTAssertTrue(vae.training)
        let trunk = Sequential([try Linear(784, 12, generator: &g), ReLU()])
        let dec = Sequential([try Linear(32, 784, generator: &g)])
        let custom = try DiscreteVAE(trunk: trunk, decoder: dec, prior: prior, generator: &g)
        XCTAssertEqual(custom.config["trunk_features"], "12")
        XCTAssertEqual(custom.grouping.name, "chains")   // the graph's default grouping
        func field(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let e as ModelError { return e.field } catch { return "other" }
        }
        XCTAssertEqual(field { _ = try DiscreteVAE(trunk: trunk, decoder: dec, prior: prior, trunkFeatures: 5, generator: &g) }, "trunkFeatures")
        XCTAssertEqual(field { _ = try DiscreteVAE(trunk: trunk, decoder: trunk, prior: prior, generator: &g) }, "decoder")
        XCTAssertEqual(field { _ = try DiscreteVAE(trunk: dec, decoder: dec, prior: prior, generator: &g) }, "trunk")
        XCTAssertEqual(field { _ = try DiscreteVAE(config: custom.config, prior: prior, generator: &g) }, "config")
        var other = vae.config
        other["prior_graph"] = "elsewhere"
        XCTAssertEqual(field { _ = try DiscreteVAE(config: other, prior: prior, generator: &g) }, "prior")
    }

    /// `evaluate(_:k:logZ:)` is log Z, then `logLikelihood`, then the pass of
    /// `evaluate(x:logZ:)`, with the same draws.
    func testEvaluationComposesItsParts() throws {
        let (vae, _) = try model(rate: nil)
        let x = prototypeData(6, pixels: 784, seed: 9)
        var g1 = Generator(seed: 10), g2 = Generator(seed: 10)
        let all = try vae.evaluate(x, k: 4, logZ: (12.5, 0.25), batchSize: 4, generator: &g1)
        let ll = try vae.logLikelihood(x, k: 4, logZ: (12.5, 0.25), generator: &g2)
        let set = try vae.evaluate(x: x, logZ: 12.5, batchSize: 4, generator: &g2)
        XCTAssertEqual(all.logLikelihood.perExample, ll.perExample)
        XCTAssertEqual(all.set.metrics.elbo, set.metrics.elbo)
        XCTAssertEqual(all.set.active, set.active)
        XCTAssertEqual(all.logZ, 12.5); XCTAssertEqual(all.logZError, 0.25); XCTAssertEqual(all.count, 6)
    }

    func testBatchIterator() throws {
        let set = ImageSet(images: (0..<(5 * 4)).map { Float($0) / 20 }, labels: [0, 1, 2, 3, 4], rows: 2, cols: 2)
        var g = Generator(seed: 1)
        let it = try BatchIterator(set, batchSize: 2, binarization: .none, shuffle: false, dropLast: true, generator: &g)
        var labels: [UInt8] = []
        while let b = try it.next(generator: &g) { XCTAssertEqual(b.images.shape, [2, 4]); labels += b.labels }
        XCTAssertEqual(labels, [0, 1, 2, 3])
        XCTAssertThrowsError(try BatchIterator(set, batchSize: 0, binarization: .none, shuffle: false, dropLast: false, generator: &g)) { e in
            XCTAssertEqual((e as? ModelError)?.field, "batchSize")
        }
    }
}
