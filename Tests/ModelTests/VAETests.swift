import XCTest
import Foundation
@testable import Model
import Runtime

/// Binary data on `p` pixels: noisy copies (10% flips) of 4 random prototypes.
func prototypeData(_ n: Int, pixels p: Int, seed: UInt64) -> Tensor {
    var g = Generator(seed: 999)
    let protos = (0..<4).map { _ in (0..<p).map { _ in g.uniform() < 0.5 ? Float(1) : 0 } }
    var r = Generator(seed: seed)
    var v = [Float]()
    for _ in 0..<n {
        let pr = protos[Int(r.next() % 4)]
        for k in 0..<p { v.append(r.uniform() < 0.1 ? 1 - pr[k] : pr[k]) }
    }
    return try! Tensor(v, shape: [n, p])
}

/// Exact log p(x) = log Σ_z p(x|z) p(z) by enumerating every z.
func exactLogLikelihood(_ vae: DiscreteVAE, _ x: Tensor) throws -> [Double] {
    guard let prior = vae.prior as? ExactPrior else { throw ModelError("needs an ExactPrior") }
    let (states, logpz) = try prior.enumerate()
    return try vae.evaluating {
        let logits = try vae.decode(states)
        return try (0..<x.shape[0]).map { i in
            let lp = try logits.bernoulliLogLikelihood(x.narrow(0, start: i, length: 1)).toArray()
            let terms = zip(lp, logpz).map { Double($0.0) + $0.1 }
            let m = terms.max()!
            return m + Foundation.log(terms.reduce(0.0) { $0 + Foundation.exp($1 - m) })
        }
    }
}

/// A small model trained briefly on 16-pixel data, with an enumerable prior.
func trainedTinyModel(graph: Graph, grouping: String, seed: UInt64) throws -> (DiscreteVAE, Tensor) {
    var g = Generator(seed: seed)
    let prior = try ExactPrior(graph: graph, biasScale: 0.5, weightScale: 0.5, generator: &g)
    let vae = try DiscreteVAE.dense(prior: prior, grouping: grouping, input: 16, encoderHidden: [32],
                                    decoderHidden: [32], generator: &g)
    let data = prototypeData(500, pixels: 16, seed: seed)
    let opt = try Adam(params: vae.parameters(), lr: 1e-2)
    for step in 0..<150 {
        let x = try data.narrow(0, start: (step % 10) * 50, length: 50)
        opt.zeroGrad()
        try vae.objective(x: x, k: 1, d: 1, generator: &g).loss.backward()
        try opt.step()
    }
    return (vae, prototypeData(200, pixels: 16, seed: seed + 1))
}

final class VAETests: XCTestCase {
    func testExactPriorAgainstEnumerationSampler() throws {
        var g = Generator(seed: 1)
        let graph = try Graph.chimera(m: 1, n: 1, t: 4)
        let prior = try ExactPrior(graph: graph, biasScale: 0.7, weightScale: 0.7, generator: &g)
        let bm = try BoltzmannMachine(graph: graph, bias: prior.bias.toArray(), weights: prior.weights.toArray())
        let mom = try ExactSampler.moments(bm, pairs: false)
        let lz = try prior.logZ()
        XCTAssertEqual(Double(try lz.item()), mom.logZ, accuracy: 1e-4)
        XCTAssertEqual(try prior.estimateLogZ(generator: &g).logZ, mom.logZ, accuracy: 1e-9 + 1e-6 * Swift.abs(mom.logZ))
        // The exact negative phase: ∂log Z/∂b = −⟨z⟩, ∂log Z/∂W = −⟨z_u z_v⟩.
        try lz.backward()
        for (a, e) in zip(prior.bias.grad!.toArray(), mom.means) { XCTAssertEqual(Double(a), -e, accuracy: 1e-4) }
        for (a, e) in zip(prior.weights.grad!.toArray(), mom.edgeMeans) { XCTAssertEqual(Double(a), -e, accuracy: 1e-4) }
        // Energies of relaxed ζ match the Boltzmann machine's.
        let zeta = try Tensor.rand([5, 8], generator: &g)
        let e = try prior.energy(zeta).toArray(), ref = try bm.energies(zeta.toArray(), batch: 5)
        for (a, b) in zip(e, ref) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        // Exact sampling.
        let s = try prior.sample(20_000, generator: &g)
        for (a, m) in zip(try s.mean(0).toArray(), mom.means) { XCTAssertEqual(Double(a), m, accuracy: 0.015) }
        // Bernoulli (no couplers) at full size: closed form.
        let bern = try ExactPrior(graph: Graph.bernoulli(288), biasScale: 1, generator: &g)
        let ref2 = bern.bias.toArray().reduce(0.0) { $0 + Foundation.log1p(Foundation.exp(-Double($1))) }
        XCTAssertEqual(Double(try bern.logZ().item()), ref2, accuracy: 1e-3)
        let sb = try bern.sample(4000, generator: &g).mean(0).toArray()
        let pb = bern.bias.toArray().map { 1 / (1 + Foundation.exp($0)) }
        for (a, p) in zip(sb, pb) { XCTAssertEqual(a, p, accuracy: 0.04) }
        XCTAssertThrowsError(try ExactPrior(graph: Graph.chimera(m: 2, n: 2, t: 4), generator: &g))
    }

    func testGroupingPutsGroupsOnUnits() throws {
        let graph = try Graph.chimera(m: 2, n: 1, t: 2)   // 8 units
        for name in ["bipartite", "chains"] {
            let gr = try LatentGrouping(graph: graph, name: name)
            XCTAssertEqual(gr.groups, graph.groupings[name]!)
            let cat = try Tensor(gr.groups.flatMap { $0 }.map(Float.init)).unsqueeze(0)  // value = unit index
            XCTAssertEqual(try gr.toUnits(cat).toArray(), (0..<8).map(Float.init))
            let back = try gr.fromUnits(gr.toUnits(cat))
            XCTAssertEqual(back.map { $0.toArray() }, gr.groups.map { $0.map(Float.init) })
        }
        let custom = try LatentGrouping(parsing: "custom:5,1,2;0,3,4,6,7", graph: graph)
        XCTAssertEqual(custom.sizes, [3, 5])
        XCTAssertEqual(try LatentGrouping(parsing: custom.descriptionString, graph: graph).groups, custom.groups)
        XCTAssertThrowsError(try LatentGrouping(parsing: "custom:0,1;1,2,3,4,5,6,7", graph: graph))
        XCTAssertThrowsError(try LatentGrouping(graph: graph, name: "nonesuch"))
    }

    func testImportanceSampledLikelihoodMatchesEnumeration() throws {
        // Chimera C(1,1,4): 8 units, 16 couplers, log Z by enumeration;
        // "chains" grouping (the shores) so z2 is coupled to z1.
        let (vae, test) = try trainedTinyModel(graph: Graph.chimera(m: 1, n: 1, t: 4), grouping: "chains", seed: 5)
        let exact = try exactLogLikelihood(vae, test)
        var g = Generator(seed: 6)
        let logZ = try vae.prior.estimateLogZ(generator: &g)
        XCTAssertEqual(logZ.error, 0)
        let est = try vae.logLikelihood(test, k: 1000, logZ: (logZ.logZ, logZ.error), maxRows: 4096, generator: &g)
        let diffs = zip(est.perExample, exact).map { $0.0 - $0.1 }
        let meanExact = exact.reduce(0, +) / Double(exact.count)
        // Tolerances (K = 1000 over 256 states; measured 0.022–0.025 mean
        // |diff|, 0.13 max, mean over examples within 0.006 in 3 repeats):
        // mean |L_1000 − log p(x)| < 0.04 nats, every example within 0.3, the
        // mean over examples within 0.015.
        let absd = diffs.map { Swift.abs($0) }
        print("tiny model: mean |L_1000 − exact| \(absd.reduce(0, +) / Double(absd.count)), max \(absd.max()!)")
        XCTAssertLessThan(absd.reduce(0, +) / Double(absd.count), 0.04, "mean |L_1000 − exact|")
        XCTAssertLessThan(absd.max()!, 0.3, "max |L_1000 − exact|")
        XCTAssertEqual(est.mean, meanExact, accuracy: 0.015)
        // The error shrinks as 1/√K: at K = 10⁴ (measured 0.0075 mean |diff|).
        let est4 = try vae.logLikelihood(test, k: 10_000, logZ: (logZ.logZ, 0), generator: &g)
        XCTAssertLessThan(zip(est4.perExample, exact).map { Swift.abs($0.0 - $0.1) }.reduce(0, +) / Double(exact.count), 0.015)
        XCTAssertEqual(est4.mean, meanExact, accuracy: 0.005)
        XCTAssertGreaterThan(est.standardError, 0)
        // L_1 ≤ L_10 ≤ L_100 ≤ log p(x) on average (200 examples × 5 repeats).
        var means: [Double] = []
        for k in [1, 10, 100] {
            var tot = 0.0
            for _ in 0..<5 { tot += try vae.logLikelihood(test, k: k, logZ: (logZ.logZ, 0), generator: &g).mean }
            means.append(tot / 5)
        }
        print("tiny model: L_1 \(means[0]), L_10 \(means[1]), L_100 \(means[2]), L_1000 \(est.mean), exact \(meanExact)")
        XCTAssertLessThan(means[0], means[1] - 0.01)
        XCTAssertLessThan(means[1], means[2])
        XCTAssertLessThanOrEqual(means[2], meanExact + 0.002)
    }

    /// A model with smooth activations (tanh) so central differences are clean.
    func smoothTinyModel(_ g: inout Generator) throws -> DiscreteVAE {
        let graph = try Graph.chimera(m: 1, n: 1, t: 3)   // 6 units, 9 couplers
        let prior = try ExactPrior(graph: graph, biasScale: 0.5, weightScale: 0.5, generator: &g)
        let grouping = try LatentGrouping(graph: graph, name: "bipartite")
        let enc = try HierarchicalEncoder(trunk: Sequential([try Linear(7, 5, generator: &g), Tanh()]), hiddenSize: 5,
                                          groupSizes: grouping.sizes, generator: &g)
        let dec = Sequential([try Linear(6, 5, generator: &g), Tanh(), try Linear(5, 7, generator: &g)])
        return try DiscreteVAE(encoder: enc, decoder: dec, prior: prior, grouping: grouping, inputSize: 7, config: [:])
    }

    func testObjectiveGradientsMatchFiniteDifferences() throws {
        var g = Generator(seed: 12)
        let vae = try smoothTinyModel(&g)
        let x = prototypeData(3, pixels: 7, seed: 3)
        for (k, d, kl, tau) in [(1, 1, Float(1), Float(0.5)), (2, 2, 0.7, 0.5), (4, 1, 1, 1)] {
            let msg = try nnGradMismatch(vae.parameters(), eps: 1e-2, atol: 1e-3, rtol: 1e-2) {
                var noise = Generator(seed: 77)   // identical relaxation noise each evaluation
                return try vae.objective(x: x, k: k, d: d, klWeight: kl, tau: tau, generator: &noise).loss
            }
            XCTAssertNil(msg, "K \(k) D \(d) kl \(kl) τ \(tau)")
        }
    }

    func testBetaEffScalesOnlyTheEncodersPriorGradient() throws {
        var g = Generator(seed: 13)
        let vae = try smoothTinyModel(&g)
        let prior = vae.prior as! ExactPrior
        let x = prototypeData(4, pixels: 7, seed: 4)
        func run(_ beta: Float) throws -> (Float, [[Float]], [[Float]]) {
            prior.betaEff = beta
            for p in vae.parameters() { p.grad = nil }
            var noise = Generator(seed: 5)
            let r = try vae.objective(x: x, k: 2, d: 1, tau: 0.5, generator: &noise)
            try r.loss.backward()
            return (try r.loss.item(), vae.encoder.parameters().map { $0.grad!.toArray() },
                    prior.parameters().map { $0.grad!.toArray() })
        }
        let (l0, e0, p0) = try run(0), (l1, e1, p1) = try run(1), (l2, e2, p2) = try run(2)
        XCTAssertEqual(l0, l1); XCTAssertEqual(l1, l2)
        XCTAssertEqual(p0, p1); XCTAssertEqual(p1, p2)
        // Encoder gradient = rest + β·(energy part): linear in β, and not constant.
        var moved = false
        for (a, (b, c)) in zip(e0, zip(e1, e2)) {
            for i in a.indices {
                XCTAssertEqual(c[i] - b[i], b[i] - a[i], accuracy: 1e-5)
                if Swift.abs(c[i] - b[i]) > 1e-4 { moved = true }
            }
        }
        XCTAssertTrue(moved)
    }

    func testObjectiveDiagnosticsAndHelpers() throws {
        var g = Generator(seed: 14)
        let (vae, test) = try trainedTinyModel(graph: Graph.chimera(m: 1, n: 1, t: 4), grouping: "bipartite", seed: 8)
        let r = try vae.objective(x: test, k: 2, d: 4, klWeight: 0.5, generator: &g)
        XCTAssertEqual(r.bound, -Double(try r.loss.item()), accuracy: 1e-9)
        XCTAssertEqual(r.elbo, -r.recon - r.kl, accuracy: 1e-3)
        XCTAssertEqual(r.kl, r.logQ + r.energy + r.logZ, accuracy: 1e-9)
        XCTAssertThrowsError(try vae.objective(x: test, k: 0, generator: &g))
        XCTAssertThrowsError(try vae.objective(x: Tensor.zeros([2, 15]), generator: &g))
        XCTAssertEqual(try vae.reconstruct(test, generator: &g).shape, [200, 16])
        let (imgs, z) = try vae.generate(7, generator: &g)
        XCTAssertEqual(imgs.shape, [7, 16]); XCTAssertEqual(z.shape, [7, 8])
        XCTAssertTrue(vae.training)   // evaluation helpers restore the mode
        let set = ImageSet(images: test.toArray(), labels: [UInt8](repeating: 0, count: 200), rows: 4, cols: 4)
        let lz = try vae.prior.estimateLogZ(generator: &g).logZ
        let m = try vae.metrics(set: set, logZ: lz, binarization: .none, generator: &g)
        XCTAssertEqual(m.count, 200)
        XCTAssertEqual(m.elbo, -m.recon - m.kl, accuracy: 1e-6)
        let ll = try vae.logLikelihood(set: set, k: 200, logZ: (lz, 0.1), binarization: .none, batchSize: 64, generator: &g)
        XCTAssertGreaterThan(ll.mean, m.elbo)   // L_200 above the hard-sample ELBO on average
        XCTAssertEqual(ll.logZError, 0.1)
        let active = try vae.activeUnits(set: set, generator: &g)
        XCTAssertEqual(active.variances.count, 8)
        XCTAssertEqual(active.count, active.variances.filter { $0 > 0.01 }.count)
    }

    func testShortDenseTrainingOnMNISTDecreasesTheLoss() throws {
        let dir = DatasetTests.mnistDir
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("MNIST not found at \(dir)") }
        let data = try DatasetSplits.load(.mnist, directory: dir)
        var g = Generator(seed: 21)
        let prior = try ExactPrior(graph: Graph.bernoulli(288), generator: &g)
        let vae = try DiscreteVAE.dense(prior: prior, generator: &g)
        let opt = try Adam(params: vae.parameters(), lr: 3e-3)
        let batcher = try Batcher(data.train, batchSize: 100, binarization: .dynamic)
        let order = batcher.shuffledOrder(&g)
        var losses: [Double] = []
        for step in 0..<120 {
            let x = try Tensor(batcher.batch(order[(step * 100)..<(step * 100 + 100)], &g), shape: [100, 784])
            opt.zeroGrad()
            let r = try vae.objective(x: x, k: 1, d: 1, klWeight: 1, generator: &g)
            try r.loss.backward()
            try opt.step()
            losses.append(Double(try r.loss.item()))
        }
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        print("MNIST P-dense/Bernoulli: loss \(first) → \(last) over 120 steps")
        XCTAssertLessThan(last, first - 50)
        XCTAssertLessThan(last, 225)
        XCTAssertTrue(losses.allSatisfy { $0.isFinite })
    }

    /// P-conv's decoder dropout draws from the objective's generator, after
    /// the encoder noise: the step depends on that stream only (not on
    /// GlobalRandom), and passing GlobalRandom's own generator works too.
    /// Decoder passes of any size (whole images per pass, or part of one
    /// image's samples) give the same estimates as one pass over all rows:
    /// the draws do not depend on the pass size and rows are independent.
    func testLikelihoodDecodePassesDoNotChangeTheEstimate() throws {
        var g0 = Generator(seed: 40)
        let prior = try BoltzmannPrior(graph: Graph.chimera(m: 1, n: 2, t: 4), generator: &g0)
        let vae = try DiscreteVAE.conv(prior: prior, grouping: "bipartite", generator: &g0)
        let x = try Tensor.bernoulli([3, 784], p: 0.2, generator: &g0)
        func ll(_ maxRows: Int, _ decodeRows: Int) throws -> [Double] {
            var g = Generator(seed: 41)
            return try vae.logLikelihood(x, k: 12, logZ: (0, 0), maxRows: maxRows, decodeRows: decodeRows, generator: &g).perExample
        }
        for maxRows in [12, 24, 5] {
            let one = try ll(maxRows, 1_000_000)
            for rows in [1, 5, 12, 13, 30] {
                for (a, b) in zip(try ll(maxRows, rows), one) { XCTAssertEqual(a, b, accuracy: 1e-4 * Swift.max(1, Swift.abs(b)), "maxRows \(maxRows), passes of \(rows)") }
            }
        }
        var g = Generator(seed: 41)
        XCTAssertThrowsError(try vae.logLikelihood(x, k: 12, logZ: (0, 0), decodeRows: 0, generator: &g))
    }

    func testConvObjectiveDrawsOnlyFromItsGenerator() throws {
        var g = Generator(seed: 21)
        let prior = try ExactPrior(graph: Graph.bernoulli(288))
        let vae = try DiscreteVAE.conv(prior: prior, generator: &g)
        let x = prototypeData(2, pixels: 784, seed: 3)
        func loss(global: UInt64, stream: UInt64) throws -> (Float, [UInt64]) {
            GlobalRandom.seed(global)
            var s = Generator(seed: stream)
            let l = try vae.objective(x: x, generator: &s).loss.item()
            return (l, s.state)
        }
        let a = try loss(global: 1, stream: 5), b = try loss(global: 999, stream: 5), c = try loss(global: 1, stream: 6)
        XCTAssertEqual(a.0, b.0, "GlobalRandom must not matter")
        XCTAssertEqual(a.1, b.1)
        XCTAssertNotEqual(a.0, c.0, "the stream must matter")
        // The Lua binding passes &GlobalRandom.generator itself (no overlapping access).
        GlobalRandom.seed(5)
        let viaGlobal = try vae.objective(x: x, generator: &GlobalRandom.generator).loss.item()
        XCTAssertEqual(viaGlobal, a.0)
    }
}
