import XCTest
import Runtime
@testable import Model

/// Small random machines (12–20 units) on the graph families of the paper.
enum Instances {
    /// Chimera C(1,2,4): 16 units, 36 couplers.
    static func chimera(seed: UInt64 = 11) throws -> BoltzmannMachine {
        var g = Generator(seed: seed)
        return try BoltzmannMachine.random(graph: try Graph.chimera(m: 1, n: 2, t: 4), biasScale: 0.7, weightScale: 1.0, generator: &g)
    }
    /// An 18-node connected piece of Pegasus P(2) (BFS from node 0, induced).
    static func pegasus(seed: UInt64 = 12) throws -> BoltzmannMachine {
        let p = try Graph.pegasus(m: 2)
        var order: [Int] = [], queue = [0], seen: Set<Int> = [0]
        while !queue.isEmpty && order.count < 18 {
            let l = queue.removeFirst()
            order.append(l)
            for m in p.neighbors(of: l) where !seen.contains(m) { seen.insert(m); queue.append(m) }
        }
        var g = Generator(seed: seed)
        return try BoltzmannMachine.random(graph: try p.induced(nodes: order), biasScale: 0.7, weightScale: 0.8, generator: &g)
    }
    /// Fully connected, 14 units.
    static func dense(seed: UInt64 = 13) throws -> BoltzmannMachine {
        var g = Generator(seed: seed)
        return try BoltzmannMachine.random(graph: try Graph.complete(14), biasScale: 0.7, weightScale: 0.5, generator: &g)
    }
    /// Full bipartite RBM 8 × 8.
    static func rbm(seed: UInt64 = 14) throws -> BoltzmannMachine {
        var g = Generator(seed: seed)
        return try BoltzmannMachine.random(graph: try Graph.fullBipartite(8, 8), biasScale: 0.7, weightScale: 0.6, generator: &g)
    }
    static func all() throws -> [(String, BoltzmannMachine)] {
        [("chimera16", try chimera()), ("pegasus18", try pegasus()), ("dense14", try dense()), ("rbm16", try rbm())]
    }
}

/// Checks single-unit marginals ⟨z_l⟩ and all pairwise ⟨z_l z_m⟩ against
/// exact enumeration: |p̂ − p| < k σ, σ = sqrt((p(1−p) + 1/n) / n_eff).
func assertMoments(_ set: SampleSet, _ exact: ExactMoments, nEff: Double, k: Double = 5,
                   _ label: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
    let n = set.units
    let pm = set.pairMeans()
    var worst = 0.0
    for a in 0..<n {
        for b in a..<n {
            let p = exact.pairMeans[a * n + b], q = pm[a * n + b]
            let sigma = ((p * (1 - p) + 1 / Double(set.count)) / nEff).squareRoot()
            worst = max(worst, abs(q - p) / sigma)
            if abs(q - p) > k * sigma {
                XCTFail("\(label): ⟨z\(a) z\(b)⟩ = \(q), exact \(p), |Δ| = \(abs(q - p)) > \(k)σ (σ = \(sigma))", file: file, line: line)
                return worst
            }
        }
    }
    return worst
}

final class SamplerTests: XCTestCase {
    func testExactEnumerationAgainstBruteForce() throws {
        let bm = try Instances.pegasus()
        let m = try ExactSampler.moments(bm)
        // brute force in Double without the Gray code
        let n = bm.units
        var z = 0.0, m0 = 0.0
        for s in 0..<(1 << n) {
            let v = (0..<n).map { Float((s >> $0) & 1) }
            let p = exp(-(try bm.energy(v)))
            z += p; m0 += p * Double(v[0])
        }
        XCTAssertEqual(m.logZ, log(z), accuracy: 1e-9)
        XCTAssertEqual(m.means[0], m0 / z, accuracy: 1e-9)
        for (k, e) in bm.graph.edges.enumerated() { XCTAssertEqual(m.edgeMeans[k], m.pairMeans[e.u * n + e.v], accuracy: 1e-12) }
        XCTAssertThrowsError(try ExactSampler.moments(try BoltzmannMachine(graph: try Graph.bernoulli(25))))
    }

    func testExactSampler() throws {
        let bm = try Instances.chimera()
        var g = Generator(seed: 100)
        let s = try ExactSampler().sample(bm, count: 20000, generator: &g)
        let worst = assertMoments(s, try ExactSampler.moments(bm), nEff: 20000, "exact sampler")
        print("exact sampler: worst deviation \(worst)σ")
        XCTAssertThrowsError(try ExactSampler().sample(bm, count: 0, generator: &g))
    }

    /// 20000 independent chains, 300 sweeps each (only final states are used,
    /// so samples are independent: n_eff = 20000).
    func testBlockGibbsMatchesExact() throws {
        for (name, bm) in try Instances.all() {
            var g = Generator(seed: 200)
            let sampler = BlockGibbsSampler(sweeps: 100, burnIn: 200)
            let s = try sampler.sample(bm, count: 20000, generator: &g)
            XCTAssertEqual(s.stats["sweeps"], 300)
            let exact = try ExactSampler.moments(bm)
            let worst = assertMoments(s, exact, nEff: 20000, "Gibbs \(name)")
            // persistent chains: a second call continues (100 more sweeps), still exact
            let s2 = try sampler.sample(bm, count: 20000, generator: &g)
            XCTAssertEqual(s2.stats["sweeps"], 100)
            let worst2 = assertMoments(s2, exact, nEff: 20000, "Gibbs (PCD, 2nd call) \(name)")
            // energies returned are H of the samples
            let e = try bm.energies(s2.samples, batch: 20000)
            for i in stride(from: 0, to: 20000, by: 197) { XCTAssertEqual(e[i], s2.energies[i], accuracy: 1e-4) }
            print("Gibbs \(name): worst deviation \(worst)σ, \(worst2)σ")
        }
    }

    /// Every kernel variant the CPU supports (generic, AVX2, AVX-512) samples
    /// correctly (Gibbs and Metropolis modes, n_eff = 20000).
    func testKernelVariants() throws {
        let bm = try Instances.dense()
        let exact = try ExactSampler.moments(bm)
        defer { SamplerInfo.limitKernelLevel(nil) }
        for level in 0...2 {
            SamplerInfo.limitKernelLevel(level)
            let name = SamplerInfo.kernelLevel
            var g = Generator(seed: 250)
            let s = try BlockGibbsSampler(sweeps: 100, burnIn: 100).sample(bm, count: 20000, generator: &g)
            _ = assertMoments(s, exact, nEff: 20000, "Gibbs kernel \(name)")
            let sched = [Double](repeating: 1, count: 200)
            let m = try SimulatedAnnealing(schedule: sched).sample(bm, count: 20000, generator: &g)
            _ = assertMoments(m, exact, nEff: 20000, "Metropolis kernel \(name)")
            print("kernel \(name) checked")
        }
    }

    /// The dense bipartite kernel (used for dense RBMs) samples the same
    /// distribution as enumeration: a 7 × 9 RBM (sides not multiples of 8)
    /// with interleaved sides and 80% of the couplers, at β = 1 and β = 0.7,
    /// on every kernel variant; energies are H of the samples; results do not
    /// depend on the thread count. The sparse kernel runs the same chain.
    func testDenseBipartiteGibbsMatchesExact() throws {
        var g = Generator(seed: 300)
        let a = (0..<7).map { 2 * $0 }, b = (0..<7).map { 2 * $0 + 1 } + [14, 15]
        var edges: [(Int, Int)] = []
        for u in a { for v in b where g.next() % 5 != 0 { edges.append((u, v)) } }
        let graph = try Graph(nodeCount: 16, edges: edges, independentSets: [a, b])
        let bm = try BoltzmannMachine.random(graph: graph, biasScale: 0.7, weightScale: 0.8, generator: &g)
        let saved = BlockGibbsSampler.denseThreshold
        defer { BlockGibbsSampler.denseThreshold = saved; SamplerInfo.limitKernelLevel(nil) }
        BlockGibbsSampler.denseThreshold = 0.5
        XCTAssertNotNil(DenseBipartiteSweeps(bm, threshold: 0.5))
        XCTAssertNil(DenseBipartiteSweeps(bm, threshold: 0.9))
        XCTAssertNil(DenseBipartiteSweeps(try Instances.dense(), threshold: 0), "complete graphs have no two-set blocks")
        let exact = try ExactSampler.moments(bm)
        for level in 0...2 {
            SamplerInfo.limitKernelLevel(level)
            var gg = Generator(seed: 301)
            let sampler = BlockGibbsSampler(sweeps: 100, burnIn: 100)
            let s = try sampler.sample(bm, count: 20000, generator: &gg)
            XCTAssertEqual(s.stats["dense"], 1)
            let worst = assertMoments(s, exact, nEff: 20000, "dense Gibbs \(SamplerInfo.kernelLevel)")
            let e = try bm.energies(s.samples, batch: 20000)
            for i in stride(from: 0, to: 20000, by: 197) { XCTAssertEqual(e[i], s.energies[i], accuracy: 1e-4) }
            print("dense Gibbs \(SamplerInfo.kernelLevel): worst deviation \(worst)σ")
        }
        SamplerInfo.limitKernelLevel(nil)
        var g2 = Generator(seed: 302)
        let hot = try BlockGibbsSampler(sweeps: 100, burnIn: 100, beta: 0.7).sample(bm, count: 20000, generator: &g2)
        _ = assertMoments(hot, try ExactSampler.moments(bm.scaled(by: 0.7)), nEff: 20000, "dense Gibbs β = 0.7")
        // the sparse kernel on the same machine
        BlockGibbsSampler.denseThreshold = 2
        let sp = try BlockGibbsSampler(sweeps: 100, burnIn: 100).sample(bm, count: 20000, generator: &g2)
        XCTAssertEqual(sp.stats["dense"], 0)
        _ = assertMoments(sp, exact, nEff: 20000, "sparse Gibbs on the dense test RBM")
        // thread-count independence
        BlockGibbsSampler.denseThreshold = 0
        var g3 = Generator(seed: 5), g4 = Generator(seed: 5)
        let x = try BlockGibbsSampler(sweeps: 5).sample(bm, count: 100, generator: &g3)
        let threads = Parallel.threads
        Parallel.threads = 1
        let y = try BlockGibbsSampler(sweeps: 5).sample(bm, count: 100, generator: &g4)
        Parallel.threads = threads
        XCTAssertEqual(x.samples, y.samples, "results must not depend on the thread count")
    }

    func testGibbsDeterministicAndErrors() throws {
        let bm = try Instances.chimera()
        var g1 = Generator(seed: 5), g2 = Generator(seed: 5)
        let a = try BlockGibbsSampler(sweeps: 5).sample(bm, count: 100, generator: &g1)
        let b = try BlockGibbsSampler(sweeps: 5).sample(bm, count: 100, generator: &g2)
        XCTAssertEqual(a.samples, b.samples)
        let saved = Parallel.threads
        Parallel.threads = 1
        var g3 = Generator(seed: 5)
        let c = try BlockGibbsSampler(sweeps: 5).sample(bm, count: 100, generator: &g3)
        Parallel.threads = saved
        XCTAssertEqual(a.samples, c.samples, "results must not depend on the thread count")
        XCTAssertThrowsError(try BlockGibbsSampler().sample(bm, count: 0, generator: &g1))
        XCTAssertThrowsError(try BlockGibbsSampler(sweeps: -1).sample(bm, count: 10, generator: &g1))
        let pcd = BlockGibbsSampler(sweeps: 1)
        XCTAssertThrowsError(try pcd.setChains([0, 1, 2], units: 3))
    }

    /// SA on the Ising form with a schedule that ends with 300 sweeps at
    /// β = 1 samples the machine's Boltzmann distribution (n_eff = 20000).
    func testSimulatedAnnealingMatchesExactAtBetaOne() throws {
        for (name, bm) in try Instances.all() {
            var g = Generator(seed: 300)
            let sched = (0..<100).map { 0.1 + 0.9 * Double($0) / 99 } + [Double](repeating: 1, count: 300)
            let s = try SimulatedAnnealing(schedule: sched).sample(bm, count: 20000, generator: &g)
            let worst = assertMoments(s, try ExactSampler.moments(bm), nEff: 20000, "SA \(name)")
            let e = try bm.energies(s.samples, batch: 20000)
            for i in stride(from: 0, to: 20000, by: 197) { XCTAssertEqual(e[i], s.energies[i], accuracy: 1e-3) }
            print("SA \(name): worst deviation \(worst)σ")
        }
    }

    func testSimulatedAnnealingFindsGroundState() throws {
        let bm = try Instances.pegasus()
        var g = Generator(seed: 301)
        let s = try SimulatedAnnealing(sweeps: 1000).sample(bm, count: 64, generator: &g)
        let emin = try ExactSampler.moments(bm, pairs: false).minEnergy
        XCTAssertEqual(Double(s.energies.min()!), emin, accuracy: 1e-3)
        XCTAssertGreaterThan(s.stats["beta_cold"]!, s.stats["beta_hot"]!)
    }

    /// Emulator without noise, 5 gauges, 100-sweep ramp to β_eff and a
    /// 200-sweep pause: samples exp(−β_eff H) (n_eff = 20000).
    func testAnnealerEmulatorMatchesExact() throws {
        for (name, bm) in try Instances.all() {
            var g = Generator(seed: 400)
            let em = AnnealerEmulator(betaEff: 1, gauges: 5, annealSweeps: 100, pauseSweeps: 200)
            let s = try em.sample(bm, count: 20000, generator: &g)
            let worst = assertMoments(s, try ExactSampler.moments(bm), nEff: 20000, "emulator \(name)")
            print("emulator \(name): worst deviation \(worst)σ")
        }
        // β_eff = 0.5 samples the machine scaled by 0.5
        let bm = try Instances.chimera()
        var g = Generator(seed: 401)
        let s = try AnnealerEmulator(betaEff: 0.5, gauges: 4, annealSweeps: 50, pauseSweeps: 200)
            .sample(bm, count: 20000, generator: &g)
        let worst = assertMoments(s, try ExactSampler.moments(bm.scaled(by: 0.5)), nEff: 20000, "emulator β_eff=0.5")
        print("emulator β_eff = 0.5: worst deviation \(worst)σ")
    }

    func testAnnealerEmulatorNoiseAndErrors() throws {
        let bm = try Instances.chimera()
        var g = Generator(seed: 402)
        let clean = try AnnealerEmulator(annealSweeps: 50, pauseSweeps: 50).sample(bm, count: 2000, generator: &g)
        let noisy = try AnnealerEmulator(hNoise: 1.0, jNoise: 0.5, annealSweeps: 50, pauseSweeps: 50).sample(bm, count: 2000, generator: &g)
        let d = zip(clean.means(), noisy.means()).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(d, 0.05, "strong control noise should move the marginals")
        XCTAssertThrowsError(try AnnealerEmulator(gauges: 5).sample(bm, count: 3, generator: &g))
        XCTAssertThrowsError(try AnnealerEmulator(freezeOut: 0).sample(bm, count: 10, generator: &g))
        XCTAssertThrowsError(try AnnealerEmulator(hNoise: -1).sample(bm, count: 10, generator: &g))
        let sched = try AnnealerEmulator(betaEff: 2, annealSweeps: 100, freezeOut: 0.5, pauseSweeps: 10).schedule()
        XCTAssertEqual(sched.count, 60)
        XCTAssertEqual(sched[49], 2); XCTAssertEqual(sched.last, 2)
    }

    /// PA's final population (4 populations × 5000 replicas, 200 β steps,
    /// 2 sweeps per step). Resampling correlates replicas: n_eff = n / 4.
    func testPopulationAnnealingSamplesMatchExact() throws {
        for (name, bm) in try Instances.all() {
            var g = Generator(seed: 500)
            let pa = PopulationAnnealing(temperatures: 200, sweepsPerStep: 2, populations: 4)
            let s = try pa.sample(bm, count: 20000, generator: &g)
            let worst = assertMoments(s, try ExactSampler.moments(bm), nEff: 5000, "PA \(name)")
            print("PA \(name): worst deviation \(worst)σ (n_eff = n/4)")
        }
    }
}
