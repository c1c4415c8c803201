import XCTest
@testable import Runtime

/// The fused gated batch norm (and the byte-mask dropout) against the chain
/// of ops it replaces, bit for bit, and against finite differences.
final class GatedNormTests: XCTestCase {
    /// Everything one run of an op gives: output, gradients, running statistics.
    private struct Run: Equatable {
        var y: [UInt32], gx: [UInt32], gw: [UInt32], gb: [UInt32], rm: [UInt32], rv: [UInt32]
    }

    private func bits(_ t: Tensor?) -> [UInt32] { t.map { $0.toArray().map(\.bitPattern) } ?? [] }

    /// Fails with the first differing element (not two whole arrays).
    private func assertSameBits(_ a: [UInt32], _ b: [UInt32], _ what: String, line: UInt = #line) {
        guard a != b else { return }
        let i = (0..<Swift.min(a.count, b.count)).first { a[$0] != b[$0] } ?? Swift.min(a.count, b.count)
        let show = { (v: [UInt32]) in i < v.count ? "\(Float(bitPattern: v[i]))" : "none" }
        XCTFail("\(what): element \(i) of \(a.count)/\(b.count) differs: \(show(a)) vs \(show(b))", line: line)
    }

    /// Runs `op(x, weight, bias, runningMean, runningVar)` on fresh copies of
    /// seeded inputs and backpropagates Σ w·y for fixed random w.
    private func run(_ shape: [Int], seed: UInt64,
                     _ op: (Tensor, Tensor, Tensor, Tensor, Tensor) throws -> Tensor) throws -> Run {
        let c = shape[1]
        let x = randn(shape, seed: seed, scale: 1.7, shift: 0.4)
        let w = randn([c], seed: seed + 1, shift: 1), b = randn([c], seed: seed + 2)
        let rm = randn([c], seed: seed + 3), rv = try randn([c], seed: seed + 4).abs().add(0.5)
        for t in [x, w, b] { t.requiresGrad = true }
        let y = try op(x, w, b, rm, rv)
        var g = Generator(seed: seed + 5)
        try (y * Tensor.randn(y.shape, generator: &g)).sum().backward()
        return Run(y: bits(y), gx: bits(x.grad), gw: bits(w.grad), gb: bits(b.grad), rm: bits(rm), rv: bits(rv))
    }

    func testFusedEqualsTheChainBitForBit() throws {
        let saved = Tensor.gatedNormUsesAVX512
        defer { Tensor.gatedNormUsesAVX512 = saved }
        // The AVX-512 copy of the C loops (where the CPU has it) and the AVX2 one.
        for wide in saved ? [true, false] : [false] {
            Tensor.gatedNormUsesAVX512 = wide
            try fusedEqualsTheChain()
        }
    }

    private func fusedEqualsTheChain() throws {
        // Spatial sizes with and without a vector tail, 1×1, and rank 2 (l = 1).
        let shapes = [[5, 6, 4, 4], [3, 4, 5, 5], [2, 8, 9, 9], [4, 2, 1, 1], [3, 6, 3, 7], [7, 10], [2, 4, 28, 28], [2, 6, 5, 7]]
        for shape in shapes {
            for training in [true, false] {
                for relu in [true, false] {
                    for p: Float in [0, 0.2] where training || p == 0 {
                        let label = "\(shape) training \(training) relu \(relu) p \(p) AVX-512 \(Tensor.gatedNormUsesAVX512)"
                        let chain = try run(shape, seed: 11) { x, w, b, rm, rv in
                            var h = try Tensor.batchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv,
                                                         training: training).gatedActivation(relu: relu)
                            if p > 0 {
                                var g = Generator(seed: 99)
                                h = try h * Tensor.bernoulli(h.shape, p: 1 - p, generator: &g).mul(1 / (1 - p))
                            }
                            return h
                        }
                        let fused = try run(shape, seed: 11) { x, w, b, rm, rv in
                            var g = Generator(seed: 99)
                            let mask = p > 0 ? try DropoutMask.draw(count: x.count / 2, p: p, generator: &g) : nil
                            return try Tensor.gatedBatchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv,
                                                             training: training, relu: relu, dropout: mask)
                        }
                        assertSameBits(chain.y, fused.y, "output, \(label)")
                        assertSameBits(chain.gx, fused.gx, "dx, \(label)")
                        assertSameBits(chain.gw, fused.gw, "dweight, \(label)")
                        assertSameBits(chain.gb, fused.gb, "dbias, \(label)")
                        assertSameBits(chain.rm, fused.rm, "running mean, \(label)")
                        assertSameBits(chain.rv, fused.rv, "running var, \(label)")
                    }
                }
            }
        }
    }

    func testFusedIsTheSameOnTwoThreads() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var runs: [Run] = []
        for threads in [1, 2] {
            Parallel.threads = threads
            runs.append(try run([40, 16, 12, 12], seed: 3) { x, w, b, rm, rv in
                var g = Generator(seed: 4)
                let mask = try DropoutMask.draw(count: x.count / 2, p: 0.2, generator: &g)
                return try Tensor.gatedBatchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv,
                                                 training: true, dropout: mask)
            })
        }
        for (a, b) in [(runs[0].y, runs[1].y), (runs[0].gx, runs[1].gx), (runs[0].gw, runs[1].gw)] {
            assertSameBits(a, b, "1 vs 2 threads")
        }
    }

    func testFusedGradientsMatchFiniteDifferences() throws {
        for (shape, training, relu) in [([4, 4, 3, 3], true, true), ([3, 6, 2, 5], true, false),
                                        ([3, 4, 3, 3], false, true), ([6, 4], true, true)] {
            let c = shape[1]
            let x = randn(shape, seed: 7, scale: 1.3, shift: 0.2)
            let w = randn([c], seed: 8, shift: 1), b = randn([c], seed: 9)
            let rm = randn([c], seed: 10), rv = try randn([c], seed: 12).abs().add(0.5)
            var g = Generator(seed: 13)
            let mask = training ? try DropoutMask.draw(count: x.count / 2, p: 0.3, generator: &g) : nil
            try gradcheck("gatedBatchNorm \(shape) training \(training) relu \(relu)", [x, w, b], eps: 1e-2, atol: 3e-3, rtol: 2e-2) { t in
                // Running statistics move in training; normalize with copies so every evaluation sees the same ones.
                try Tensor.gatedBatchNorm(t[0], weight: t[1], bias: t[2], runningMean: rm.clone(), runningVar: rv.clone(),
                                          training: training, relu: relu, dropout: mask)
            }
        }
    }

    /// Byte masks are the float masks' draws: the same blocks and streams,
    /// eight blocks at a time in the C kernel's lanes (whole groups of
    /// eight, a remainder, lanes of unequal length) and the rest scalar.
    func testMaskDrawsAreTheFloatMasksDraws() throws {
        let saved = Tensor.gatedNormUsesAVX512
        defer { Tensor.gatedNormUsesAVX512 = saved }
        for wide in saved ? [true, false] : [false] {
            Tensor.gatedNormUsesAVX512 = wide
            for (count, p) in [(0, 0.25), (1, 0.25), (17, 0.2), (16384, 0.25), (50_000, 0.2), (300_001, 0.25),
                               (131_072, 0.5), (131_077, 0.2), (2_000_003, 0.2)] as [(Int, Float)] {
                try maskDrawsAreTheFloatMasksDraws(count: count, p: p)
            }
        }
    }

    private func maskDrawsAreTheFloatMasksDraws(count: Int, p: Float) throws {
        var g1 = Generator(seed: 5), g2 = Generator(seed: 5)
        let mask = try DropoutMask.draw(count: count, p: p, generator: &g1)
        let ref = try Tensor.bernoulli([count], p: 1 - p, generator: &g2).toArray()
        let first = (0..<count).first { Float(mask.kept[$0]) != ref[$0] }
        XCTAssertNil(first, "count \(count), p \(p), AVX-512 \(Tensor.gatedNormUsesAVX512): element \(first ?? -1) differs")
        XCTAssertEqual(g1.next(), g2.next(), "stream after \(count)")
    }

    func testDropoutOpEqualsTheFloatMaskProduct() throws {
        let x = randn([3, 5, 7], seed: 21)
        var g1 = Generator(seed: 22), g2 = Generator(seed: 22)
        let mask = try DropoutMask.draw(count: x.count, p: 0.4, generator: &g1)
        let m = try Tensor.bernoulli(x.shape, p: 0.6, generator: &g2).mul(1 / Float(0.6))
        x.requiresGrad = true
        let w = randn(x.shape, seed: 23)
        let y1 = try x.dropout(mask)
        try (y1 * w).sum().backward()
        let g1x = bits(x.grad); x.grad = nil
        let y2 = try x * m
        try (y2 * w).sum().backward()
        assertSameBits(bits(y1), bits(y2), "output")
        assertSameBits(g1x, bits(x.grad), "dx")
    }

    func testBadInputsAreErrors() throws {
        var g = Generator(seed: 1)
        let mask = try DropoutMask.draw(count: 10, p: 0.5, generator: &g)
        XCTAssertThrowsError(try Tensor.gatedBatchNorm(Tensor.zeros([2, 3, 2, 2]), weight: nil, bias: nil,
                                                       runningMean: nil, runningVar: nil, training: true))
        XCTAssertThrowsError(try Tensor.gatedBatchNorm(randn([2, 4, 2, 2], seed: 1), weight: nil, bias: nil,
                                                       runningMean: nil, runningVar: nil, training: true, dropout: mask))
        XCTAssertThrowsError(try Tensor.gatedBatchNorm(randn([2, 4, 2, 2], seed: 1), weight: nil, bias: nil,
                                                       runningMean: nil, runningVar: nil, training: false))
        XCTAssertThrowsError(try Tensor.gatedBatchNorm(randn([2, 4, 2, 2], seed: 1), weight: Tensor.ones([3]), bias: nil,
                                                       runningMean: nil, runningVar: nil, training: true))
        XCTAssertThrowsError(try randn([3, 3], seed: 2).dropout(mask))
        XCTAssertThrowsError(try DropoutMask.draw(count: 4, p: 1, generator: &g))
        XCTAssertThrowsError(try DropoutMask.draw(count: -1, p: 0.5, generator: &g))
    }
}
