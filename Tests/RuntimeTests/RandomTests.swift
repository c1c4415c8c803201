import Foundation
import XCTest
@testable import Runtime

final class RandomTests: XCTestCase {
    func testSameSeedSameStream() {
        var a = Generator(seed: 42), b = Generator(seed: 42)
        for _ in 0..<100 { XCTAssertEqual(a.next(), b.next()) }
    }

    func testUniformMoments() {
        var g = Generator(seed: 1)
        let n = 200_000
        var s = 0.0, s2 = 0.0
        for _ in 0..<n { let u = Double(g.uniform()); XCTAssert(u >= 0 && u < 1); s += u; s2 += u * u }
        let mean = s / Double(n), varc = s2 / Double(n) - mean * mean
        XCTAssertEqual(mean, 0.5, accuracy: 4 * (1.0 / 12 / Double(n)).squareRoot())
        XCTAssertEqual(varc, 1.0 / 12, accuracy: 0.002)
    }

    func testNormalMoments() {
        var g = Generator(seed: 2)
        var buf = [Float](repeating: 0, count: 100_001)
        buf.withUnsafeMutableBufferPointer { g.fillNormal($0) }
        let n = Double(buf.count)
        let mean = buf.reduce(0.0) { $0 + Double($1) } / n
        let varc = buf.reduce(0.0) { $0 + Double($1) * Double($1) } / n - mean * mean
        XCTAssertEqual(mean, 0, accuracy: 4 / n.squareRoot())
        XCTAssertEqual(varc, 1, accuracy: 0.02)
    }

    func testStateRoundTripContinuesTheStream() {
        var g = Generator(seed: 77)
        _ = g.next()
        var restored = Generator(stateString: g.stateString)!
        for _ in 0..<10 { XCTAssertEqual(g.next(), restored.next()) }
        XCTAssertNil(Generator(stateString: "xyz"))
        XCTAssertNil(Generator(state: [0, 0, 0, 0]))
    }

    func testSplitStreamsDiffer() {
        var g = Generator(seed: 3)
        var a = g.split(), b = g.split()
        XCTAssertNotEqual(a.next(), b.next())
    }

    /// The fused hard sample draws the same uniforms as randOpen and gives
    /// Θ(l + σ⁻¹(ρ)) and Σ z·l − softplus(l), with the base replicated.
    func testBernoulliLogitSampleMatchesUnfused() throws {
        var g0 = Generator(seed: 77)
        let base = try Tensor.randn([3, 40], generator: &g0).mul(3)
        let off = try Tensor.randn([6, 40], generator: &g0)
        var g1 = Generator(seed: 5), g2 = Generator(seed: 5)
        let (z, lq) = try Tensor.bernoulliLogitSample(base: base, replicate: 2, offset: off, generator: &g1)
        let rho = try Tensor.randOpen([6, 40], generator: &g2)
        XCTAssertEqual(g1.state, g2.state, "same stream use")
        let b = base.toArray(), o = off.toArray(), u = rho.toArray(), zz = z.toArray(), q = lq.toArray()
        for r in 0..<6 {
            var acc = 0.0
            for k in 0..<40 {
                let l = Double(b[(r / 2) * 40 + k] + o[r * 40 + k])
                let noise = Foundation.log(Double(u[r * 40 + k]) / (1 - Double(u[r * 40 + k])))
                let ref: Float = l + noise > 0 ? 1 : 0
                if Swift.abs(l + noise) > 1e-4 { XCTAssertEqual(zz[r * 40 + k], ref, "row \(r) unit \(k)") }
                let zd = Double(zz[r * 40 + k])
                acc += zd * l - (Swift.max(l, 0) + Foundation.log(1 + Foundation.exp(-Swift.abs(l))))
            }
            XCTAssertEqual(Double(q[r]), acc, accuracy: 1e-3 * Swift.max(1, Swift.abs(acc)))
        }
    }
}
