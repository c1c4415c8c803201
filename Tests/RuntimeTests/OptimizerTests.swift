import XCTest
@testable import Runtime

final class OptimizerTests: XCTestCase {
    func testSGDMomentumMatchesFormula() throws {
        let p = try Tensor([1, -2]).requiringGrad()
        let opt = try SGD(params: [p], lr: 0.1, momentum: 0.9, weightDecay: 0.01)
        var ref: [Double] = [1, -2], buf: [Double] = [0, 0]
        for step in 0..<5 {
            opt.zeroGrad()
            try (p * p).sum().backward()   // grad = 2p
            try opt.step()
            for i in 0..<2 {
                let g = 2 * ref[i] + 0.01 * ref[i]
                buf[i] = step == 0 ? g : 0.9 * buf[i] + g
                ref[i] -= 0.1 * buf[i]
            }
        }
        assertClose(p.toArray(), ref.map(Float.init), tol: 1e-5)
    }

    func testAdamMatchesFormulaAndResumesExactly() throws {
        func run(_ steps: Int, resumeAt: Int?) throws -> [Float] {
            let p = try Tensor([0.5, -1.5, 3]).requiringGrad()
            var opt = try Adam(params: [p], lr: 0.01, weightDecay: 0.1)
            for s in 0..<steps {
                if s == resumeAt {
                    let st = opt.state()
                    let copy = Dictionary(uniqueKeysWithValues: st.map { ($0.key, $0.value.clone0()) })
                    opt = try Adam(params: [p], lr: 0.01, weightDecay: 0.1)
                    try opt.loadState(copy)
                }
                opt.zeroGrad()
                try (p * p * p).sum().backward()
                opt.lr = 0.01 / Float(s + 1)   // schedule between steps
                try opt.step()
            }
            return p.toArray()
        }
        let a = try run(6, resumeAt: nil), b = try run(6, resumeAt: 3)
        XCTAssertEqual(a, b)
        // Reference in Double.
        var x: [Double] = [0.5, -1.5, 3], m = [0.0, 0, 0], v = [0.0, 0, 0]
        for s in 1...6 {
            let lr = 0.01 / Double(s)
            for i in 0..<3 {
                let g = 3 * x[i] * x[i] + 0.1 * x[i]
                m[i] = 0.9 * m[i] + 0.1 * g; v[i] = 0.999 * v[i] + 0.001 * g * g
                let mh = m[i] / (1 - Foundationless_pow(0.9, s)), vh = v[i] / (1 - Foundationless_pow(0.999, s))
                x[i] -= lr * mh / (vh.squareRoot() + 1e-8)
            }
        }
        assertClose(a, x.map(Float.init), tol: 1e-5)
    }

    func testClipGradNormAndClamp() throws {
        let a = try Tensor([3, 0]).requiringGrad(), b = try Tensor([0, 4]).requiringGrad()
        try (a * a * 0.5 + b * b * 0.5).sum().backward()
        let norm = try clipGradNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-5)
        XCTAssertEqual(a.grad!.toArray()[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.grad!.toArray()[1], 0.8, accuracy: 1e-5)
        try Tensor.noGrad { try a.clamp_(min: -1, max: 1) }
        XCTAssertEqual(a.toArray(), [1, 0])
    }

    func testAdamTrainsLinearRegression() throws {
        GlobalRandom.seed(3)
        let x = try Tensor.randn([64, 5]), trueW = try Tensor.randn([1, 5])
        let y = try Tensor.linear(x, trueW)
        let w = try Tensor.zeros([1, 5]).requiringGrad(), b = try Tensor.zeros([1]).requiringGrad()
        let opt = try Adam(params: [w, b], lr: 0.05)
        var loss: Float = 0
        for _ in 0..<300 {
            opt.zeroGrad()
            let l = try (Tensor.linear(x, w, b) - y).square().mean()
            try l.backward(); try opt.step()
            loss = try l.item()
        }
        XCTAssertLessThan(loss, 1e-4)
    }
}

func Foundationless_pow(_ a: Double, _ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * a } }
