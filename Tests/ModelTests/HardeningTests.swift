import XCTest
@testable import Model
import Runtime

/// Issue 10: parameter validation and bounded readers in Model.
final class ModelHardeningTests: XCTestCase {
    func testBoltzmannParametersMustBeFinite() throws {
        var bm = try BoltzmannMachine(graph: try Graph.fullBipartite(2, 2))
        XCTAssertThrowsError(try bm.setBias([.nan, 0, 0, 0]))
        XCTAssertThrowsError(try bm.setWeights([0, .infinity, 0, 0]))
        XCTAssertThrowsError(try bm.setBias([0, 0]))
        XCTAssertEqual(bm.bias, [0, 0, 0, 0])
        try bm.setBias([1, 2, 3, 4])
        XCTAssertEqual(bm.bias, [1, 2, 3, 4])
    }

    func testGraphLoadIsBounded() {
        XCTAssertThrowsError(try Graph.load(path: "/dev/zero", maxBytes: 1 << 20)) { e in
            XCTAssertTrue("\(e)".contains("larger than"), "\(e)")
        }
    }

    func testCommandOutputLimit() throws {
        XCTAssertEqual(try CommandSampler.outputLimit(units: 4, count: 10), 10 * (4 * 32 + 64) + (1 << 16))
        XCTAssertThrowsError(try CommandSampler.outputLimit(units: 1 << 20, count: 1 << 20))
        XCTAssertThrowsError(try CommandSampler.outputLimit(units: Int.max / 2, count: 3))
    }

    func testImageGridLayoutIsChecked() {
        let path = NSTemporaryDirectory() + "qv-grid-\(getpid()).png"
        defer { unlink(path) }
        XCTAssertThrowsError(try ImageGrid.write(path: path, images: [0, 0, 0, 0], count: 1, rows: 2, cols: 2,
                                                 columns: 1, padding: Int.max / 2))
        XCTAssertThrowsError(try ImageGrid.write(path: path, images: [0, 0, 0, 0], count: 1, rows: 1 << 32, cols: 1 << 32,
                                                 columns: 1))
        XCTAssertNoThrow(try ImageGrid.write(path: path, images: [0, 0, 0, 0], count: 1, rows: 2, cols: 2,
                                             columns: Int.max))
    }

    func testPlotOfHugeValues() throws {
        let path = NSTemporaryDirectory() + "qv-plot-\(getpid()).png"
        defer { unlink(path) }
        let s = LinePlot.Series(name: "a", x: [1, 2, 3], y: [1e308, -1e308, .nan])
        XCTAssertNoThrow(try LinePlot(panels: [.init(title: "t", series: [s])]).write(path: path))
        let s2 = LinePlot.Series(name: "a", x: [-1e308, 1e308], y: [1, 2])
        XCTAssertNoThrow(try LinePlot(panels: [.init(title: "t", series: [s2])]).write(path: path))
    }

    func testIDXRefusesDevicesAndFIFOs() {
        XCTAssertThrowsError(try IDX.read(path: "/dev/zero")) { e in
            XCTAssertTrue("\(e)".contains("not a regular file"), "\(e)")
        }
    }

    func testSampleCountsBeyondMemoryAreErrors() throws {
        let bm = try BoltzmannMachine(graph: try Graph.chimera(m: 16))
        var g = Generator(seed: 1)
        XCTAssertThrowsError(try BlockGibbsSampler(sweeps: 1, burnIn: 0).sample(bm, count: 100_000_000, generator: &g)) { e in
            XCTAssertTrue("\(e)".contains("cannot allocate"), "\(e)")
        }
        let prior = try BoltzmannPrior(graph: try Graph.chimera(m: 16), generator: &g)
        XCTAssertThrowsError(try prior.setNegativeSamples(100_000_000))
        XCTAssertThrowsError(try prior.setNegativeSamples(0))
        try prior.setNegativeSamples(10)
        XCTAssertEqual(prior.negativeSamples, 10)
    }
}
