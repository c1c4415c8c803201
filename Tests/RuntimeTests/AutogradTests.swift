import XCTest
@testable import Runtime

final class AutogradTests: XCTestCase {
    func testAccumulationAndGraphRelease() throws {
        let w = try Tensor([1, 2, 3]).requiringGrad()
        let y = try (w * w).sum()
        try y.backward(retainGraph: true)
        XCTAssertEqual(w.grad!.toArray(), [2, 4, 6])
        try y.backward()
        XCTAssertEqual(w.grad!.toArray(), [4, 8, 12])
        XCTAssertThrowsError(try y.backward())  // graph freed
        w.grad = nil
        // Same tensor used twice, and gradients shared between leaves.
        let a = try Tensor([1, 2]).requiringGrad(), b = try Tensor([3, 4]).requiringGrad()
        try (a + b).sum().backward()
        try (a + b).sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [2, 2]); XCTAssertEqual(b.grad!.toArray(), [2, 2])
    }

    func testBackwardWithGradientAndNoGrad() throws {
        let x = try Tensor([1, 2, 3]).requiringGrad()
        let y = x * 3
        XCTAssertThrowsError(try y.backward())  // not a scalar
        try y.backward(Tensor([1, 0, 2]))
        XCTAssertEqual(x.grad!.toArray(), [3, 0, 6])
        let z = Tensor.noGrad { x * 2 }
        XCTAssertFalse(z.requiresGrad)
        XCTAssertNil(z.gradFunctionName)
        let d = x.detach()
        XCTAssertFalse(d.requiresGrad)
        XCTAssert(d.storage === x.storage)
        XCTAssertTrue(GradMode.isEnabled)
        XCTAssertEqual((x * 2).gradFunctionName, "affine")
    }

    func testDeepGraphDoesNotOverflowStack() throws {
        let x = try Tensor([0.5]).requiringGrad()
        var y = x
        for _ in 0..<20_000 { y = y * 1.0 }
        try y.sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [1])
    }

    func testLongUnusedGraphIsFreedWithoutStackOverflow() throws {
        let x = try Tensor([0.5]).requiringGrad()
        var y: Tensor? = x
        for _ in 0..<300_000 { y = y! + 1 }
        y = nil  // the chain of nodes is torn down without recursion
        XCTAssertNil(y)
    }

    func testCustomHookShapeCheck() throws {
        let x = try Tensor([1, 2]).requiringGrad()
        let y = try Tensor.custom(inputs: [x], forward: { $0[0].exp() }, backward: { _ in [try Tensor.zeros([3])] })
        XCTAssertThrowsError(try y.sum().backward())
    }

    func testRandomDeterminism() throws {
        GlobalRandom.seed(7)
        let a = try Tensor.randn([100_000]), u = try Tensor.rand([50_000])
        GlobalRandom.seed(7)
        let saved = Parallel.threads
        Parallel.threads = 1
        let b = try Tensor.randn([100_000]), v = try Tensor.rand([50_000])
        Parallel.threads = saved
        XCTAssertEqual(a.toArray(), b.toArray())
        XCTAssertEqual(u.toArray(), v.toArray())
        let p = try Tensor.full([100_000], 0.3)
        let m = try p.bernoulli().mean().item()
        XCTAssertEqual(m, 0.3, accuracy: 0.01)
        let mean = try a.mean().item(), sd = try a.std().item()
        XCTAssertEqual(mean, 0, accuracy: 0.02); XCTAssertEqual(sd, 1, accuracy: 0.02)
    }
}
