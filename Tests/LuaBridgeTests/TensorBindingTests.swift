import LuaBridge
import Runtime
import XCTest

/// Binding behaviour of qv.Tensor that Lua tests cannot observe directly:
/// object identity across the bridge, memory reported to the collector,
/// grad mode restored after errors, storage released after failed calls.
final class TensorBindingTests: XCTestCase {
    var state: LuaState!

    override func setUp() {
        GradMode.isEnabled = true
        state = QV.newState()
    }
    override func tearDown() {
        state = nil
        GradMode.isEnabled = true
    }

    @discardableResult
    func run(_ code: String) throws -> [LuaValue] { try state.run(code) }

    func errorOf(_ code: String) -> String? {
        do { try state.run(code); return nil } catch let e as LuaError { return e.message } catch { return "\(error)" }
    }

    func testSwiftTensorIsSharedWithLua() throws {
        let t = try Tensor([1, 2, 3], shape: [3])
        try state.setGlobal("t", .object(t))
        try run("t[2] = 20; u = t")
        XCTAssertEqual(t.toArray(), [1, 20, 3])
        // The same Swift object comes back as the same userdata.
        XCTAssertEqual(try run("return rawequal(t, u)").first?.boolValue, true)
        let back = try run("return t:view(3, 1)").first?.object(Tensor.self)
        XCTAssertTrue(back?.storage === t.storage)
    }

    func testGradPropertyKeepsIdentity() throws {
        let r = try run("""
            x = qv.ones(2):requires_grad_();
            (x * 3):sum():backward()
            local g1, g2 = x.grad, x.grad
            return rawequal(g1, g2), g1:sum():item()
            """)
        XCTAssertEqual(r[0].boolValue, true)
        XCTAssertEqual(r[1].doubleValue, 6)
    }

    func testTensorStorageIsReportedToTheCollector() throws {
        let before = state.reportedBytes
        try run("local t = qv.zeros(1000, 1000)")
        XCTAssertGreaterThanOrEqual(state.reportedBytes - before, 4_000_000)
    }

    func testLoopOfBigTensorsStaysBounded() throws {
        state.collectGarbage()
        let base = Storage.liveBytes
        var peak = 0
        try state.module("qv").fn("probe_live") { _ in
            peak = max(peak, Storage.liveBytes - base)
            return .none
        }
        try run("for i = 1, 500 do local t = qv.zeros(1000, 1000); qv.probe_live() end")
        // 500 × 4 MB = 2 GB without collection.
        XCTAssertLessThan(peak, 200_000_000, "peak live storage \(peak) bytes")
    }

    func testNoGradRestoresModeAfterLuaErrorAndInterrupt() {
        XCTAssertNotNil(errorOf("qv.no_grad(function() error('x') end)"))
        XCTAssertTrue(GradMode.isEnabled)
        XCTAssertNotNil(errorOf("qv.no_grad(function() qv.zeros(2):sum(7) end)"))
        XCTAssertTrue(GradMode.isEnabled)
        XCTAssertNotNil(errorOf("qv.no_grad(qv.no_grad, function() error({}) end)"))
        XCTAssertTrue(GradMode.isEnabled)
    }

    func testFailedCallsReleaseTheirTensors() throws {
        state.collectGarbage()
        let base = Storage.liveBytes
        for _ in 0..<50 {
            _ = errorOf("local a = qv.zeros(1000, 100); local b = qv.zeros(7, 3); return a:matmul(b)")
            _ = errorOf("local a = qv.zeros(1000, 100); return a[{1, 500}]")
            _ = errorOf("local a = qv.zeros(1000, 100); return a + qv.zeros(3)")
        }
        state.collectGarbage()
        state.collectGarbage()
        XCTAssertLessThanOrEqual(Storage.liveBytes - base, 0)
    }

    func testErrorsCarryTheCallerPosition() {
        XCTAssertEqual(errorOf("local t = qv.zeros(2)\nreturn t[5]"),
                       "(swift):2: index 5 is out of range for dimension 1 of size 2")
        XCTAssertEqual(errorOf("local t = qv.zeros(2)\nt[{1, 2}] = 3"),
                       "(swift):2: 2 index specs for a tensor with 1 dimension")
        XCTAssertEqual(errorOf("return qv.zeros(2, 3):view(4)"),
                       "(swift):1: qv.Tensor:view: shape [4] is invalid for a tensor of 6 elements (shape [2,3])")
    }

    func testTostringOfAHugeTensorIsShortAndFast() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let s = try run("local t = qv.zeros(4000, 4000):t(); return tostring(t)").first?.stringValue ?? ""
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        XCTAssertTrue(s.hasPrefix("qv.Tensor(4000x4000, float32)\n"))
        XCTAssertLessThan(s.count, 400)
        XCTAssertLessThan(ms, 2000)
    }

    func testDataBatchesDrawFromTheGlobalGenerator() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
            throw XCTSkip("Fashion-MNIST not installed")
        }
        let code = """
            qv.seed(3)
            local ds = qv.data.load("fmnist")
            local x = ds.train:batches{size = 10, binarize = "dynamic"}()
            return x:sum():item(), qv.rng_state()
            """
        let a = try run(code), b = try run(code)
        XCTAssertEqual(a[0].doubleValue, b[0].doubleValue)
        XCTAssertEqual(a[1].stringValue, b[1].stringValue)
    }
}
