import XCTest
@testable import Runtime

/// Convolutions against direct (naive) loops in Double.
final class ConvTests: XCTestCase {
    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, s: Int, p: Int) throws -> [Float] {
        let (n, ci, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, k, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let oh = (h + 2 * p - k) / s + 1, ow = (wd + 2 * p - kw) / s + 1
        var out = [Float](repeating: 0, count: n * co * oh * ow)
        for a in 0..<n { for o in 0..<co { for y in 0..<oh { for xx in 0..<ow {
            var acc = Double(try b?.at([o]) ?? 0)
            for c in 0..<ci { for i in 0..<k { for j in 0..<kw {
                let iy = y * s - p + i, ix = xx * s - p + j
                if iy >= 0 && iy < h && ix >= 0 && ix < wd { acc += Double(try x.at([a, c, iy, ix])) * Double(try w.at([o, c, i, j])) }
            } } }
            out[((a * co + o) * oh + y) * ow + xx] = Float(acc)
        } } } }
        return out
    }

    func naiveConvT(_ x: Tensor, _ w: Tensor, _ b: Tensor?, s: Int, p: Int, op: Int) throws -> [Float] {
        let (n, ci, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, k, kw) = (w.shape[1], w.shape[2], w.shape[3])
        let oh = (h - 1) * s - 2 * p + k + op, ow = (wd - 1) * s - 2 * p + kw + op
        var out = [Double](repeating: 0, count: n * co * oh * ow)
        for a in 0..<n { for c in 0..<ci { for y in 0..<h { for xx in 0..<wd {
            let v = Double(try x.at([a, c, y, xx]))
            for o in 0..<co { for i in 0..<k { for j in 0..<kw {
                let oy = y * s - p + i, ox = xx * s - p + j
                if oy >= 0 && oy < oh && ox >= 0 && ox < ow { out[((a * co + o) * oh + oy) * ow + ox] += v * Double(try w.at([c, o, i, j])) }
            } } }
        } } } }
        if let b { for a in 0..<n { for o in 0..<co { for q in 0..<(oh * ow) { out[(a * co + o) * oh * ow + q] += Double(try b.at([o])) } } } }
        return out.map(Float.init)
    }

    func testConv2dMatchesNaive() throws {
        for (s, p, k) in [(1, 0, 4), (2, 1, 3), (1, 2, 3), (3, 0, 2)] {
            let x = randn([3, 2, 9, 8], seed: UInt64(s * 10 + p)), w = randn([5, 2, k, k], seed: 99), b = randn([5], seed: 98)
            let y = try Tensor.conv2d(x, w, b, stride: [s], padding: [p])
            assertClose(y.toArray(), try naiveConv(x, w, b, s: s, p: p), tol: 1e-4, "conv s\(s) p\(p) k\(k)")
        }
        // Non-contiguous input.
        let x = try randn([2, 9, 8, 3], seed: 5).permute([0, 3, 1, 2])
        let w = randn([4, 3, 3, 3], seed: 6)
        assertClose(try Tensor.conv2d(x, w).toArray(), try naiveConv(x, w, nil, s: 1, p: 0), tol: 1e-4, "permuted")
    }

    func testConvTranspose2dMatchesNaive() throws {
        for (s, p, op, k) in [(1, 0, 0, 4), (2, 1, 1, 3), (2, 0, 0, 3), (3, 1, 2, 4)] {
            let x = randn([2, 3, 5, 4], seed: UInt64(s * 10 + p + op)), w = randn([3, 4, k, k], seed: 97), b = randn([4], seed: 96)
            let y = try Tensor.convTranspose2d(x, w, b, stride: [s], padding: [p], outputPadding: [op])
            assertClose(y.toArray(), try naiveConvT(x, w, b, s: s, p: p, op: op), tol: 1e-4, "convT s\(s) p\(p) op\(op)")
        }
    }

    func testOneImagePerGemmPath() throws {
        // ≥ 512 output pixels (ConvGeometry.groupColumns) per image: GEMMs
        // run directly on NCHW buffers.
        let x = randn([3, 2, 25, 25], seed: 30), w = randn([3, 2, 3, 3], seed: 31), b = randn([3], seed: 32)
        assertClose(try Tensor.conv2d(x, w, b).toArray(), try naiveConv(x, w, b, s: 1, p: 0), tol: 1e-4, "conv per image")
        let xt = randn([2, 2, 23, 23], seed: 33), wt = randn([2, 3, 3, 3], seed: 34)
        assertClose(try Tensor.convTranspose2d(xt, wt, b, stride: [2], padding: [1], outputPadding: [1]).toArray(),
                    try naiveConvT(xt, wt, b, s: 2, p: 1, op: 1), tol: 1e-4, "convT per image")
        try gradcheck("conv2d per image", [randn([2, 1, 24, 24], seed: 35), randn([2, 1, 2, 2], seed: 36), randn([2], seed: 37)]) {
            try Tensor.conv2d($0[0], $0[1], $0[2])
        }
        try gradcheck("convT per image", [randn([2, 2, 23, 23], seed: 38), randn([2, 1, 3, 3], seed: 39, scale: 0.5), randn([1], seed: 40)]) {
            try Tensor.convTranspose2d($0[0], $0[1], $0[2], stride: [2], padding: [1])
        }
    }

    func testPaperFirstLayerShapesAndGroups() throws {
        // Large batch exercises image grouping in im2col (several GEMMs).
        let x = randn([40, 16, 14, 14], seed: 7), w = randn([32, 16, 4, 4], seed: 8, scale: 0.1)
        let y = try Tensor.conv2d(x, w, stride: [1], padding: [1])
        XCTAssertEqual(y.shape, [40, 32, 13, 13])
        let ref = try naiveConv(try x.narrow(0, start: 37, length: 3).contiguous(), w, nil, s: 1, p: 1)
        assertClose(try y.narrow(0, start: 37, length: 3).toArray(), ref, tol: 1e-4)
    }

    /// The transposed map by output phases (gather) and by scatter-add, at
    /// the geometries where each is chosen, against the naive loops.
    func testTransposedPathsMatchNaive() throws {
        // (input size, k, s, p, op): 1×1 → 4×4 is one GEMM (the dense form);
        // the rest gather, including phases with no taps (k < s) and output padding.
        for (hw, k, s, p, op) in [(1, 4, 1, 0, 0), (9, 4, 1, 0, 0), (12, 3, 2, 0, 0), (4, 3, 2, 0, 0),
                                  (5, 2, 3, 0, 1), (4, 1, 2, 0, 1), (6, 5, 2, 2, 1), (3, 3, 3, 1, 2)] {
            let x = randn([3, 4, hw, hw], seed: UInt64(hw * 100 + k * 10 + s)), w = randn([4, 5, k, k], seed: 91), b = randn([5], seed: 92)
            let y = try Tensor.convTranspose2d(x, w, b, stride: [s], padding: [p], outputPadding: [op])
            assertClose(y.toArray(), try naiveConvT(x, w, b, s: s, p: p, op: op), tol: 1e-4, "convT \(hw) k\(k) s\(s) p\(p) op\(op)")
        }
        try gradcheck("convT 1x1 -> 4x4 (dense)", [randn([2, 3, 1, 1], seed: 93), randn([3, 2, 4, 4], seed: 94, scale: 0.5), randn([2], seed: 95)]) {
            try Tensor.convTranspose2d($0[0], $0[1], $0[2])
        }
        try gradcheck("convT k2 s3 op1 (phases without taps)", [randn([2, 2, 3, 3], seed: 96), randn([2, 2, 2, 2], seed: 97, scale: 0.5)]) {
            try Tensor.convTranspose2d($0[0], $0[1], stride: [3], outputPadding: [1])
        }
        // conv2d input gradients: 4×4 → 1×1 (dense), k < s (gather with empty phases).
        try gradcheck("conv2d 4x4 -> 1x1", [randn([2, 2, 4, 4], seed: 98), randn([3, 2, 4, 4], seed: 99, scale: 0.5), randn([3], seed: 100)]) {
            try Tensor.conv2d($0[0], $0[1], $0[2])
        }
        try gradcheck("conv2d k2 s3", [randn([2, 2, 8, 7], seed: 101), randn([3, 2, 2, 2], seed: 102, scale: 0.5)]) {
            try Tensor.conv2d($0[0], $0[1], stride: [3])
        }
    }

    /// With two threads the gather form gives each thread a block of
    /// images (single-threaded GEMMs): the same results as one thread, for
    /// convT's forward and conv2d's input gradient, with blocks of unequal size.
    func testGatherFormSplitsImagesAcrossThreads() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        let x = randn([7, 16, 6, 6], seed: 131), w = randn([16, 32, 3, 3], seed: 132, scale: 0.3), b = randn([32], seed: 133)
        XCTAssertTrue(ScatterConv(cs: 16, hs: 6, ws: 6, cd: 32, hd: 13, wd: 13, kh: 3, kw: 3, sh: 2, sw: 2, ph: 0, pw: 0).prefersGather)
        var outs: [[Float]] = [], grads: [[Float]] = []
        for threads in [1, 2] {
            Parallel.threads = threads
            x.requiresGrad = true; x.grad = nil
            let y = try Tensor.convTranspose2d(x, w, b, stride: [2])
            outs.append(y.toArray())
            let xc = randn([7, 32, 13, 13], seed: 134)
            xc.requiresGrad = true
            try (Tensor.conv2d(xc, w, stride: [2]) * randn([7, 16, 6, 6], seed: 135)).sum().backward()
            grads.append(xc.grad!.toArray())
        }
        assertClose(outs[0], try naiveConvT(x, w, b, s: 2, p: 0, op: 0), tol: 1e-4, "convT, 1 thread")
        assertClose(outs[1], outs[0], tol: 1e-5, "convT, 2 threads")
        assertClose(grads[1], grads[0], tol: 1e-5, "conv2d dx, 2 threads")
    }

    /// Kernels that cover the whole input (conv2d to one pixel) or start
    /// from one pixel (convTranspose2d) run as one GEMM: rectangular
    /// kernels, any stride, batch 1, with and without bias, against the
    /// naive loops and finite differences; with padding they take the
    /// general path.
    func testDensePathsMatchNaive() throws {
        for (h, w, s, bias) in [(4, 4, 1, true), (3, 5, 2, false), (1, 1, 3, true), (2, 6, 1, true)] {
            for n in [1, 3] {
                let x = randn([n, 3, h, w], seed: UInt64(h * 10 + w)), wt = randn([4, 3, h, w], seed: 111), b = bias ? randn([4], seed: 112) : nil
                let y = try Tensor.conv2d(x, wt, b, stride: [s])
                XCTAssertEqual(y.shape, [n, 4, 1, 1])
                assertClose(y.toArray(), try naiveConv(x, wt, b, s: s, p: 0), tol: 1e-4, "conv \(h)x\(w) s\(s) n\(n)")
                let xt = randn([n, 3, 1, 1], seed: UInt64(h * 10 + w + 1)), wtt = randn([3, 4, h, w], seed: 113)
                let yt = try Tensor.convTranspose2d(xt, wtt, b, stride: [s])
                XCTAssertEqual(yt.shape, [n, 4, h, w])
                assertClose(yt.toArray(), try naiveConvT(xt, wtt, b, s: s, p: 0, op: 0), tol: 1e-4, "convT \(h)x\(w) s\(s) n\(n)")
            }
        }
        try gradcheck("conv2d 3x5 -> 1x1", [randn([2, 2, 3, 5], seed: 114), randn([3, 2, 3, 5], seed: 115, scale: 0.5), randn([3], seed: 116)]) {
            try Tensor.conv2d($0[0], $0[1], $0[2], stride: [2])
        }
        try gradcheck("convT 1x1 -> 2x3", [randn([3, 2, 1, 1], seed: 117), randn([2, 3, 2, 3], seed: 118, scale: 0.5), randn([3], seed: 119)]) {
            try Tensor.convTranspose2d($0[0], $0[1], $0[2], stride: [2])
        }
        // Padding: not dense, the general path (the padded border is part of the image).
        let x = randn([2, 2, 3, 3], seed: 120), wp = randn([3, 2, 5, 5], seed: 121)
        assertClose(try Tensor.conv2d(x, wp, padding: [1]).toArray(), try naiveConv(x, wp, nil, s: 1, p: 1), tol: 1e-4, "padded")
    }

    /// The unfold's vector row copies (stride 1 and 2, rows of 1–20
    /// outputs, so every branch of `copyRow`: scalar, 4-wide, 8-wide with an
    /// overlapping last vector, even/odd lanes) and col2im's vector adds,
    /// against direct loops, with and without padding.
    func testRowCopiesOfEveryWidth() throws {
        for s in 1...3 { for ow in [1, 3, 4, 5, 7, 8, 9, 12, 16, 17, 20] { for p in [0, 1] {
            let wd = (ow - 1) * s + 3 - 2 * p
            let x = randn([2, 2, 5, wd], seed: UInt64(ow * 10 + s)), w = randn([3, 2, 3, 3], seed: 7, scale: 0.5)
            let y = try Tensor.conv2d(x, w, stride: [s], padding: [p])
            XCTAssertEqual(y.shape[3], ow)
            assertClose(y.toArray(), try naiveConv(x, w, nil, s: s, p: p), tol: 1e-4, "conv s\(s) ow \(ow) p\(p)")
            // convT's backward unfolds its output gradient with the same rows.
            let xt = randn([2, 2, 4, ow], seed: UInt64(ow + 50)), wt = randn([2, 3, 3, 3], seed: 8, scale: 0.5)
            let yt = try Tensor.convTranspose2d(xt, wt, stride: [s], padding: [p])
            assertClose(yt.toArray(), try naiveConvT(xt, wt, nil, s: s, p: p, op: 0), tol: 1e-4, "convT s\(s) w \(ow) p\(p)")
        } } }
        // Gradients (unfold in forward and dW, col2im in dx) at widths ≥ 9.
        try gradcheck("conv2d s2 ow 9", [randn([1, 2, 4, 19], seed: 130), randn([2, 2, 3, 3], seed: 131, scale: 0.5)]) {
            try Tensor.conv2d($0[0], $0[1], stride: [2])
        }
        try gradcheck("conv2d s1 ow 12", [randn([1, 2, 4, 15], seed: 132), randn([2, 2, 2, 4], seed: 133, scale: 0.5)]) {
            try Tensor.conv2d($0[0], $0[1])
        }
        try gradcheck("convT s2 w 10", [randn([1, 2, 3, 10], seed: 134), randn([2, 2, 3, 3], seed: 135, scale: 0.5)]) {
            try Tensor.convTranspose2d($0[0], $0[1], stride: [2])
        }
    }

    /// Several image groups per pass (and the unfolded input kept from the
    /// forward pass): gradients equal the sums over two half batches.
    func testGroupedBackwardMatchesHalves() throws {
        let x = randn([300, 2, 5, 5], seed: 110), w = randn([3, 2, 3, 3], seed: 111, scale: 0.5), b = randn([3], seed: 112)
        let gy = randn([300, 3, 3, 3], seed: 113)
        func grads(_ x: Tensor, _ gy: Tensor) throws -> [[Float]] {
            let xl = x.detach().requiringGrad(), wl = w.detach().requiringGrad(), bl = b.detach().requiringGrad()
            try (Tensor.conv2d(xl, wl, bl) * gy).sum().backward()
            return [xl.grad!.toArray(), wl.grad!.toArray(), bl.grad!.toArray()]
        }
        let full = try grads(x, gy)
        let h1 = try grads(x.narrow(0, start: 0, length: 150).contiguous(), gy.narrow(0, start: 0, length: 150).contiguous())
        let h2 = try grads(x.narrow(0, start: 150, length: 150).contiguous(), gy.narrow(0, start: 150, length: 150).contiguous())
        assertClose(full[0], h1[0] + h2[0], tol: 1e-4, "dx")
        assertClose(full[1], zip(h1[1], h2[1]).map { $0 + $1 }, tol: 1e-3, "dW")
        assertClose(full[2], zip(h1[2], h2[2]).map { $0 + $1 }, tol: 1e-3, "db")
    }

    /// The unfolded input kept for dW survives a first backward (retainGraph).
    func testSecondBackwardWithRetainedGraph() throws {
        let x = randn([2, 3, 7, 7], seed: 120).requiringGrad(), w = randn([4, 3, 4, 4], seed: 121).requiringGrad()
        let y = try Tensor.conv2d(x, w)
        try y.sum().backward(retainGraph: true)
        let gx1 = x.grad!.toArray(), gw1 = w.grad!.toArray()
        try y.sum().backward()
        assertClose(x.grad!.toArray(), gx1.map { 2 * $0 }, tol: 1e-4, "dx twice")
        assertClose(w.grad!.toArray(), gw1.map { 2 * $0 }, tol: 1e-3, "dW twice")
    }
}
