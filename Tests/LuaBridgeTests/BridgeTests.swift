import CSupport
import LuaBridge
import Runtime
import XCTest

/// A test-only class whose live instances are counted.
class Probe {
    nonisolated(unsafe) static var live = 0
    var value: Double
    var bytes: Int
    init(_ value: Double = 0, bytes: Int = 0) {
        self.value = value
        self.bytes = bytes
        Probe.live += 1
    }
    deinit { Probe.live -= 1 }
}

final class SubProbe: Probe {}

final class BridgeTests: XCTestCase {
    var state: LuaState!

    override func setUp() {
        Probe.live = 0
        _ = qv_take_interrupt()
        state = QV.newState()
        let cls = LuaClass<Probe>("qv.Probe", doc: "A counted test object.")
            .method("get", doc: "p:get() -> number") { p, _ in .number(p.value) }
            .method("add", doc: "p:add(x) -> p") { p, args in
                p.value += try args.number(1, "x")
                return .object(p)
            }
            .property("value", doc: "the value", get: { p in .number(p.value) },
                      set: { p, args in p.value = try args.number(1) })
            .property("id", get: { p in .int(ObjectIdentifier(p).hashValue) })
            .index { p, args in
                if let i = args.value(1).intValue { return .number(p.value * Double(i)) }
                return .nil
            }
            .tostring { p in "qv.Probe(\(p.value))" }
            .len { p in .int(Int(p.value)) }
            .call { p, args in .number(p.value + (try args.number(1, "x", default: 0))) }
            .meta("__add") { args in
                let a = try args.objectIfPresent(1, Probe.self)?.value ?? args.number(1, "a")
                let b = try args.objectIfPresent(2, Probe.self)?.value ?? args.number(2, "b")
                return .object(Probe(a + b))
            }
            .extraBytes { p in p.bytes }
        let qv = state.module("qv")
        qv.add(cls)
        qv.fn("probe", doc: "qv.probe([v [, bytes]]) -> Probe") { args in
            .object(Probe(try args.number(1, "v", default: 0), bytes: try args.int(2, "bytes", default: 0)))
        }
        qv.fn("subprobe") { args in .object(SubProbe(try args.number(1, "v", default: 0))) }
        qv.fn("sum") { args in
            let ps = try args.objects(1, Probe.self, "probes")
            return .number(ps.reduce(0) { $0 + $1.value })
        }
        qv.fn("takes") { args in
            _ = try args.int(1, "n")
            _ = try args.number(2, "x")
            _ = try args.string(3, "name")
            _ = try args.bool(4, "flag")
            _ = try args.object(5, Probe.self, "p")
            return .none
        }
        qv.fn("adam") { args in
            let o = try args.options(1, allowed: ["lr", "betas", "name", "warm"])
            return .values(.number(try o.number("lr", default: 1e-3)),
                           .string(try o.string("name", default: "adam")),
                           .bool(try o.bool("warm", default: false)))
        }
        qv.fn("shape") { args in
            let (shape, values) = try args.nestedFloats(1, "data")
            return .values(.ints(shape), .numbers(values))
        }
        qv.fn("dims") { args in .ints(try args.intList(from: 1, "size")) }
        // Fails while Swift objects are alive in this frame.
        qv.fn("fail_holding") { args in
            let keep = [Probe(1), Probe(2), Probe(3)]
            let p = try args.object(1, Probe.self, "p")
            defer { Probe.deferRan += keep.count }
            _ = p
            throw LuaError("failed on purpose")
        }
        qv.fn("call") { args in
            let f = try args.function(1, "f")
            let rest = args.values(from: 2)
            return .multiple(try f.call(rest))
        }
        qv.fn("check_interrupt") { _ in
            try Interrupt.check()
            return .none
        }
        qv.fn("raise_interrupt") { _ in
            qv_raise_interrupt()
            return .none
        }
    }

    override func tearDown() {
        state.close()
        state = nil
        XCTAssertEqual(Probe.live, 0, "every Swift object is released when the state closes")
    }

    func eval(_ expr: String) throws -> LuaValue {
        try state.run("return " + expr).first ?? .none
    }

    // MARK: argument conversion

    func testArgumentErrorsNameFunctionAndArgument() {
        XCTAssertEqual(state.errorOf("qv.takes('x')"),
                       "(swift):1: bad argument #1 to 'qv.takes' (n: expected integer, got string)")
        XCTAssertEqual(state.errorOf("qv.takes(1.5)"),
                       "(swift):1: bad argument #1 to 'qv.takes' (n: number has no integer representation)")
        XCTAssertEqual(state.errorOf("qv.takes(1, '2')"),
                       "(swift):1: bad argument #2 to 'qv.takes' (x: expected number, got string)")
        XCTAssertEqual(state.errorOf("qv.takes(1, 2, 3)"),
                       "(swift):1: bad argument #3 to 'qv.takes' (name: expected string, got number)")
        XCTAssertEqual(state.errorOf("qv.takes(1, 2, 's', nil)"),
                       "(swift):1: bad argument #4 to 'qv.takes' (flag: expected boolean, got nil)")
        XCTAssertEqual(state.errorOf("qv.takes(1, 2, 's', true, 'p')"),
                       "(swift):1: bad argument #5 to 'qv.takes' (p: expected qv.Probe, got string)")
        XCTAssertEqual(state.errorOf("qv.takes(1, 2, 's', true, io.stdout)"),
                       "(swift):1: bad argument #5 to 'qv.takes' (p: expected qv.Probe, got FILE*)")
        XCTAssertEqual(state.errorOf("qv.takes(1, 2, 's', true)"),
                       "(swift):1: bad argument #5 to 'qv.takes' (p: expected qv.Probe, got no value)")
        XCTAssertNoThrow(try state.run("qv.takes(1, 2.0, 's', false, qv.probe())"))
        XCTAssertNoThrow(try state.run("qv.takes(2.0, 2, 's', false, qv.subprobe())"), "subclasses pass")
    }

    func testMethodErrors() {
        XCTAssertEqual(state.errorOf("local p = qv.probe(); p:add('x')"),
                       "(swift):1: bad argument #1 to 'qv.Probe:add' (x: expected number, got string)")
        XCTAssertEqual(state.errorOf("local p = qv.probe(); p.add(3, 1)"),
                       "(swift):1: calling 'qv.Probe:add' on bad self (expected qv.Probe, got number)")
        XCTAssertEqual(state.errorOf("local p = qv.probe(); p.value = 'x'"),
                       "(swift):1: bad value for field 'value' of qv.Probe (expected number, got string)")
        XCTAssertEqual(state.errorOf("local p = qv.probe(); p.id = 3"), "(swift):1: field 'id' of qv.Probe is read-only")
        XCTAssertEqual(state.errorOf("local p = qv.probe(); p.nope = 3"), "(swift):1: cannot set field 'nope' of qv.Probe")
    }

    func testOptionsTables() throws {
        XCTAssertEqual(state.errorOf("qv.adam({lrr = 1})"),
                       "(swift):1: unknown option 'lrr' to 'qv.adam' (did you mean 'lr'? known options: betas, lr, name, warm)")
        XCTAssertEqual(state.errorOf("qv.adam({zzzzzz = 1})"),
                       "(swift):1: unknown option 'zzzzzz' to 'qv.adam' (known options: betas, lr, name, warm)")
        XCTAssertEqual(state.errorOf("qv.adam({lr = 'big'})"),
                       "(swift):1: bad option 'lr' to 'qv.adam' (expected number, got string)")
        XCTAssertEqual(state.errorOf("qv.adam({1})"),
                       "(swift):1: bad argument #1 to 'qv.adam' (options: option names must be strings, got number)")
        XCTAssertEqual(state.errorOf("qv.adam(3)"),
                       "(swift):1: bad argument #1 to 'qv.adam' (options: expected table of options, got number)")
        let r = try state.run("return qv.adam({lr = 0.5, warm = true})")
        XCTAssertEqual(r.count, 3)
        XCTAssertEqual(r[0].doubleValue, 0.5)
        XCTAssertEqual(r[1].stringValue, "adam")
        XCTAssertEqual(r[2].boolValue, true)
        XCTAssertEqual(try state.run("return qv.adam()")[0].doubleValue, 1e-3)
    }

    func testTablesOfNumbers() throws {
        let r = try state.run("return qv.shape({{1, 2, 3}, {4, 5, 6}})")
        guard case .ref(let shape) = r[0], case .ref(let values) = r[1] else { return XCTFail("\(r)") }
        XCTAssertEqual(shape.arrayValues().compactMap(\.intValue), [2, 3])
        XCTAssertEqual(values.arrayValues().compactMap(\.doubleValue), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(state.errorOf("qv.shape({{1, 2}, {3}})"),
                       "(swift):1: bad argument #1 to 'qv.shape' (data: ragged nested table: 2 elements expected at [2], got 1)")
        XCTAssertEqual(state.errorOf("qv.shape({{1, 2}, {3, 'x'}})"),
                       "(swift):1: bad argument #1 to 'qv.shape' (data: expected number at [2][2], got string)")
        XCTAssertEqual(state.errorOf("qv.sum({qv.probe(), 3})"),
                       "(swift):1: bad argument #1 to 'qv.sum' (probes: expected qv.Probe at index 2, got number)")
        XCTAssertEqual(try eval("qv.sum({qv.probe(1), qv.probe(2)})").doubleValue, 3)
        guard case .ref(let d1) = try eval("qv.dims(2, 3, 4)"), case .ref(let d2) = try eval("qv.dims({5, 6})") else {
            return XCTFail()
        }
        XCTAssertEqual(d1.arrayValues().compactMap(\.intValue), [2, 3, 4])
        XCTAssertEqual(d2.arrayValues().compactMap(\.intValue), [5, 6])
        XCTAssertEqual(state.errorOf("qv.dims(2, 'x')"), "(swift):1: bad argument #2 to 'qv.dims' (size: expected integer, got string)")
    }

    // MARK: classes

    func testClassFeatures() throws {
        XCTAssertEqual(try eval("qv.probe(2):get()").doubleValue, 2)
        XCTAssertEqual(try eval("qv.probe(2):add(3):get()").doubleValue, 5)
        XCTAssertEqual(try eval("qv.probe(2).value").doubleValue, 2)
        XCTAssertEqual(try eval("(function() local p = qv.probe(2); p.value = 7; return p.value end)()").doubleValue, 7)
        XCTAssertEqual(try eval("qv.probe(2)[3]").doubleValue, 6, "index fallback")
        XCTAssertEqual(try eval("qv.probe(2).missing").isNil, true)
        XCTAssertEqual(try eval("tostring(qv.probe(2.5))").stringValue, "qv.Probe(2.5)")
        XCTAssertEqual(try eval("#qv.probe(4)").intValue, 4)
        XCTAssertEqual(try eval("qv.probe(4)(1)").doubleValue, 5)
        XCTAssertEqual(try eval("(qv.probe(4) + 1).value").doubleValue, 5)
        XCTAssertEqual(try eval("(1 + qv.probe(4)).value").doubleValue, 5)
        XCTAssertEqual(try eval("(qv.probe(4) + qv.probe(2)).value").doubleValue, 6)
        XCTAssertEqual(try eval("(function() local p = qv.probe(); return rawequal(p, p:add(1)) end)()").boolValue, true,
                       "the same Swift object gives the same userdata")
        XCTAssertEqual(try eval("qv.Probe.get(qv.probe(9))").doubleValue, 9, "class table exposed in the module")
        XCTAssertEqual(try eval("getmetatable(qv.probe()).__name").stringValue, "qv.Probe")
        if case .object(let o) = try eval("qv.probe(3)") {
            XCTAssertEqual((o as? Probe)?.value, 3)
        } else { XCTFail() }
    }

    // MARK: error discipline and release counting

    func testFailingBindingReleasesEverySwiftObject() throws {
        Probe.deferRan = 0
        try state.run("held = qv.probe(10)")
        XCTAssertEqual(Probe.live, 1)
        for _ in 0..<100 {
            let msg = state.errorOf("qv.fail_holding(held)")
            XCTAssertEqual(msg, "(swift):1: failed on purpose")
        }
        XCTAssertEqual(Probe.deferRan, 300, "defer blocks ran: no longjmp crossed the Swift frame")
        XCTAssertEqual(Probe.live, 1, "only the global survives")
        // wrong-argument errors while objects are alive
        for _ in 0..<100 { _ = state.errorOf("local a, b = qv.probe(), qv.probe(); qv.fail_holding(3)") }
        try state.run("held = nil")
        state.collectGarbage()
        XCTAssertEqual(Probe.live, 0, "everything released after collection")
    }

    func testDroppedObjectsAreReleased() throws {
        try state.run("for i = 1, 100000 do local p = qv.probe(i); p:add(1) end")
        state.collectGarbage()
        XCTAssertEqual(Probe.live, 0)
        try state.run("keep = {} for i = 1, 1000 do keep[i] = qv.probe(i) end")
        state.collectGarbage()
        XCTAssertEqual(Probe.live, 1000)
        try state.run("keep = nil")
        state.collectGarbage()
        XCTAssertEqual(Probe.live, 0)
    }

    func testClosingTheStateReleasesLiveObjects() throws {
        try state.run("keep = {} for i = 1, 100 do keep[i] = qv.probe(i) end")
        XCTAssertEqual(Probe.live, 100)
        state.close()
        XCTAssertEqual(Probe.live, 0)
    }

    func testGCPressureBoundsUnseenMemory() throws {
        // Each probe claims 8 MB of Swift memory the Lua collector cannot see.
        var peak = 0
        state.module("qv").fn("observe") { _ in
            peak = max(peak, Probe.live)
            return .none
        }
        try state.run("for i = 1, 2000 do local p = qv.probe(i, 8 * 1024 * 1024); qv.observe() end")
        XCTAssertLessThan(peak, 200, "collector stepped by reported bytes (peak live \(peak) of 2000)")
        state.collectGarbage()
        XCTAssertEqual(Probe.live, 0)
    }

    // MARK: callbacks

    func testCallbacks() throws {
        XCTAssertEqual(try eval("qv.call(function(a, b) return a + b end, 2, 3)").intValue, 5)
        let r = try state.run("return qv.call(function(...) return select('#', ...), ... end, 'a', nil, 3)")
        XCTAssertEqual(r.count, 4)
        XCTAssertEqual(r[0].intValue, 3)
        // A Lua error in a callback propagates unchanged through the binding.
        XCTAssertEqual(try eval("select(2, pcall(qv.call, function() error({code = 42}) end)).code").intValue, 42)
        let msg = state.errorOf("qv.call(function() error('inner') end)")
        XCTAssertTrue(msg.hasSuffix("inner"), msg)
        // Swift calling a Lua function directly, with traceback on failure.
        try state.run("function twice(x) if x == nil then error('no x') end return 2 * x end")
        guard case .ref(let twice) = state.global("twice") else { return XCTFail() }
        XCTAssertEqual(try twice.call(.int(21)).first?.intValue, 42)
        do {
            try twice.call()
            XCTFail()
        } catch let e as LuaError {
            XCTAssertTrue(e.message.hasSuffix("no x"), e.message)
            XCTAssertTrue(e.traceback?.contains("in function 'twice'") ?? false, e.traceback ?? "nil")
        }
        // Deep recursion Lua -> Swift -> Lua is a Lua error, not a crash.
        let deep = state.errorOf("local function f() return qv.call(f) end f()")
        XCTAssertTrue(deep.contains("stack overflow") || deep.contains("C stack"), deep)
    }

    func testCoroutinesCallingBindings() throws {
        let r = try eval("""
            (function()
              local co = coroutine.wrap(function(a)
                local p = qv.probe(a)
                local b = coroutine.yield(p:get())
                return qv.call(function(x) return x + 1 end, b)
              end)
              local first = co(5)
              return first + co(10)
            end)()
            """)
        XCTAssertEqual(r.doubleValue, 16)
    }

    // MARK: interrupts

    func testInterruptInSwiftLoopBecomesLuaError() {
        qv_raise_interrupt()
        XCTAssertEqual(state.errorOf("qv.check_interrupt()"), "(swift):1: interrupted")
        XCTAssertEqual(qv_interrupt_pending(), 0)
    }

    func testInterruptHookStopsLuaLoop() throws {
        state.enableInterrupts(every: 100)
        let msg = state.errorOf("local n = 0; while true do n = n + 1; if n == 1000 then qv.raise_interrupt() end end")
        XCTAssertTrue(msg.hasSuffix("interrupted"), msg)
        XCTAssertEqual(try eval("1 + 1").intValue, 2, "state usable afterwards")
    }

    // MARK: docs, help, values

    func testDocstrings() throws {
        XCTAssertEqual(state.doc(of: try eval("qv.probe")), "qv.probe([v [, bytes]]) -> Probe")
        XCTAssertEqual(state.doc(of: try eval("qv.Probe.add")), "p:add(x) -> p")
        XCTAssertEqual(state.doc(of: try eval("qv.Probe")), "A counted test object.")
        XCTAssertEqual(try eval("qv.doc(qv.seed)").stringValue?.hasPrefix("qv.seed(n)"), true)
    }

    func testCoreBindings() throws {
        try state.run("qv.seed(42)")
        let a = try eval("qv.rand()").doubleValue
        try state.run("qv.seed(42)")
        XCTAssertEqual(try eval("qv.rand()").doubleValue, a)
        XCTAssertEqual(try eval("qv.version").stringValue, QV.version)
        // With a shape, qv.rand makes a tensor (TensorConstructors.swift).
        XCTAssertEqual(state.errorOf("qv.rand('x')"), "(swift):1: bad argument #1 to 'qv.rand' (size: expected integer, got string)")
        XCTAssertEqual(state.errorOf("qv.sleep(-1)"), "(swift):1: bad argument #1 to 'qv.sleep' (seconds: must be a finite number >= 0)")
    }

    func testValuesRoundTrip() throws {
        try state.setGlobal("v", ["a": 1, "b": [1.5, "x", true], "c": .nil])
        XCTAssertEqual(try eval("v.a + v.b[1]").doubleValue, 2.5)
        XCTAssertEqual(try eval("v.b[2] .. tostring(v.b[3])").stringValue, "xtrue")
        XCTAssertEqual(try eval("math.maxinteger").intValue, Int.max)
        XCTAssertEqual(try eval("'a\\0b'").stringValue, "a\u{0}b")
        try state.setGlobal("f", .function(name: "f") { args in .int(args.count) })
        XCTAssertEqual(try eval("f(1, 2, 3)").intValue, 3)
    }
}

extension Probe {
    nonisolated(unsafe) static var deferRan = 0
}
