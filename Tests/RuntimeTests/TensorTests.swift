import XCTest
@testable import Runtime
#if canImport(Glibc)
import Glibc
#endif

final class TensorTests: XCTestCase {
    func testCreationAndViews() throws {
        let t = try Tensor((0..<12).map(Float.init), shape: [3, 4])
        XCTAssertEqual(try t.t().toArray(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        XCTAssertEqual(try t.narrow(1, start: 1, length: 2).toArray(), [1, 2, 5, 6, 9, 10])
        XCTAssertEqual(try t.reshape([2, -1]).shape, [2, 6])
        XCTAssertEqual(try t.t().reshape([12]).toArray(), try t.t().contiguous().toArray())
        XCTAssertEqual(try Tensor([1, 2, 3]).reshape([3, 1]).expand([3, 2]).toArray(), [1, 1, 2, 2, 3, 3])
        XCTAssertEqual(try t.select(0, -1).toArray(), [8, 9, 10, 11])
        // A view shares storage; reshape of a transpose copies.
        XCTAssert(try t.view([4, 3]).storage === t.storage)
        XCTAssertThrowsError(try t.t().view([12]))
        XCTAssertEqual(try Tensor.arange(0, 5).toArray(), [0, 1, 2, 3, 4])
        XCTAssertEqual(try Tensor.linspace(0, 1, steps: 3).toArray(), [0, 0.5, 1])
        XCTAssertEqual(try Tensor.eye(2).toArray(), [1, 0, 0, 1])
        // Non-contiguous view of a view (split of a transpose) reshaped.
        let v = try t.t().narrow(0, start: 1, length: 2)  // [2,3]
        XCTAssertEqual(try v.reshape([6]).toArray(), [1, 5, 9, 2, 6, 10])
        XCTAssertEqual(try t.permute([1, 0]).unsqueeze(0).shape, [1, 4, 3])
    }

    func testErrorsAreThrownNotTrapped() {
        let a = try! Tensor.zeros([3, 4]), b = try! Tensor.zeros([5, 6])
        XCTAssertThrowsError(try a.matmul(b)) { XCTAssertEqual("\($0)", "matmul: shapes [3,4] and [5,6] are not aligned") }
        XCTAssertThrowsError(try a + b)
        XCTAssertThrowsError(try a.sum(2))
        XCTAssertThrowsError(try a.narrow(0, start: 2, length: 5))
        XCTAssertThrowsError(try a.reshape([5, -1]))
        XCTAssertThrowsError(try a.indexSelect(0, Tensor([3])))
        XCTAssertThrowsError(try a.gather(1, Tensor.full([3, 4], 1.5)))
        XCTAssertThrowsError(try Tensor([1, 2], shape: [3]))
        XCTAssertThrowsError(try Tensor.zeros([-1]))
        XCTAssertThrowsError(try Tensor.zeros([1 << 30, 1 << 30]))
        XCTAssertThrowsError(try a.item())
        XCTAssertThrowsError(try Tensor.conv2d(a, a))
        XCTAssertThrowsError(try Tensor.conv2d(Tensor.zeros([1, 2, 3, 3]), Tensor.zeros([1, 3, 2, 2])))
        XCTAssertThrowsError(try Tensor.conv2d(Tensor.zeros([1, 1, 3, 3]), Tensor.zeros([1, 1, 5, 5])))
        XCTAssertThrowsError(try Tensor.cat([a, b], dim: 0))
        XCTAssertThrowsError(try a.permute([0, 0]))
        XCTAssertThrowsError(try a.backward())
    }

    func testBroadcastingMatchesNaive() throws {
        let a = randn([2, 3, 4], seed: 1), b = randn([3, 1], seed: 2)
        let c = try a * b
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            XCTAssertEqual(try c.at([i, j, k]), try a.at([i, j, k]) * b.at([j, 0]))
        } } }
        // Non-contiguous operands.
        let at = try a.transpose(1, 2)  // [2,4,3]
        let d = try at - Tensor([1, 2, 3])
        for i in 0..<2 { for j in 0..<4 { for k in 0..<3 {
            XCTAssertEqual(try d.at([i, j, k]), try a.at([i, k, j]) - Float(k + 1))
        } } }
        // Large tensors take the parallel paths.
        let big = randn([300, 1000], seed: 3), row = randn([1000], seed: 4)
        let s = try big + row
        let bp = big.toArray(), rp = row.toArray(), sp = s.toArray()
        for i in Swift.stride(from: 0, to: bp.count, by: 997) { XCTAssertEqual(sp[i], bp[i] + rp[i % 1000]) }
        let st = try big.t() * 2
        XCTAssertEqual(try st.at([7, 5]), 2 * (try big.at([5, 7])))
        XCTAssertEqual(try big.gt(0).sum().item() + big.le(0).sum().item(), 300_000)
    }

    func testVectorMathAccuracy() {
        var maxRelExp: Float = 0, maxRelLog: Float = 0
        var x: Float = -87
        while x < 88 {
            let e = VMath.exp(x), r = Float(Glibc.exp(Double(x)))
            maxRelExp = Swift.max(maxRelExp, Swift.abs(e - r) / r)
            x += 0.0173
        }
        var y: Float = 1e-37
        while y < 1e37 {
            let l = VMath.log(y), r = Float(Glibc.log(Double(y)))
            maxRelLog = Swift.max(maxRelLog, Swift.abs(l - r) / Swift.max(Swift.abs(r), 1e-3))
            y *= 1.0137
        }
        var maxTanh: Float = 0
        var z: Float = -12
        while z < 12 {
            let r = Float(Glibc.tanh(Double(z)))
            maxTanh = Swift.max(maxTanh, Swift.abs(VMath.tanh(z) - r) / Swift.max(Swift.abs(r), 1e-30))
            z += 0.00731
        }
        XCTAssertLessThan(maxTanh, 5e-7)
        XCTAssertEqual(VMath.tanh(1e-20), 1e-20)
        XCTAssertLessThan(maxRelExp, 3e-7)
        XCTAssertLessThan(maxRelLog, 3e-7)
        XCTAssertEqual(VMath.exp(100), .infinity)
        XCTAssertEqual(VMath.exp(-200), 0)
        XCTAssert(VMath.exp(.nan).isNaN)
        XCTAssertEqual(VMath.log(0), -.infinity)
        XCTAssert(VMath.log(-1).isNaN)
        XCTAssertEqual(VMath.log(.infinity), .infinity)
        XCTAssertEqual(VMath.log(1), 0)
        XCTAssertEqual(VMath.log(1e-40), Float(Glibc.log(1e-40)), accuracy: 1e-4)  // denormal
        XCTAssertEqual(VMath.log1p(1e-10), 1e-10)
    }

    func testStableFunctionsAtLargeMagnitude() throws {
        let x = Tensor([-1000, -100, -20, 0, 20, 100, 1000])
        let sig = x.sigmoid().toArray()
        XCTAssertEqual(sig[0], 0); XCTAssertEqual(sig[3], 0.5); XCTAssertEqual(sig[6], 1)
        XCTAssertEqual(sig[2], 2.0611537e-9, accuracy: 1e-15)
        let sp = x.softplus().toArray()
        XCTAssertEqual(sp[0], 0); XCTAssertEqual(sp[5], 100); XCTAssertEqual(sp[6], 1000)
        XCTAssertEqual(sp[2], 2.0611537e-9, accuracy: 1e-15)
        let ls = x.logSigmoid().toArray()
        XCTAssertEqual(ls[0], -1000); XCTAssertEqual(ls[1], -100); XCTAssertEqual(ls[6], 0)
        XCTAssertEqual(ls[4], -2.0611537e-9, accuracy: 1e-15)
        let bce = try x.bceWithLogits(Tensor.full([7], 1)).toArray()
        XCTAssertEqual(bce[0], 1000); XCTAssertEqual(bce[6], 0)
        XCTAssertFalse(x.tanh().hasNonFinite)
        let lse = try Tensor([1000, 1000], shape: [1, 2]).logsumexp(1).item()
        XCTAssertEqual(lse, 1000 + Float(Glibc.log(2.0)), accuracy: 1e-3)
        XCTAssertEqual(try Tensor([-Float.infinity, -Float.infinity], shape: [1, 2]).logsumexp(1).item(), -.infinity)
        let lg = Tensor([1e-30, 0.5, 1 - 1e-7]).logit().toArray()
        XCTAssertEqual(lg[0], -69.0776, accuracy: 1e-3); XCTAssertEqual(lg[1], 0)
        // Gradients stay finite at large magnitudes.
        let xs = x.detach().requiringGrad()
        try xs.softplus().sum().backward()
        XCTAssertFalse(xs.grad!.hasNonFinite)
    }

    func testReductionValues() throws {
        let t = try Tensor([1, 5, 3, 4, 2, 6], shape: [2, 3])
        XCTAssertEqual(try t.sum(0).toArray(), [5, 7, 9])
        XCTAssertEqual(try t.sum(1, keepdim: true).shape, [2, 1])
        XCTAssertEqual(try t.mean().item(), 3.5)
        let (v, i) = try t.max(1)
        XCTAssertEqual(v.toArray(), [5, 6]); XCTAssertEqual(i.toArray(), [1, 2])
        XCTAssertEqual(try t.argmin(0).toArray(), [0, 1, 0])
        XCTAssertEqual(try t.variance(1).toArray(), [4, 4])
        let big = randn([1000, 300], seed: 9)
        let s0 = try big.sum(0).toArray(), s1 = try big.sum(1).toArray()
        let arr = big.toArray()
        var r0 = [Double](repeating: 0, count: 300), r1 = [Double](repeating: 0, count: 1000)
        for i in 0..<1000 { for j in 0..<300 { r0[j] += Double(arr[i * 300 + j]); r1[i] += Double(arr[i * 300 + j]) } }
        assertClose(s0, r0.map(Float.init), tol: 1e-4)
        assertClose(s1, r1.map(Float.init), tol: 1e-5)
        XCTAssertEqual(Double(try big.sum().item()), r1.reduce(0, +), accuracy: 1e-2)
    }

    func testHasNonFinite() throws {
        let t = try Tensor.zeros([100_000])
        XCTAssertFalse(t.hasNonFinite)
        t.data[77_777] = .nan
        XCTAssert(t.hasNonFinite)
        t.data[77_777] = -.infinity
        XCTAssert(t.hasNonFinite)
        // Every position class of the SIMD scan (lanes, the 32-float body,
        // the scalar tail, block edges), large finite values, and views.
        for n in [1, 7, 31, 32, 33, 4095, 4096, 4097, 8200] {
            let u = try Tensor.full([n], .greatestFiniteMagnitude)
            for k in 0..<n { u.data[k] = k % 2 == 0 ? -.greatestFiniteMagnitude : .leastNonzeroMagnitude }
            XCTAssertFalse(u.hasNonFinite, "n = \(n)")
            for i in Set([0, 5, n / 2, n - 33, n - 32, n - 1, 4095, 4096].filter { $0 >= 0 && $0 < n }) {
                for bad: Float in [.nan, .infinity, -.infinity, -.nan] {
                    let keep = u.data[i]
                    u.data[i] = bad
                    XCTAssert(u.hasNonFinite, "n = \(n), i = \(i), \(bad)")
                    u.data[i] = keep
                }
            }
        }
        let m = try Tensor.zeros([64, 64])
        m.data[64 * 10 + 3] = .nan
        XCTAssert(try m.transpose(0, 1).hasNonFinite)
        XCTAssertFalse(try m.narrow(1, start: 4, length: 60).hasNonFinite)
    }

    func testLiveBytes() throws {
        let before = Storage.liveBytes
        var t: Tensor? = try Tensor.zeros([1000])
        XCTAssertGreaterThanOrEqual(Storage.liveBytes - before, 4000)
        _ = t
        t = nil
        XCTAssertLessThan(Storage.liveBytes - before, 4000)
    }

    func testInPlaceOps() throws {
        let p = try Tensor.zeros([2, 3]).requiringGrad()
        XCTAssertThrowsError(try p.fill_(1))
        try Tensor.noGrad { try p.fill_(2); try p.clamp_(max: 1.5); try p.add_(Tensor([1, 2, 3]), alpha: 2) }
        XCTAssertEqual(p.toArray(), [3.5, 5.5, 7.5, 3.5, 5.5, 7.5])
        let q = try Tensor.zeros([3, 2])
        try q.t().copy_(p.detach())
        XCTAssertEqual(q.toArray(), [3.5, 3.5, 5.5, 5.5, 7.5, 7.5])
        XCTAssertThrowsError(try Tensor([1]).expand([3]).fill_(0))
    }
}

/// Freed large buffers are reused (same size only), within the cache's limit.
final class StorageCacheTests: XCTestCase {
    func testLargeBuffersAreReusedBySize() throws {
        Storage.releaseCachedBuffers()
        let n = Storage.cacheMinimum / 4 + 1000
        var a: Storage? = try Storage(count: n)
        let address = a!.pointer
        a = nil
        XCTAssertGreaterThanOrEqual(Storage.cachedBytes, n * 4)
        let other = try Storage(count: n + 64)      // another size: not the cached buffer
        XCTAssertNotEqual(other.pointer, address)
        let again = try Storage(count: n)
        XCTAssertEqual(again.pointer, address)
        XCTAssertEqual(Storage.cachedBytes, 0)
        // Small buffers are never cached.
        _ = try Storage(count: 1000)
        XCTAssertEqual(Storage.cachedBytes, 0)
        withExtendedLifetime((other, again)) {}
    }

    func testCacheStaysWithinItsLimitAndReleases() throws {
        Storage.releaseCachedBuffers()
        let n = Storage.cacheMinimum  // floats: 4 MiB buffers
        for _ in 0..<(Storage.cacheLimit / (4 * n) + 3) { _ = try Storage(count: n) ; _ = try Storage(count: n + 16 * (Storage.cachedBytes % 7)) }
        XCTAssertLessThanOrEqual(Storage.cachedBytes, Storage.cacheLimit)
        XCTAssertGreaterThan(Storage.cachedBytes, 0)
        Storage.releaseCachedBuffers()
        XCTAssertEqual(Storage.cachedBytes, 0)
    }
}
