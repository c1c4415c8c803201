import XCTest
@testable import Runtime

/// Finite-difference checks for every differentiable op.
final class GradientTests: XCTestCase {
    func testUnaryOps() throws {
        let x = randn([3, 5], seed: 1)
        try gradcheck("neg", [x]) { $0[0].neg() }
        try gradcheck("exp", [x]) { $0[0].exp() }
        try gradcheck("sigmoid", [randn([3, 5], seed: 2, scale: 3)]) { $0[0].sigmoid() }
        try gradcheck("softplus", [randn([3, 5], seed: 3, scale: 3)]) { $0[0].softplus() }
        try gradcheck("logSigmoid", [randn([3, 5], seed: 4, scale: 3)]) { $0[0].logSigmoid() }
        try gradcheck("tanh", [randn([3, 5], seed: 5)]) { $0[0].tanh() }
        try gradcheck("relu", [awayFromZero([3, 5], seed: 6)]) { $0[0].relu() }
        try gradcheck("abs", [awayFromZero([3, 5], seed: 7)]) { $0[0].abs() }
        try gradcheck("square", [x]) { $0[0].square() }
        try gradcheck("pow3", [x]) { $0[0].pow(3) }
        let pos = uniform([3, 5], seed: 8, 0.5, 3)
        try gradcheck("log", [pos]) { $0[0].log() }
        try gradcheck("log1p", [pos]) { $0[0].log1p() }
        try gradcheck("sqrt", [pos]) { $0[0].sqrt() }
        try gradcheck("pow0.7", [pos]) { $0[0].pow(0.7) }
        try gradcheck("logit", [uniform([3, 5], seed: 9, 0.1, 0.9)]) { $0[0].logit() }
        try gradcheck("clamp", [awayFromZero([4, 5], seed: 10)]) { $0[0].clamp(min: -0.5, max: 0.7) }
        try gradcheck("scalars", [x]) { ((2 * $0[0] + 1) - 3) / 4 }
        try gradcheck("rsub", [x]) { 1 - $0[0] }
        try gradcheck("rdiv", [pos]) { 2 / $0[0] }
    }

    func testBinaryBroadcasting() throws {
        let shapes: [([Int], [Int])] = [([3, 4], [3, 4]), ([3, 4], [4]), ([3, 1], [1, 4]), ([2, 3, 4], [3, 1]), ([3, 4], [])]
        for (i, (sa, sb)) in shapes.enumerated() {
            let a = randn(sa, seed: UInt64(20 + i)), b = randn(sb, seed: UInt64(40 + i))
            let bp = uniform(sb, seed: UInt64(60 + i), 0.5, 2)
            try gradcheck("add \(sa) \(sb)", [a, b]) { try $0[0] + $0[1] }
            try gradcheck("sub \(sa) \(sb)", [a, b]) { try $0[0] - $0[1] }
            try gradcheck("mul \(sa) \(sb)", [a, b]) { try $0[0] * $0[1] }
            try gradcheck("div \(sa) \(sb)", [a, bp]) { try $0[0] / $0[1] }
            try gradcheck("sub reversed \(sa) \(sb)", [b, a]) { try $0[0] - $0[1] }
        }
        let a = randn([3, 4], seed: 80), b = randn([4], seed: 81)
        try gradcheck("maximum", [a, b]) { try $0[0].maximum($0[1]) }
        try gradcheck("minimum", [a, b]) { try $0[0].minimum($0[1]) }
        let cond = try randn([3, 4], seed: 82).gt(0)
        try gradcheck("where", [a, b]) { try Tensor.where(cond, $0[0], $0[1]) }
        try gradcheck("maskedFill", [a]) { try $0[0].maskedFill(cond, 2) }
        let t = uniform([3, 4], seed: 83, 0, 1)
        try gradcheck("bceWithLogits", [randn([3, 4], seed: 84, scale: 3), t]) { try $0[0].bceWithLogits($0[1]) }
    }

    func testViews() throws {
        let x = randn([3, 4], seed: 100)
        let y = randn([4, 3], seed: 101)
        try gradcheck("transpose", [x, y]) { try $0[0].t() * $0[1] }
        try gradcheck("narrow", [x]) { try $0[0].narrow(1, start: 1, length: 2).exp() }
        try gradcheck("expand", [randn([3, 1], seed: 102)]) { try $0[0].expand([2, 3, 4]).sigmoid() }
        try gradcheck("reshape of transpose", [x]) { try $0[0].t().reshape([2, 6]).square() }
        try gradcheck("view", [x]) { try $0[0].view([2, -1]).sigmoid() }
        try gradcheck("permute", [randn([2, 3, 4], seed: 103)]) { try $0[0].permute([2, 0, 1]).contiguous().exp() }
        try gradcheck("unsqueeze/squeeze", [x]) { try $0[0].unsqueeze(1).squeeze().exp() }
        try gradcheck("select", [x]) { try $0[0].select(1, 2).exp() }
        try gradcheck("flatten", [randn([2, 3, 4], seed: 104)]) { try $0[0].flatten(start: 1).sigmoid() }
        try gradcheck("clone", [x]) { $0[0].clone().exp() }
    }

    func testReductions() throws {
        let x = randn([3, 4, 5], seed: 200)
        for d in [0, 1, 2, -1] {
            for keep in [false, true] {
                try gradcheck("sum \(d) \(keep)", [x]) { try $0[0].sum(d, keepdim: keep).square() }
                try gradcheck("mean \(d) \(keep)", [x]) { try $0[0].mean(d, keepdim: keep).square() }
            }
            try gradcheck("var \(d)", [x]) { try $0[0].variance(d) }
            try gradcheck("var biased \(d)", [x]) { try $0[0].variance(d, unbiased: false, keepdim: true) }
            try gradcheck("std \(d)", [x]) { try $0[0].std(d) }
            try gradcheck("max \(d)", [x]) { try $0[0].max(d).values }
            try gradcheck("min \(d)", [x]) { try $0[0].min(d, keepdim: true).values }
            try gradcheck("logsumexp \(d)", [x]) { try $0[0].logsumexp(d) }
            try gradcheck("logSoftmax \(d)", [x]) { try $0[0].logSoftmax(d) }
            try gradcheck("softmax \(d)", [x]) { try $0[0].softmax(d) }
        }
        try gradcheck("sum all", [x]) { try $0[0].sum().square() }
        try gradcheck("sum dims", [x]) { try $0[0].sum(dims: [0, 2]) }
        try gradcheck("mean all", [x]) { try $0[0].mean() }
        try gradcheck("max all", [x]) { try $0[0].max() }
        try gradcheck("var all", [x]) { try $0[0].variance() }
        try gradcheck("sum of transposed", [x]) { try $0[0].transpose(0, 2).sum(1) }
    }

    func testMatmul() throws {
        let a = randn([3, 4], seed: 300), b = randn([4, 5], seed: 301)
        try gradcheck("mm", [a, b]) { try $0[0].mm($0[1]) }
        try gradcheck("mm transposed operands", [randn([4, 3], seed: 302), randn([5, 4], seed: 303)]) { try $0[0].t().mm($0[1].t()) }
        try gradcheck("mm narrowed", [randn([4, 6], seed: 304), b]) { try $0[0].narrow(1, start: 1, length: 4).mm($0[1]) }
        try gradcheck("bmm", [randn([2, 3, 4], seed: 305), randn([2, 4, 5], seed: 306)]) { try $0[0].bmm($0[1]) }
        try gradcheck("matmul 3d x 2d", [randn([2, 3, 4], seed: 307), b]) { try $0[0].matmul($0[1]) }
        try gradcheck("matmul batch broadcast", [randn([2, 1, 3, 4], seed: 308), randn([3, 4, 2], seed: 309)]) { try $0[0].matmul($0[1]) }
        try gradcheck("matmul 1d", [randn([4], seed: 310), b]) { try $0[0].matmul($0[1]) }
        try gradcheck("matmul 2d x 1d", [a, randn([4], seed: 311)]) { try $0[0].matmul($0[1]) }
        try gradcheck("dot", [randn([4], seed: 312), randn([4], seed: 313)]) { try $0[0].matmul($0[1]) }
        let w = randn([5, 4], seed: 314), bias = randn([5], seed: 315)
        try gradcheck("linear", [a, w, bias]) { try Tensor.linear($0[0], $0[1], $0[2]) }
        try gradcheck("linear no bias", [a, w]) { try Tensor.linear($0[0], $0[1]) }
        try gradcheck("linear 3d", [randn([2, 3, 4], seed: 316), w, bias]) { try Tensor.linear($0[0], $0[1], $0[2]) }
    }

    func testConvolutions() throws {
        let x = randn([2, 3, 6, 5], seed: 400)
        try gradcheck("conv2d", [x, randn([4, 3, 3, 3], seed: 401, scale: 0.5), randn([4], seed: 402)]) {
            try Tensor.conv2d($0[0], $0[1], $0[2])
        }
        try gradcheck("conv2d stride 2 pad 1", [x, randn([2, 3, 3, 2], seed: 403, scale: 0.5)]) {
            try Tensor.conv2d($0[0], $0[1], stride: [2], padding: [1])
        }
        try gradcheck("conv2d stride (1,2) pad (2,0)", [x, randn([2, 3, 4, 3], seed: 404, scale: 0.5), randn([2], seed: 405)]) {
            try Tensor.conv2d($0[0], $0[1], $0[2], stride: [1, 2], padding: [2, 0])
        }
        let xt = randn([2, 3, 4, 3], seed: 410)
        try gradcheck("convT", [xt, randn([3, 2, 3, 3], seed: 411, scale: 0.5), randn([2], seed: 412)]) {
            try Tensor.convTranspose2d($0[0], $0[1], $0[2])
        }
        try gradcheck("convT stride 2 pad 1 outpad 1", [xt, randn([3, 2, 3, 3], seed: 413, scale: 0.5), randn([2], seed: 414)]) {
            try Tensor.convTranspose2d($0[0], $0[1], $0[2], stride: [2], padding: [1], outputPadding: [1])
        }
        try gradcheck("convT k4 s1", [xt, randn([3, 1, 4, 4], seed: 415, scale: 0.5)]) {
            try Tensor.convTranspose2d($0[0], $0[1])
        }
    }

    func testIndexing() throws {
        let a = randn([2, 3], seed: 500), b = randn([2, 4], seed: 501), c = randn([1, 3], seed: 502)
        try gradcheck("cat dim 1", [a, b]) { try Tensor.cat([$0[0], $0[1]], dim: 1).exp() }
        try gradcheck("cat dim 0", [a, c]) { try Tensor.cat([$0[0], $0[1]], dim: 0).exp() }
        try gradcheck("stack", [a, randn([2, 3], seed: 503)]) { try Tensor.stack([$0[0], $0[1]], dim: 1).exp() }
        let x = randn([5, 4], seed: 504)
        try gradcheck("split", [x]) { let p = try $0[0].split(2, dim: 0); return try p[0].sum() * p[2].exp().sum() }
        try gradcheck("split sizes", [x]) { let p = try $0[0].split(sizes: [1, 3], dim: 1); return try p[1] * p[0] }
        try gradcheck("chunk", [x]) { let p = try $0[0].chunk(2, dim: 1); return try p[0] * p[1] }
        let idx = Tensor([2, 0, 2, 4])
        try gradcheck("indexSelect", [x]) { try $0[0].indexSelect(0, idx).exp() }
        try gradcheck("indexSelect dim 1", [x]) { try $0[0].indexSelect(1, Tensor([3, 3, 1])).exp() }
        let gi = try Tensor([1, 0, 3, 3, 2, 2, 0, 1, 1, 1], shape: [5, 2])
        try gradcheck("gather", [x]) { try $0[0].gather(1, gi).exp() }
    }

    func testGradcheckDetectsWrongGradients() throws {
        let x = randn([3, 2], seed: 700)
        let msg = try gradMismatch("wrong", [x]) { inp in
            try Tensor.custom(inputs: inp, forward: { $0[0].square() }, backward: { g in [g] })
        }
        XCTAssertNotNil(msg)
        let msg2 = try gradMismatch("slightly wrong", [x]) { inp in
            let xd = inp[0].detach()
            return try Tensor.custom(inputs: inp, forward: { $0[0].square() }, backward: { g in [try g * xd * 2.1] })
        }
        XCTAssertNotNil(msg2)
    }

    func testCustomHook() throws {
        // f(x, y) = x² · y with hand-written gradients.
        let x = randn([3, 2], seed: 600), y = randn([3, 2], seed: 601)
        try gradcheck("custom", [x, y]) { inp in
            let (xd, yd) = (inp[0].detach(), inp[1].detach())
            return try Tensor.custom(name: "x2y", inputs: inp, forward: { try $0[0].square() * $0[1] },
                                     backward: { g in [try g * xd * yd * 2, try g * xd.square()] })
        }
    }
}
