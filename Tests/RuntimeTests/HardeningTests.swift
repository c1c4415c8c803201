import XCTest
@testable import Runtime

/// Issue 10: checked size arithmetic, fallible allocation, overlapping
/// in-place ops and optimizer validation. Each of these crashed or gave a
/// wrong result before.
final class HardeningTests: XCTestCase {
    private func assertThrows(_ body: @autoclosure () throws -> Any, _ fragment: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("expected an error containing '\(fragment)'", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(fragment), "'\(error)' does not contain '\(fragment)'", file: file, line: line)
        }
    }

    func testCheckedCount() throws {
        XCTAssertEqual(try Shape.checkedCount([3, 4], op: "t"), 12)
        XCTAssertEqual(try Shape.checkedCount([0, 5], op: "t"), 0)
        XCTAssertEqual(try Shape.checkedCount([], op: "t"), 1)
        assertThrows(try Shape.checkedCount([0, 1 << 40, 1 << 40], op: "t"), "too large")
        assertThrows(try Shape.checkedCount([Int.max, 2], op: "t"), "too large")
        assertThrows(try Shape.checkedCount([-1], op: "t"), "negative size")
    }

    func testAllocationBeyondMemoryThrows() {
        assertThrows(try Tensor.zeros([1_000_000_000_000]), "cannot allocate 4000000000000 bytes")
        assertThrows(try Storage(count: Int.max / 2, for: "a test"), "cannot allocate")
        assertThrows(try Tensor.zeros([0, 1 << 40, 1 << 40]), "too large")
    }

    func testExpandAndBroadcastAreChecked() throws {
        let one = try Tensor.zeros([1, 1])
        assertThrows(try one.expand([1 << 40, 1 << 40]), "expand")
        assertThrows(try Tensor.zeros([4]).view([1 << 40, 1 << 40, -1]), "view")
        let a = try one.expand([1 << 20, 1]), b = try one.expand([1, 1 << 20])
        assertThrows(try a + b, "cannot allocate")
    }

    func testNarrowChunkSplitArange() throws {
        let x = try Tensor.arange(0, 5)
        assertThrows(try x.narrow(0, start: 1, length: Int.max), "out of bounds")
        assertThrows(try x.narrow(0, start: Int.max, length: 1), "out of bounds")
        XCTAssertEqual(try x.chunk(Int.max).count, 5)
        assertThrows(try x.split(sizes: [Int.max, Int.max, 5]), "do not sum")
        assertThrows(try Tensor.arange(0, 1e30), "arange")
        assertThrows(try Tensor.arange(0, .infinity), "end must be finite")
    }

    func testReductionsOverAScalarDimension() throws {
        let s = Tensor(scalar: 3)
        XCTAssertEqual(try s.mean(0).item(), 3)
        XCTAssertEqual(try s.mean(dims: [0]).item(), 3)
        XCTAssertEqual(try s.variance(0, unbiased: false).item(), 0)
        XCTAssertEqual(try s.sum(0).item(), 3)
        assertThrows(try s.narrow(0, start: 0, length: 1), "0-dimensional")
        assertThrows(try s.size(0), "0-dimensional")
        assertThrows(try s.chunk(2), "0-dimensional")
    }

    func testConvSizesAreChecked() throws {
        let x = try Tensor.ones([1, 1, 4, 4]), w = try Tensor.ones([1, 1, 3, 3])
        assertThrows(try Tensor.convTranspose2d(x, w, stride: [1 << 40]), "convTranspose2d")
        assertThrows(try Tensor.convTranspose2d(x, w, stride: [100_000]), "cannot allocate")
        assertThrows(try Tensor.conv2d(x, w, padding: [Int.max / 4]), "too large")
        assertThrows(try Tensor.conv2d(x, w, padding: [10_000_000]), "conv2d")
    }

    func testInPlaceWithOverlappingSource() throws {
        let s = try Tensor([1, 2, 3, 4], shape: [2, 2])
        try s.add_(try s.t())
        XCTAssertEqual(s.toArray(), [2, 5, 5, 8])
        let x = Tensor([1, 2, 3, 4, 5])
        try x.narrow(0, start: 1, length: 4).add_(try x.narrow(0, start: 0, length: 4))
        XCTAssertEqual(x.toArray(), [1, 3, 5, 7, 9])
        let y = Tensor([1, 2, 3, 4, 5])
        try y.narrow(0, start: 0, length: 4).copy_(try y.narrow(0, start: 1, length: 4))
        XCTAssertEqual(y.toArray(), [2, 3, 4, 5, 5])
        let a = Tensor([1, 2, 3])
        try a.add_(a)
        XCTAssertEqual(a.toArray(), [2, 4, 6])
    }

    func testExpandedTargetsAreNotWritable() throws {
        let e = try Tensor.zeros([1]).expand([3])
        assertThrows(try e.checkWritable("assignment"), "expanded")
        assertThrows(try e.copy_(Tensor([1, 2, 3])), "expanded")
        XCTAssertNoThrow(try Tensor.zeros([3]).checkWritable("assignment"))
    }

    func testOptimizerOptionsAreValidated() throws {
        let w = try Tensor.ones([3]); w.requiresGrad = true
        assertThrows(try Adam(params: [w], eps: .nan), "eps")
        assertThrows(try Adam(params: [w], eps: -1e-8), "eps")
        assertThrows(try Adam(params: [w], eps: 0), "eps")
        assertThrows(try Adam(params: [w], lr: .nan), "lr")
        assertThrows(try Adam(params: [w], betas: (.nan, 0.9)), "beta1")
        assertThrows(try Adam(params: [w], betas: (0.9, 1)), "beta2")
        assertThrows(try SGD(params: [w], lr: 0.1, momentum: -1), "momentum")
        assertThrows(try SGD(params: [w], lr: .infinity), "lr")
        XCTAssertNoThrow(try Adam(params: [w]))
    }

    func testParameterListedTwiceIsRefused() throws {
        let w = try Tensor.ones([3]); w.requiresGrad = true
        assertThrows(try Adam(params: [w, w]), "listed twice")
        assertThrows(try SGD(params: [w, w], lr: 0.1), "listed twice")
        let v = try Tensor.ones([4])
        assertThrows(try SGD(params: [v.narrow(0, start: 0, length: 3), v.narrow(0, start: 2, length: 2)], lr: 0.1), "share memory")
        XCTAssertNoThrow(try SGD(params: [v.narrow(0, start: 0, length: 2), v.narrow(0, start: 2, length: 2)], lr: 0.1))
    }

    func testSafeTensorsZeroBesideHugeDims() throws {
        let header = #"{"x":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}"#
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header.utf8)
        assertThrows(try SafeTensors.decode(bytes), "too large")
    }
}
