import XCTest
@testable import Runtime

/// The oneDNN convolution path (DNNL.swift) against the native im2col +
/// OpenBLAS path and against finite differences.
final class DNNLConvTests: XCTestCase {
    /// One convolution call: transposed or not, input shape, weight shape,
    /// stride, padding, output padding.
    struct Case {
        let transposed: Bool, x: [Int], w: [Int], s: Int, p: Int, op: Int
        var name: String { "\(transposed ? "convT" : "conv") x\(x) w\(w) s\(s) p\(p) op\(op)" }
    }

    /// Output and the gradients of x, w, b for Σ gy·y, with every pass on `choice`.
    func run(_ c: Case, _ choice: ConvEngineChoice, seed: UInt64) throws -> [[Float]] {
        let x = randn(c.x, seed: seed).requiringGrad(), w = randn(c.w, seed: seed + 1, scale: 0.3).requiringGrad()
        let b = randn([c.transposed ? c.w[1] : c.w[0]], seed: seed + 2).requiringGrad()
        return try ConvEngineChoice.with(choice) {
            let y = c.transposed ? try Tensor.convTranspose2d(x, w, b, stride: [c.s], padding: [c.p], outputPadding: [c.op])
                                 : try Tensor.conv2d(x, w, b, stride: [c.s], padding: [c.p])
            let gy = randn(y.shape, seed: seed + 3)
            try (y * gy).sum().backward()
            return [y.toArray(), x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()]
        }
    }

    /// Whether oneDNN takes every pass of the case (not a silent fallback).
    func dnnlTakes(_ c: Case) -> Bool {
        let n = c.x[0], h = c.x[2], wd = c.x[3], k = c.w[2]
        let cout = c.transposed ? c.w[1] : c.w[0]
        let oh = c.transposed ? (h - 1) * c.s - 2 * c.p + k + c.op : (h + 2 * c.p - k) / c.s + 1
        let ow = c.transposed ? (wd - 1) * c.s - 2 * c.p + c.w[3] + c.op : (wd + 2 * c.p - c.w[3]) / c.s + 1
        return ConvEngineChoice.with(.dnnl) {
            let plan = DNNLConvPlan(transposed: c.transposed, n: n, cin: c.x[1], h: h, w: wd, cout: cout, oh: oh, ow: ow,
                                    kh: k, kw: c.w[3], sh: c.s, sw: c.s, ph: c.p, pw: c.p, bias: true)
            return plan.forward && plan.backwardData && plan.backwardWeights
        }
    }

    /// Relative max-norm closeness: |a − b| ≤ tol · max(1, max |b|), per tensor.
    func assertNear(_ a: [Float], _ b: [Float], tol: Float, _ msg: String) {
        XCTAssertEqual(a.count, b.count, msg)
        let scale = Swift.max(1, b.map { Swift.abs($0) }.max() ?? 0)
        let err = zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(err, tol * scale, "\(msg): max error \(err) at scale \(scale)")
    }

    /// P-conv's layers (batch 3) and odd shapes: stride 2 with padding,
    /// batch 1, non-square images and kernels, output padding.
    static let cases: [Case] = [
        Case(transposed: false, x: [3, 1, 28, 28], w: [32, 1, 4, 4], s: 1, p: 0, op: 0),
        Case(transposed: false, x: [3, 16, 25, 25], w: [64, 16, 3, 3], s: 2, p: 0, op: 0),
        Case(transposed: false, x: [3, 32, 12, 12], w: [64, 32, 4, 4], s: 1, p: 0, op: 0),
        Case(transposed: false, x: [3, 32, 9, 9], w: [128, 32, 3, 3], s: 2, p: 0, op: 0),
        Case(transposed: false, x: [3, 64, 4, 4], w: [256, 64, 4, 4], s: 1, p: 0, op: 0),
        Case(transposed: true, x: [3, 128, 1, 1], w: [128, 128, 4, 4], s: 1, p: 0, op: 0),
        Case(transposed: true, x: [3, 64, 4, 4], w: [64, 64, 3, 3], s: 2, p: 0, op: 0),
        Case(transposed: true, x: [3, 32, 9, 9], w: [32, 64, 4, 4], s: 1, p: 0, op: 0),
        Case(transposed: true, x: [3, 32, 12, 12], w: [32, 32, 3, 3], s: 2, p: 0, op: 0),
        Case(transposed: true, x: [3, 16, 25, 25], w: [16, 2, 4, 4], s: 1, p: 0, op: 0),
        Case(transposed: false, x: [1, 5, 11, 8], w: [7, 5, 3, 2], s: 2, p: 1, op: 0),
        Case(transposed: false, x: [2, 3, 9, 10], w: [4, 3, 5, 3], s: 3, p: 2, op: 0),
        Case(transposed: true, x: [1, 5, 6, 7], w: [5, 3, 3, 2], s: 2, p: 1, op: 1),
        Case(transposed: true, x: [2, 4, 5, 5], w: [4, 6, 4, 4], s: 3, p: 1, op: 0),
    ]

    func testDNNLMatchesNativeOnPConvAndOddShapes() throws {
        for (i, c) in Self.cases.enumerated() {
            XCTAssertTrue(dnnlTakes(c), "\(c.name): oneDNN rejected the shape")
            let seed = UInt64(1000 + 10 * i)
            let native = try run(c, .native, seed: seed), dnnl = try run(c, .dnnl, seed: seed)
            for (j, what) in ["y", "dx", "dW", "db"].enumerated() {
                assertNear(dnnl[j], native[j], tol: 1e-4, "\(c.name) \(what)")
            }
        }
    }

    /// Mixed passes (oneDNN forward, native backward and the reverse) agree
    /// with the all-native path.
    func testMixedPassesMatchNative() throws {
        let mixes = [ConvEngineChoice(forward: true, backwardData: false, backwardWeights: false),
                     ConvEngineChoice(forward: false, backwardData: true, backwardWeights: false),
                     ConvEngineChoice(forward: false, backwardData: false, backwardWeights: true)]
        for c in [Self.cases[2], Self.cases[8], Self.cases[12]] {
            let native = try run(c, .native, seed: 7)
            for m in mixes {
                let got = try run(c, m, seed: 7)
                for (j, what) in ["y", "dx", "dW", "db"].enumerated() { assertNear(got[j], native[j], tol: 1e-4, "\(c.name) \(m) \(what)") }
            }
        }
    }

    func testDNNLGradientsAgainstFiniteDifferences() throws {
        try ConvEngineChoice.with(.dnnl) {
            try gradcheck("dnnl conv2d s2 p1", [randn([2, 3, 7, 6], seed: 201), randn([4, 3, 3, 3], seed: 202, scale: 0.5), randn([4], seed: 203)]) {
                try Tensor.conv2d($0[0], $0[1], $0[2], stride: [2], padding: [1])
            }
            try gradcheck("dnnl conv2d batch 1", [randn([1, 2, 5, 5], seed: 204), randn([3, 2, 2, 3], seed: 205, scale: 0.5)]) {
                try Tensor.conv2d($0[0], $0[1])
            }
            try gradcheck("dnnl convT s2 p1 op1", [randn([2, 3, 4, 3], seed: 206), randn([3, 2, 3, 3], seed: 207, scale: 0.5), randn([2], seed: 208)]) {
                try Tensor.convTranspose2d($0[0], $0[1], $0[2], stride: [2], padding: [1], outputPadding: [1])
            }
            try gradcheck("dnnl convT s1 batch 1", [randn([1, 2, 3, 3], seed: 209), randn([2, 3, 4, 4], seed: 210, scale: 0.5), randn([3], seed: 211)]) {
                try Tensor.convTranspose2d($0[0], $0[1], $0[2])
            }
        }
    }

    /// Two runs give bit-identical outputs and gradients (resumed training
    /// must equal uninterrupted training).
    func testDNNLIsDeterministic() throws {
        for c in [Self.cases[2], Self.cases[7], Self.cases[8]] {
            let a = try run(c, .dnnl, seed: 31), b = try run(c, .dnnl, seed: 31)
            XCTAssertEqual(a, b, "\(c.name): two runs differ")
        }
    }

    /// Output padding beyond the padding (negative right padding for
    /// oneDNN) falls back to the native path, still correct.
    func testUnsupportedShapeFallsBack() throws {
        let c = Case(transposed: true, x: [2, 3, 4, 4], w: [3, 2, 3, 3], s: 2, p: 0, op: 1)
        XCTAssertFalse(dnnlTakes(c))
        let native = try run(c, .native, seed: 50), dnnl = try run(c, .dnnl, seed: 50)
        XCTAssertEqual(native, dnnl)
    }

    func testEngineVariableParsing() {
        XCTAssertNil(ConvEngineChoice.parse("gpu"))
        XCTAssertNil(ConvEngineChoice.parse("dnnl:x"))
        let dw = ConvEngineChoice.parse("dnnl:dw")
        XCTAssertEqual(dw?.forward, false)
        XCTAssertEqual(dw?.backwardData, true)
        XCTAssertEqual(dw?.backwardWeights, true)
        XCTAssertEqual(ConvEngineChoice.parse("native")?.any, false)
    }
}
