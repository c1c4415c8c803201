import XCTest
import Runtime
@testable import Model

/// A sampler that returns a fixed sample set (to check the negative-phase
/// wiring exactly).
private struct FixedSampler: Sampler {
    let samples: [Float]
    let units: Int
    func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        precondition(samples.count == count * units)
        return SampleSet(units: units, samples: samples, energies: try bm.energies(samples, batch: count))
    }
}

/// A sampler that must never run.
private struct FailingSampler: Sampler {
    func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        throw ModelError("this sampler must not be called")
    }
}

final class PriorTests: XCTestCase {
    /// A prior on `graph` with the parameters of a random machine.
    func makePrior(_ graph: Graph, biasScale: Float = 0.7, weightScale: Float = 0.6, seed: UInt64 = 1) throws
        -> (BoltzmannPrior, BoltzmannMachine) {
        var g = Generator(seed: seed)
        let bm = try BoltzmannMachine.random(graph: graph, biasScale: biasScale, weightScale: weightScale, generator: &g)
        let p = try BoltzmannPrior(graph: graph, generator: &g)
        try set(p, bm)
        return (p, bm)
    }

    func set(_ p: BoltzmannPrior, _ bm: BoltzmannMachine) throws {
        try Tensor.noGrad {
            try p.bias.copy_(Tensor(bm.bias))
            if !bm.weights.isEmpty { try p.weights.copy_(Tensor(bm.weights)) }
        }
    }

    func graphs() throws -> [(String, Graph)] {
        let full = try Graph.fullBipartite(6, 5)
        // A dense bipartite graph whose edge order is not the matrix order.
        let holey = try full.masked(deadEdges: [(0, 6), (3, 8), (5, 10)])
        // chimera32 is dense enough (80 of 16×16) for the sgemm path with
        // gathered (non-contiguous) sides; chimera72 (208 of 36×36) is sparse.
        return [("chimera32", try Graph.chimera(m: 2, n: 2, t: 4)), ("chimera72", try Graph.chimera(m: 3, n: 3, t: 4)),
                ("complete9", try Graph.complete(9)),
                ("full6x5", full), ("full6x5-holes", holey), ("bernoulli7", try Graph.bernoulli(7))]
    }

    func testDenseKernelsChosenForFullRBM() throws {
        XCTAssertTrue(try BoltzmannPrior(graph: try Graph.fullBipartite(144, 144)).usesDenseKernels)
        XCTAssertFalse(try BoltzmannPrior(graph: try Graph.chimera(m: 6)).usesDenseKernels)
        XCTAssertFalse(try BoltzmannPrior(graph: try Graph.chimera(m: 3)).usesDenseKernels)
        XCTAssertTrue(try BoltzmannPrior(graph: try Graph.chimera(m: 2)).usesDenseKernels)
        XCTAssertFalse(try BoltzmannPrior(graph: try Graph.bernoulli(10)).usesDenseKernels)
        let p = try BoltzmannPrior(graph: try Graph.bernoulli(10))
        XCTAssertEqual(p.weights.shape, [0])
        XCTAssertEqual(p.namedParameters().map { $0.0 }, ["bias", "weights"])
    }

    func testEnergyMatchesMachineAndGradientsMatchFiniteDifferences() throws {
        for (name, graph) in try graphs() {
            let (prior, bm) = try makePrior(graph)
            let n = graph.nodeCount, B = 5
            var g = Generator(seed: 7)
            let zv = (0..<(B * n)).map { _ in g.uniform() }
            let up = (0..<B).map { _ in g.normal() }
            let zeta = try Tensor(zv, shape: [B, n]).requiringGrad()
            let e = try prior.energy(zeta)
            let ref = try bm.energies(zv, batch: B)
            for s in 0..<B { XCTAssertEqual(e.toArray()[s], ref[s], accuracy: 1e-4, "\(name) energy row \(s)") }
            try (e * Tensor(up)).sum().backward()
            // Central differences of L = Σ_s up_s H(ζ_s) in Double (H is
            // quadratic, so they are exact up to rounding).
            func loss(_ m: BoltzmannMachine, _ z: [Float]) throws -> Double {
                var acc = 0.0
                for s in 0..<B { acc += Double(up[s]) * (try m.energy(Array(z[(s * n)..<((s + 1) * n)]))) }
                return acc
            }
            let h: Float = 1.0 / 64
            let dz = zeta.grad!.toArray()
            for i in 0..<(B * n) {
                var zp = zv, zm = zv
                zp[i] += h; zm[i] -= h
                let fd = (try loss(bm, zp) - loss(bm, zm)) / Double(2 * h)
                XCTAssertEqual(Double(dz[i]), fd, accuracy: 1e-4 * max(1, abs(fd)), "\(name) dζ[\(i)]")
            }
            let db = prior.bias.grad!.toArray()
            for l in 0..<n {
                var mp = bm, mm = bm
                mp.bias[l] += h; mm.bias[l] -= h
                let fd = (try loss(mp, zv) - loss(mm, zv)) / Double(2 * h)
                XCTAssertEqual(Double(db[l]), fd, accuracy: 1e-4 * max(1, abs(fd)), "\(name) db[\(l)]")
            }
            let dw = prior.weights.grad!.toArray()
            XCTAssertEqual(dw.count, graph.edgeCount)
            for k in 0..<graph.edgeCount {
                var mp = bm, mm = bm
                mp.weights[k] += h; mm.weights[k] -= h
                let fd = (try loss(mp, zv) - loss(mm, zv)) / Double(2 * h)
                XCTAssertEqual(Double(dw[k]), fd, accuracy: 1e-4 * max(1, abs(fd)), "\(name) dW[\(k)]")
            }
            prior.bias.grad = nil; prior.weights.grad = nil
        }
    }

    func testLogZGradientIsExactlyTheNegativeSampleMoments() throws {
        for (name, graph) in try graphs() where graph.edgeCount > 0 {
            let (prior, bm) = try makePrior(graph)
            let n = graph.nodeCount, count = 257
            var g = Generator(seed: 3)
            let samples = (0..<(count * n)).map { _ in Float(g.next() >> 63) }
            prior.sampler = FixedSampler(samples: samples, units: n)
            prior.negativeSamples = count
            let lz = try prior.logZ(negativePhase: prior.drawNegativePhase())
            XCTAssertEqual(lz.shape, [])
            if n <= prior.exactUnits {
                XCTAssertEqual(Double(try lz.item()), try ExactSampler.logZ(bm), accuracy: 1e-4, "\(name) enumerated value")
            }
            try lz.backward()
            let set = SampleSet(units: n, samples: samples, energies: [])
            let m = set.means(), em = set.edgeMeans(graph)
            let db = prior.bias.grad!.toArray(), dw = prior.weights.grad!.toArray()
            for l in 0..<n { XCTAssertEqual(Double(db[l]), -m[l], accuracy: 1e-6, "\(name) db") }
            for k in 0..<graph.edgeCount { XCTAssertEqual(Double(dw[k]), -em[k], accuracy: 1e-6, "\(name) dW") }
        }
    }

    func testLogZGradientWithExactSamplerAndPCDMatchExactMoments() throws {
        let graph = try Graph.chimera(m: 1, n: 2, t: 4)   // 16 units
        let (prior, bm) = try makePrior(graph, weightScale: 0.8)
        let exact = try ExactSampler.moments(bm)
        for useExact in [true, false] {
            if useExact { prior.sampler = ExactSampler(); prior.negativeSamples = 20_000 }
            else { prior.sampler = BlockGibbsSampler(sweeps: 10, burnIn: 100); prior.negativeSamples = 1000 }
            let steps = useExact ? 1 : 30
            var sb = [Double](repeating: 0, count: 16), sw = [Double](repeating: 0, count: graph.edgeCount)
            for _ in 0..<steps {
                prior.bias.grad = nil; prior.weights.grad = nil
                try prior.logZ(negativePhase: prior.drawNegativePhase()).backward()
                for (l, v) in prior.bias.grad!.toArray().enumerated() { sb[l] -= Double(v) / Double(steps) }
                for (k, v) in prior.weights.grad!.toArray().enumerated() { sw[k] -= Double(v) / Double(steps) }
            }
            // σ ≤ 0.5/sqrt(20000) = 0.0035 (exact); PCD: 30 × 1000 correlated samples.
            let tol = useExact ? 0.016 : 0.02
            for l in 0..<16 { XCTAssertEqual(sb[l], exact.means[l], accuracy: tol, "means, exact sampler \(useExact)") }
            for k in 0..<graph.edgeCount { XCTAssertEqual(sw[k], exact.edgeMeans[k], accuracy: tol, "edge means, exact sampler \(useExact)") }
        }
    }

    func testBernoulliPriorIsExactWithoutSampling() throws {
        let graph = try Graph.bernoulli(300)
        let (prior, bm) = try makePrior(graph, biasScale: 2)
        prior.sampler = FailingSampler()
        let lz = try prior.logZ()
        XCTAssertEqual(Double(try lz.item()), BoltzmannMachine.softplusSum(bm.bias), accuracy: 1e-3)
        try lz.backward()
        let db = prior.bias.grad!.toArray()
        for l in 0..<300 { XCTAssertEqual(db[l], -1 / (1 + expf(bm.bias[l])), accuracy: 1e-6) }
        XCTAssertEqual(prior.weights.grad?.shape ?? [0], [0])
        XCTAssertEqual(prior.stats["logZ_source"], 0)
        // Optimizers accept the zero-size weights.
        let adam = try Adam(params: prior.parameters(), lr: 0.1)
        try adam.step()
        let est = try prior.estimateLogZ()
        XCTAssertEqual(est.error, 0)
        // Exact samples.
        var g = Generator(seed: 9)
        let s = try prior.sample(4000, generator: &g)
        let m = try s.mean(0).toArray()
        let p = prior.bias.toArray().map { 1 / (1 + expf($0)) }
        for l in 0..<300 { XCTAssertEqual(m[l], p[l], accuracy: 5 * (p[l] * (1 - p[l]) / 4000).squareRoot() + 1e-3) }
    }

    /// Maximum likelihood with the prior's own positive and negative phase
    /// (loss = mean H(data) + log Z, PCD) brings the model close to the
    /// machine that generated the data.
    func testMaximumLikelihoodFitReducesKL() throws {
        let graph = try Graph.chimera(m: 1, n: 2, t: 4)
        var g = Generator(seed: 21)
        let target = try BoltzmannMachine.random(graph: graph, biasScale: 1, weightScale: 1.2, generator: &g)
        let tm = try ExactSampler.moments(target)
        let data = try ExactSampler().sample(target, count: 4000, generator: &g).samples
        let x = try Tensor(data, shape: [4000, 16])
        let prior = try BoltzmannPrior(graph: graph, generator: &g)
        prior.negativeSamples = 500
        func kl() throws -> Double {
            let m = prior.machine
            var eh = 0.0
            for l in 0..<16 { eh += Double(m.bias[l]) * tm.means[l] }
            for k in 0..<graph.edgeCount { eh += Double(m.weights[k]) * tm.edgeMeans[k] }
            return eh - tm.meanEnergy + (try ExactSampler.logZ(m)) - tm.logZ
        }
        let kl0 = try kl()
        let adam = try Adam(params: prior.parameters(), lr: 0.05)
        var lastLoss: Float = 0
        for _ in 0..<250 {
            adam.zeroGrad()
            let loss = try prior.energy(x).mean() + prior.logZ(negativePhase: prior.drawNegativePhase())
            try loss.backward()
            try adam.step()
            try prior.clamp(weights: 4, bias: 4)
            lastLoss = try loss.item()
        }
        let kl1 = try kl()
        // The loss is the exact NLL here (log Z by enumeration).
        XCTAssertEqual(Double(lastLoss), kl1 + tm.meanEnergy + tm.logZ, accuracy: 0.1)
        XCTAssertGreaterThan(kl0, 0.5)
        XCTAssertLessThan(kl1, 0.03, "KL \(kl0) → \(kl1)")
        print("ML fit: KL \(kl0) → \(kl1)")
    }

    func testEstimateLogZMatchesExactAndFeedsLogZValue() throws {
        let graph = try Graph.chimera(m: 1, n: 2, t: 4)
        let (prior, bm) = try makePrior(graph, weightScale: 0.8)
        let exact = try ExactSampler.logZ(bm)
        prior.exactUnits = 0
        // Before any estimate: finite fallback.
        let v0 = try Tensor.noGrad { try prior.logZ().item() }
        XCTAssertTrue(v0.isFinite)
        XCTAssertEqual(prior.stats["logZ_source"], 3)
        var g = Generator(seed: 5)
        let ais = try prior.estimateLogZ(method: .ais(chains: 500, temperatures: 300), generator: &g)
        XCTAssertEqual(ais.logZ, exact, accuracy: 4 * ais.error + 0.02, "\(ais)")
        let pa = try prior.estimateLogZ(method: .pa(replicas: 2000, temperatures: 300, populations: 4), generator: &g)
        XCTAssertEqual(pa.logZ, exact, accuracy: 4 * pa.error + 0.02, "\(pa)")
        let ex = try prior.estimateLogZ(method: .exact, generator: &g)
        XCTAssertEqual(ex.logZ, exact, accuracy: 1e-9)
        XCTAssertEqual(ex.error, 0)
        // logZ() now reports the cached estimate; stale after an update.
        let v1 = try Tensor.noGrad { try prior.logZ().item() }
        XCTAssertEqual(Double(v1), exact, accuracy: 1e-4)
        XCTAssertEqual(prior.stats["logZ_source"], 2)
        XCTAssertEqual(prior.stats["logZ_stale"], 0)
        try Tensor.noGrad { try prior.bias.add_(Tensor(scalar: 0.01)) }
        _ = try Tensor.noGrad { try prior.logZ() }
        XCTAssertEqual(prior.stats["logZ_stale"], 1)
    }

    /// With AIS as the sampler (weighted samples; 3 temperatures, so the
    /// unweighted final states are off by up to 0.05), the negative phase and
    /// `sample(using:)` resample to equal weights and so match the exact
    /// moments (ESS ≈ 15% of the chains).
    func testWeightedSamplerIsResampled() throws {
        let graph = try Graph.chimera(m: 1, n: 2, t: 4)   // 16 units
        let (prior, bm) = try makePrior(graph, weightScale: 1.2)
        let exact = try ExactSampler.moments(bm)
        let ais = AnnealedImportanceSampling(temperatures: 3)
        prior.sampler = ais
        prior.negativeSamples = 100_000
        prior.bias.grad = nil; prior.weights.grad = nil
        try prior.logZ(negativePhase: prior.drawNegativePhase()).backward()
        let tol = 0.025   // ≈ 4σ at n_eff ≈ 7500 after resampling; unweighted states fail it
        for (l, v) in prior.bias.grad!.toArray().enumerated() {
            XCTAssertEqual(-Double(v), exact.means[l], accuracy: tol, "AIS negative phase, unit \(l)")
        }
        for (k, v) in prior.weights.grad!.toArray().enumerated() {
            XCTAssertEqual(-Double(v), exact.edgeMeans[k], accuracy: tol, "AIS negative phase, edge \(k)")
        }
        var g = Generator(seed: 9)
        let m = try prior.sample(100_000, using: ais, generator: &g).mean(0).toArray()
        for l in 0..<16 { XCTAssertEqual(Double(m[l]), exact.means[l], accuracy: tol, "AIS prior.sample, unit \(l)") }
    }

    func testSampleMarginalsMatchExact() throws {
        for graph in [try Graph.chimera(m: 1, n: 2, t: 4), try Graph.fullBipartite(7, 7)] {
            let (prior, bm) = try makePrior(graph, weightScale: 0.5)
            let exact = try ExactSampler.moments(bm)
            prior.sampleSweeps = 200
            var g = Generator(seed: 8)
            let n = 4000
            let s = try prior.sample(n, generator: &g)
            XCTAssertEqual(s.shape, [n, graph.nodeCount])
            let m = try s.mean(0).toArray()
            for l in 0..<graph.nodeCount {
                let p = exact.means[l]
                XCTAssertEqual(Double(m[l]), p, accuracy: 5 * (p * (1 - p) / Double(n)).squareRoot() + 0.005, "\(graph.name) unit \(l)")
            }
        }
    }

    /// Eq. C3 tracking: negative phase from an annealer emulator at β* =
    /// 1.6 (thermal enough on this small graph); iterating the update from
    /// β = 1 converges near β*. And with exact thermal samples at β*.
    func testBetaEffConvergesToSamplerTemperature() throws {
        let graph = try Graph.chimera(m: 1, n: 2, t: 4)
        let (prior, bm) = try makePrior(graph, weightScale: 0.8)
        let betaStar = 1.6
        // Rate ~ 0.5 / Var(H).
        var g = Generator(seed: 31)
        let e = try ExactSampler().sample(bm.scaled(by: Float(betaStar)), count: 4000, generator: &g)
        let hs = try bm.energies(e.samples, batch: 4000).map(Double.init)
        let mean = hs.reduce(0, +) / 4000
        let variance = hs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4000
        let rate = Float(0.5 / variance)
        // (a) explicit updates with exact thermal samples at β*.
        var trace: [Float] = []
        for _ in 0..<40 {
            let hw = try ExactSampler().sample(bm.scaled(by: Float(betaStar)), count: 1000, generator: &g)
            trace.append(try prior.updateBetaEff(hardwareSamples: hw, rate: rate))
        }
        let tail = trace.suffix(15).reduce(0, +) / 15
        XCTAssertEqual(Double(tail), betaStar, accuracy: 0.1, "β_eff trace \(trace)")
        // (b) the automatic path: annealer-emulator negative phase + betaEffRate.
        prior.betaEff = 1
        prior.sampler = AnnealerEmulator(betaEff: betaStar, gauges: 5, annealSweeps: 200)
        prior.betaEffRate = rate
        var trace2: [Float] = []
        for _ in 0..<40 {
            let phase = try prior.drawNegativePhase()
            XCTAssertEqual(phase.betaEff, prior.betaEff)
            trace2.append(prior.betaEff)
        }
        let tail2 = trace2.suffix(15).reduce(0, +) / 15
        XCTAssertEqual(Double(tail2), betaStar, accuracy: 0.15, "β_eff trace \(trace2)")
        XCTAssertNotNil(prior.stats["hw_energy"])
    }

    func testCheckpointRoundTripResumesIdentically() throws {
        let graph = try Graph.chimera(m: 2, n: 2, t: 4)
        let (a, _) = try makePrior(graph, seed: 40)
        a.negativeSamples = 100
        var g = Generator(seed: 41)
        let hw = try BlockGibbsSampler(sweeps: 50).sample(a.machine, count: 200, generator: &g)
        for _ in 0..<3 { try a.logZ(negativePhase: a.drawNegativePhase()).backward(); try a.updateBetaEff(hardwareSamples: hw, rate: 0.01) }
        _ = try a.estimateLogZ(method: .ais(chains: 64, temperatures: 20), generator: &g)
        let saved = a.stateDict().map { ($0.0, $0.1.clone()) }
        XCTAssertEqual(Set(saved.map { $0.0 }), ["bias", "weights", "chains", "chains_valid", "beta_chains",
                                                  "beta_chains_valid", "beta_eff", "logz_cache", "rng"])
        // A different prior (other seed, never run) resumes from the state.
        let (b, _) = try makePrior(graph, seed: 99)
        b.negativeSamples = 100
        try b.loadStateDict(Dictionary(uniqueKeysWithValues: saved))
        XCTAssertEqual(b.betaEff, a.betaEff)
        XCTAssertEqual(b.cachedLogZ?.logZ, a.cachedLogZ?.logZ)
        for _ in 0..<3 {
            for p in [a, b] { p.bias.grad = nil; p.weights.grad = nil }
            let la = try a.logZ(negativePhase: a.drawNegativePhase()), lb = try b.logZ(negativePhase: b.drawNegativePhase())
            XCTAssertEqual(try la.item(), try lb.item())
            try la.backward(); try lb.backward()
            XCTAssertEqual(a.bias.grad!.toArray(), b.bias.grad!.toArray())
            XCTAssertEqual(a.weights.grad!.toArray(), b.weights.grad!.toArray())
            XCTAssertEqual(try a.updateBetaEff(hardwareSamples: hw, rate: 0.01),
                           try b.updateBetaEff(hardwareSamples: hw, rate: 0.01))
        }
        XCTAssertEqual((a.sampler as! BlockGibbsSampler).chainStates!, (b.sampler as! BlockGibbsSampler).chainStates!)
    }

    func testAssembleGroupsOntoUnits() throws {
        let graph = try Graph.chimera(m: 6)
        let prior = try BoltzmannPrior(graph: graph)
        XCTAssertEqual(try prior.groupSizes(), [144, 144])
        var g = Generator(seed: 2)
        let z1 = try Tensor.rand([3, 144], generator: &g).requiringGrad()
        let z2 = try Tensor.rand([3, 144], generator: &g)
        let z = try prior.assemble([z1, z2])
        let sides = try prior.groups()
        for s in 0..<3 {
            for j in 0..<144 {
                XCTAssertEqual(try z.at([s, sides[0][j]]), try z1.at([s, j]))
                XCTAssertEqual(try z.at([s, sides[1][j]]), try z2.at([s, j]))
            }
        }
        let back = try prior.disassemble(z)
        XCTAssertEqual(back[0].toArray(), z1.toArray())
        XCTAssertEqual(back[1].toArray(), z2.toArray())
        try prior.energy(z).sum().backward()
        XCTAssertEqual(z1.grad?.shape, [3, 144])
        // Identity layouts pass through (full RBM sides are 0..<144, 144..<288).
        let full = try BoltzmannPrior(graph: try Graph.fullBipartite(144, 144))
        XCTAssertEqual(try full.assemble([z1, z2]).toArray(), try Tensor.cat([z1, z2], dim: 1).toArray())
        XCTAssertThrowsError(try prior.assemble([z1]))
        XCTAssertThrowsError(try prior.groups("nope"))
    }
}
