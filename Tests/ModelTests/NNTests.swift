import XCTest
@testable import Model
import Runtime
import TestSupport
import Foundation

/// The first mismatch between autograd and central differences for
/// L = Σ w·f(inputs) (TestSupport's `gradientMismatch`), checking at most
/// `maxElements` elements of each input.
func nnGradMismatch(_ inputs: [Tensor], eps: Float = 1e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
                    maxElements: Int = 10_000, _ f: () throws -> Tensor) throws -> String? {
    try gradientMismatch(inputs, eps: eps, atol: atol, rtol: rtol, maxElements: maxElements, f)
}

func seededRandn(_ shape: [Int], seed: UInt64, scale: Float = 1, shift: Float = 0) -> Tensor {
    var g = Generator(seed: seed)
    return try! Tensor.randn(shape, generator: &g).mul(scale).add(shift)
}

final class NNTests: XCTestCase {
    func testLayerShapesAndNames() throws {
        var g = Generator(seed: 1)
        let lin = try Linear(5, 7, generator: &g)
        XCTAssertEqual(try lin(seededRandn([3, 5], seed: 2)).shape, [3, 7])
        // PyTorch's bound 1/√in.
        XCTAssertLessThanOrEqual(try lin.weight.abs().max().item(), 1 / Float(5).squareRoot())
        let conv = try Conv2d(3, 8, kernel: 3, stride: 2, padding: 1, generator: &g)
        XCTAssertEqual(try conv(seededRandn([2, 3, 9, 9], seed: 3)).shape, [2, 8, 5, 5])
        XCTAssertEqual(conv.outputSize(9), 5)
        let deconv = try ConvTranspose2d(8, 4, kernel: 3, stride: 2, padding: 1, outputPadding: 1, generator: &g)
        XCTAssertEqual(try deconv(seededRandn([2, 8, 5, 5], seed: 4)).shape, [2, 4, 10, 10])
        XCTAssertEqual(deconv.weight.shape, [8, 4, 3, 3])
        let seq = Sequential([try Linear(4, 6, generator: &g), ReLU(), try Linear(6, 2, generator: &g), Sigmoid()])
        XCTAssertEqual(seq.namedParameters().map(\.0), ["0.weight", "0.bias", "2.weight", "2.bias"])
        let y = try seq(seededRandn([5, 4], seed: 5))
        XCTAssertEqual(y.shape, [5, 2])
        XCTAssertTrue(y.toArray().allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertEqual(try Tanh()(Tensor([0, 100])).toArray(), [0, 1])
        let gc = try GatedConv(1, 16, kernel: 4, generator: &g)
        XCTAssertEqual(try gc(seededRandn([2, 1, 28, 28], seed: 6)).shape, [2, 16, 25, 25])
        XCTAssertEqual(gc.namedParameters().map(\.0), ["conv.weight", "conv.bias", "bn.weight", "bn.bias"])
        XCTAssertEqual(gc.namedBuffers().map(\.0), ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"])
        let gt = try GatedConvTranspose(32, 16, kernel: 3, stride: 2, generator: &g)
        XCTAssertEqual(try gt(seededRandn([2, 32, 12, 12], seed: 7)).shape, [2, 16, 25, 25])
    }

    func testPaperConvNetworkShapes() throws {
        var g = Generator(seed: 11)
        let prior = try ExactPrior(graph: Graph.bernoulli(288), generator: &g)
        let vae = try DiscreteVAE.conv(prior: prior, generator: &g)
        let x = try Tensor.rand([3, 784], generator: &g).gt(0.5)
        XCTAssertEqual(try vae.encoder.features(x).shape, [3, 128])
        XCTAssertEqual(try vae.decode(Tensor.rand([3, 288], generator: &g)).shape, [3, 784])
        let names = vae.namedParameters().map(\.0)
        XCTAssertTrue(names.contains("encoder.trunk.1.conv.weight"))
        XCTAssertTrue(names.contains("encoder.heads.1.weight"))
        XCTAssertTrue(names.contains("decoder.6.deconv.weight"))
        XCTAssertEqual(try vae.encoder.heads[1].weight.shape, [144, 128 + 144])
        // Rebuild from the configuration: same names and shapes.
        let again = try DiscreteVAE(config: vae.config, prior: prior, generator: &g)
        XCTAssertEqual(again.stateDict().map { "\($0.0)\($0.1.shape)" }, vae.stateDict().map { "\($0.0)\($0.1.shape)" })
        let dense = try DiscreteVAE.dense(prior: prior, generator: &g)
        XCTAssertEqual(dense.parameterCount,
                       (784 * 512 + 512) + (512 * 256 + 256) + (256 * 144 + 144) + (400 * 144 + 144)
                       + (288 * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784) + 288)
    }

    func testBatchNormTrainAndEval() throws {
        let bn = try BatchNorm(3, momentum: 0.1)
        var g = Generator(seed: 3)
        let x = try Tensor.randn([8, 3, 4, 5], generator: &g).mul(2).add(1.5)
        let y = try bn(x)
        // Training output: zero mean, unit (biased) variance per channel.
        let m = try y.mean(dims: [0, 2, 3]).toArray(), v = try y.variance(nil).item()
        for c in m { XCTAssertEqual(c, 0, accuracy: 1e-5) }
        XCTAssertEqual(v, 1, accuracy: 0.02)
        // Running statistics as PyTorch: 0.9·old + 0.1·batch (unbiased variance).
        let xm = try x.mean(dims: [0, 2, 3]).toArray()
        let xs = try x.transpose(0, 1).reshape([3, -1])
        let xv = try xs.variance(1, unbiased: true).toArray()
        for c in 0..<3 {
            XCTAssertEqual(try bn.runningMean.at([c]), 0.1 * xm[c], accuracy: 1e-5)
            XCTAssertEqual(try bn.runningVar.at([c]), 0.9 + 0.1 * xv[c], accuracy: 1e-4)
        }
        XCTAssertEqual(try bn.batchesTracked.item(), 1)
        // Evaluation: running statistics, no update.
        bn.setTraining(false)
        let ye = try bn(x)
        for i in [0, 17, 59] {
            let c = (i / 20) % 3
            let expect = (x.toArray()[i] - bn.runningMean.toArray()[c]) / (bn.runningVar.toArray()[c] + 1e-5).squareRoot()
            XCTAssertEqual(ye.toArray()[i], expect, accuracy: 1e-5)
        }
        XCTAssertEqual(try bn.runningMean.at([0]), 0.1 * xm[0], accuracy: 1e-5)
        XCTAssertEqual(try bn.batchesTracked.item(), 1)
        // 1-d.
        let bn1 = try BatchNorm(4)
        let y1 = try bn1(seededRandn([16, 4], seed: 9, scale: 3, shift: -2))
        for c in try y1.mean(0).toArray() { XCTAssertEqual(c, 0, accuracy: 1e-5) }
        XCTAssertThrowsError(try bn1(Tensor.zeros([2, 5])))
    }

    func testBatchNormGradients() throws {
        for (shape, training) in [([6, 3, 2, 3], true), ([7, 4], true), ([5, 2, 3, 3], false)] {
            let bn = try BatchNorm(shape[1])
            let x = seededRandn(shape, seed: 21, scale: 1.5, shift: 0.3)
            try Tensor.noGrad {
                try bn.weight.copy_(seededRandn([shape[1]], seed: 22, shift: 1))
                try bn.bias.copy_(seededRandn([shape[1]], seed: 23))
                try bn.runningVar.copy_(seededRandn([shape[1]], seed: 24).abs().add(0.5))
            }
            bn.setTraining(training)
            let msg = try nnGradMismatch([x, bn.weight, bn.bias], eps: 1e-2, atol: 2e-3, rtol: 1e-2) { try bn(x) }
            XCTAssertNil(msg, "\(shape) training \(training)")
        }
    }

    func testGatedConvBlockGradients() throws {
        var g = Generator(seed: 31)
        let block = try GatedConv(2, 3, kernel: 3, stride: 2, padding: 1, generator: &g)
        let x = seededRandn([3, 2, 5, 5], seed: 32)
        let params = [x] + block.parameters()
        XCTAssertNil(try nnGradMismatch(params, eps: 1e-3, atol: 3e-3, rtol: 2e-2) { try block(x) })
        let up = try GatedConvTranspose(3, 2, kernel: 3, stride: 2, dropout: 0, reluValue: false, generator: &g)
        let z = seededRandn([2, 3, 3, 3], seed: 33)
        XCTAssertNil(try nnGradMismatch([z] + up.parameters(), eps: 1e-3, atol: 3e-3, rtol: 2e-2) { try up(z) })
    }

    /// The gated blocks run batch norm, gate and dropout as one op; they give
    /// what their layers give in sequence (BatchNorm, gatedActivation,
    /// Dropout), bit for bit, with the same draws and batch counts.
    func testGatedBlocksEqualTheirLayersInSequence() throws {
        var g = Generator(seed: 51)
        let up = try GatedConvTranspose(3, 4, kernel: 3, stride: 2, dropout: 0.25, generator: &g)
        let down = try GatedConv(4, 3, kernel: 3, stride: 2, padding: 1, generator: &g)
        let z = seededRandn([5, 3, 4, 4], seed: 52)
        for training in [true, false] {
            up.setTraining(training); down.setTraining(training)
            func sequence() throws -> Tensor {
                let h = try up.dropout(up.bn(up.deconv(z)).gatedActivation(relu: true))
                return try down.bn(down.conv(h)).gatedActivation(relu: true)
            }
            let stats = [up.bn.runningMean, up.bn.runningVar, down.bn.runningMean, down.bn.runningVar]
            let start = stats.map { $0.toArray() }
            var runs: [([Float], [Float], [Float], [Float])] = []
            for fused in [true, false] {
                for (t, v) in zip(stats, start) { try Tensor.noGrad { try t.copy_(Tensor(v)) } }
                for p in up.parameters() + down.parameters() { p.grad = nil }
                z.requiresGrad = true; z.grad = nil
                var stream = Generator(seed: 53)
                let y = try Dropout.drawing(from: &stream) { try fused ? down(up(z)) : sequence() }
                try (y * seededRandn(y.shape, seed: 54)).sum().backward()
                runs.append((y.toArray(), z.grad!.toArray(), up.deconv.weight.grad!.toArray(), up.bn.runningVar.toArray()))
            }
            XCTAssertEqual(runs[0].0.map(\.bitPattern), runs[1].0.map(\.bitPattern), "output, training \(training)")
            XCTAssertEqual(runs[0].1.map(\.bitPattern), runs[1].1.map(\.bitPattern), "dz, training \(training)")
            XCTAssertEqual(runs[0].2.map(\.bitPattern), runs[1].2.map(\.bitPattern), "deconv dW, training \(training)")
            XCTAssertEqual(runs[0].3, runs[1].3, "running variance, training \(training)")
        }
        XCTAssertEqual(try up.bn.batchesTracked.item(), 2)   // the two training runs
        XCTAssertEqual(try down.bn.batchesTracked.item(), 2)
    }

    func testDropoutTrainAndEval() throws {
        let d = try Dropout(0.25, generator: Generator(seed: 5))
        let x = try Tensor.full([200, 100], 2)
        let y = try d(x).toArray()
        let zeros = y.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / Double(y.count), 0.25, accuracy: 0.01)
        XCTAssertTrue(y.allSatisfy { $0 == 0 || Swift.abs($0 - 2 / 0.75) < 1e-6 })
        d.setTraining(false)
        XCTAssertTrue(try d(x) === x)
        XCTAssertThrowsError(try Dropout(1))
    }

    func testGatedActivationAndBernoulliLikelihood() throws {
        let x = try Tensor([1, -2, 0.5, 3, 0, -1, 2, 1], shape: [1, 4, 2, 1])
        let y = try x.gatedActivation().toArray()
        let sig = { (v: Float) in 1 / (1 + Foundation.exp(-v)) }
        XCTAssertEqual(y[0], 1 * sig(0), accuracy: 1e-6)
        XCTAssertEqual(y[1], 0, accuracy: 1e-6)
        XCTAssertEqual(y[2], 0.5 * sig(2), accuracy: 1e-6)
        XCTAssertEqual(y[3], 3 * sig(1), accuracy: 1e-6)
        let l = seededRandn([6, 10], seed: 41, scale: 4)
        let t = try Tensor.rand([2, 10]).gt(0.5)
        let ll = try l.bernoulliLogLikelihood(t)
        let ref = try l.view([2, 3, 10]).bceWithLogits(t.unsqueeze(1)).sum(2).neg().reshape([6])
        for (a, b) in zip(ll.toArray(), ref.toArray()) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        XCTAssertNil(try nnGradMismatch([l], eps: 1e-2) { try l.bernoulliLogLikelihood(t) })
    }
}
