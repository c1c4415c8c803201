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
}
