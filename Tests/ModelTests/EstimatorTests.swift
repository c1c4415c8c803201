import XCTest
import Runtime
@testable import Model

final class EstimatorTests: XCTestCase {
    /// AIS (1000 chains × 1000 β, both paths) and PA (4 × 1000 replicas ×
    /// 500 β) vs exact log Z: |est − exact| < 4 × reported standard error,
    /// and the error bars are informative (< 0.05 nats).
    func testLogZMatchesExact() throws {
        for (name, bm) in try Instances.all() {
            let exact = try ExactSampler.logZ(bm)
            for path in [AnnealingPath.couplings, .full] {
                var g = Generator(seed: 600)
                let a = try AnnealedImportanceSampling(temperatures: 1000, path: path).estimateLogZ(bm, chains: 1000, generator: &g)
                print("AIS \(name) \(path): \(a) exact \(exact) (ess \(a.stats["ess"]!))")
                XCTAssertLessThan(abs(a.logZ - exact), 4 * a.error + 1e-6, "AIS \(name) \(path)")
                XCTAssertLessThan(a.error, 0.05)
            }
            var g = Generator(seed: 601)
            let p = try PopulationAnnealing(temperatures: 500).estimateLogZ(bm, replicas: 4000, generator: &g)
            print("PA \(name): \(p) exact \(exact)")
            XCTAssertLessThan(abs(p.logZ - exact), 4 * p.error + 1e-6, "PA \(name)")
            XCTAssertLessThan(p.error, 0.05)
        }
    }

    func testBernoulliClosedForm() throws {
        var g = Generator(seed: 602)
        let bm = try BoltzmannMachine.random(graph: try Graph.bernoulli(288), biasScale: 2, weightScale: 0, generator: &g)
        let exact = BoltzmannMachine.softplusSum(bm.bias)
        let a = try AnnealedImportanceSampling().estimateLogZ(bm, generator: &g)
        XCTAssertEqual(a.logZ, exact); XCTAssertEqual(a.error, 0)
        // the full path (uniform base) has to estimate it
        let f = try AnnealedImportanceSampling(temperatures: 200, path: .full).run(bm, chains: 500, generator: &g).estimate
        XCTAssertLessThan(abs(f.logZ - exact), 4 * f.error + 1e-6)
        // a 12-unit check of the closed form against enumeration
        let small = try BoltzmannMachine(graph: try Graph.chimera(m: 1, n: 1, t: 6), bias: (0..<12).map { Float($0) / 3 - 2 })
        XCTAssertEqual(small.exactLogZIfUncoupled!, try ExactSampler.logZ(small), accuracy: 1e-9)
    }

    /// Chimera C(6,6,4), b ~ N(0, 0.5²), W ~ N(0, 0.5²): AIS (2000 chains ×
    /// 2000 β) and PA (4 × 1000 replicas × 1000 β) agree within
    /// 4 sqrt(σ_AIS² + σ_PA²).
    func testChimera288AISAgreesWithPA() throws {
        var g = Generator(seed: 700)
        let bm = try BoltzmannMachine.random(graph: try Graph.chimera(m: 6), biasScale: 0.5, weightScale: 0.5, generator: &g)
        let a = try AnnealedImportanceSampling(temperatures: 2000).estimateLogZ(bm, chains: 2000, generator: &g)
        let p = try PopulationAnnealing(temperatures: 1000).estimateLogZ(bm, replicas: 4000, generator: &g)
        print("Chimera-288: AIS \(a), PA \(p)")
        let tol = 4 * (a.error * a.error + p.error * p.error).squareRoot()
        XCTAssertLessThan(abs(a.logZ - p.logZ), tol)
        XCTAssertLessThan(tol, 0.5)
    }

    func testErrorsOnBadInput() throws {
        let bm = try Instances.chimera()
        var g = Generator(seed: 1)
        XCTAssertThrowsError(try AnnealedImportanceSampling(temperatures: 0).run(bm, chains: 10, generator: &g))
        XCTAssertThrowsError(try PopulationAnnealing(populations: 4).sample(bm, count: 3, generator: &g))
        XCTAssertThrowsError(try PopulationAnnealing(essThreshold: 2).sample(bm, count: 30, generator: &g))
    }
}
