import XCTest
import Runtime
@testable import Model

final class BoltzmannTests: XCTestCase {
    func randomBM(_ g: Graph, seed: UInt64, w: Float = 1) throws -> BoltzmannMachine {
        var gen = Generator(seed: seed)
        return try BoltzmannMachine.random(graph: g, biasScale: 1, weightScale: w, generator: &gen)
    }

    func randomZ(_ n: Int, batch: Int, seed: UInt64, binary: Bool) -> [Float] {
        var g = Generator(seed: seed)
        return (0..<(n * batch)).map { _ in binary ? Float(g.next() >> 63) : g.uniform() }
    }

    func testEnergyMatchesDenseNaive() throws {
        let bm = try randomBM(try Graph.chimera(m: 2, n: 2, t: 4), seed: 1)
        let n = bm.units
        var dense = [Double](repeating: 0, count: n * n)
        for (k, e) in bm.graph.edges.enumerated() { dense[e.u * n + e.v] = Double(bm.weights[k]) }
        let z = randomZ(n, batch: 50, seed: 2, binary: false)
        let e = try bm.energies(z, batch: 50)
        for s in 0..<50 {
            var ref = 0.0
            for l in 0..<n { ref += Double(bm.bias[l] * z[s * n + l]) }
            for l in 0..<n { for m in (l + 1)..<n { ref += dense[l * n + m] * Double(z[s * n + l] * z[s * n + m]) } }
            XCTAssertEqual(Double(e[s]), ref, accuracy: 1e-4)
        }
        XCTAssertThrowsError(try bm.energies([0, 1], batch: 1))
    }

    func testDerivativesAgainstFiniteDifferences() throws {
        let bm = try randomBM(try Graph.pegasus(m: 2), seed: 3)
        let n = bm.units, batch = 4
        let z = randomZ(n, batch: batch, seed: 4, binary: false)
        let g = try bm.dHdz(z, batch: batch)
        let h: Float = 1e-2   // H is linear in each z_l: central differences are exact up to rounding
        for s in 0..<batch {
            for l in stride(from: 0, to: n, by: 5) {
                var zp = Array(z[(s * n)..<((s + 1) * n)]), zm = zp
                zp[l] += h; zm[l] -= h
                let fd = (try bm.energy(zp) - bm.energy(zm)) / Double(2 * h)
                XCTAssertEqual(Double(g[s * n + l]), fd, accuracy: 1e-3)
            }
        }
        // parameter gradients of mean H
        let (db, dW) = try bm.parameterGradients(z, batch: batch)
        func meanH(_ m: BoltzmannMachine) throws -> Double { try m.energies(z, batch: batch).reduce(0) { $0 + Double($1) } / Double(batch) }
        for l in [0, 7, 20] {
            var p = bm, q = bm
            p.bias[l] += 0.01; q.bias[l] -= 0.01
            XCTAssertEqual(Double(db[l]), (try meanH(p) - meanH(q)) / 0.02, accuracy: 2e-3)
        }
        for k in [0, 11, 100] {
            var p = bm, q = bm
            p.weights[k] += 0.01; q.weights[k] -= 0.01
            XCTAssertEqual(Double(dW[k]), (try meanH(p) - meanH(q)) / 0.02, accuracy: 2e-3)
        }
        // weighted (backward) form
        let c: [Float] = [1, -2, 0.5, 3]
        let (db2, _) = try bm.parameterGradients(z, batch: batch, scale: c)
        var ref = 0.0
        for s in 0..<batch { ref += Double(c[s] * z[s * n + 3]) }
        XCTAssertEqual(Double(db2[3]), ref, accuracy: 1e-5)
    }

    func testConditionalProbabilities() throws {
        let bm = try randomBM(try Graph.complete(8), seed: 5)
        let z = randomZ(8, batch: 3, seed: 6, binary: true)
        let p = try bm.conditionalProbabilities(z, batch: 3)
        for s in 0..<3 {
            for l in 0..<8 {
                var on = Array(z[(s * 8)..<((s + 1) * 8)]), off = on
                on[l] = 1; off[l] = 0
                let ref = 1 / (1 + exp(try bm.energy(on) - bm.energy(off)))
                XCTAssertEqual(Double(p[s * 8 + l]), ref, accuracy: 1e-5)
            }
        }
    }

    func testIsingRoundTrip() throws {
        let bm = try randomBM(try Graph.chimera(m: 2, n: 2, t: 4), seed: 7)
        let ising = bm.toIsing()
        let n = bm.units
        let z = randomZ(n, batch: 20, seed: 8, binary: true)
        let s = z.map { 2 * $0 - 1 }
        let e = try ising.energies(spins: s, batch: 20)
        for b in 0..<20 {
            XCTAssertEqual(e[b], try bm.energy(Array(z[(b * n)..<((b + 1) * n)])), accuracy: 1e-4)
        }
        let back = try BoltzmannMachine(ising: ising)
        for l in 0..<n { XCTAssertEqual(back.bias[l], bm.bias[l], accuracy: 1e-5) }
        XCTAssertEqual(back.weights, bm.weights)
        // gauge: energies of s under the gauged problem equal those of g ⊙ s under the original
        var gen = Generator(seed: 9)
        let g: [Float] = (0..<n).map { _ in gen.next() >> 63 == 0 ? -1 : 1 }
        let gi = try ising.gauged(g)
        let sg = (0..<(20 * n)).map { s[$0] * g[$0 % n] }
        let eg = try gi.energies(spins: sg, batch: 20)
        for b in 0..<20 { XCTAssertEqual(eg[b], e[b], accuracy: 1e-4) }
    }

    func testClampScaleAndBernoulliLogZ() throws {
        var bm = try randomBM(try Graph.chimera(m: 1, n: 2, t: 4), seed: 10, w: 3)
        bm.clamp(bias: -0.5...0.5, weights: -1...1)
        XCTAssertTrue(bm.bias.allSatisfy { abs($0) <= 0.5 })
        XCTAssertTrue(bm.weights.allSatisfy { abs($0) <= 1 })
        XCTAssertNil(bm.exactLogZIfUncoupled)
        let free = try BoltzmannMachine(graph: try Graph.bernoulli(12), bias: (0..<12).map { Float($0) - 6 })
        XCTAssertEqual(free.exactLogZIfUncoupled!, try ExactSampler.logZ(free), accuracy: 1e-9)
        XCTAssertThrowsError(try BoltzmannMachine(graph: try Graph.bernoulli(3), bias: [0, 0]))
        XCTAssertThrowsError(try BoltzmannMachine(graph: try Graph.bernoulli(2), bias: [0, .nan]))
    }
}
