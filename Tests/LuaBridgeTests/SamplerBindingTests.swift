import CSupport
import Foundation
import LuaBridge
import Runtime
import XCTest

/// Ctrl-C inside samplers called from Lua, and the Boltzmann bindings from Swift.
final class SamplerBindingTests: XCTestCase {
    var state: LuaState!

    override func setUp() {
        _ = qv_take_interrupt()
        state = QV.newState()
        state.module("qv").fn("raise_interrupt") { _ in
            qv_raise_interrupt()
            return .none
        }
    }

    override func tearDown() {
        _ = qv_take_interrupt()
        state.close()
        state = nil
    }

    func testInterruptInsideSwiftSamplerIsLuaError() throws {
        try state.run("bm = qv.bm.random(qv.graph.chimera(4)); s = qv.sampler.gibbs{sweeps = 100000}")
        qv_raise_interrupt()
        let t0 = Date()
        XCTAssertEqual(state.errorOf("s:sample(bm, 64)"), "(swift):1: interrupted")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
        XCTAssertEqual(qv_interrupt_pending(), 0)
        // the state is fine afterwards
        XCTAssertEqual(try state.run("return #qv.sampler.gibbs{sweeps = 1}:sample(bm, 3)").first?.intValue, 3)
    }

    func testInterruptKillsCommandSampler() throws {
        try state.run("bm = qv.bm.random(qv.graph.complete(3)); s = qv.sampler.command{'sh', '-c', 'sleep 30', timeout = 60}")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { qv_raise_interrupt() }
        let t0 = Date()
        XCTAssertEqual(state.errorOf("s:sample(bm, 2)"), "(swift):1: interrupted")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
    }

    func testInterruptInsideLuaSampler() throws {
        state.enableInterrupts(every: 100)
        try state.run("""
            bm = qv.bm.random(qv.graph.complete(3))
            s = qv.sampler.lua(function(bm, n) qv.raise_interrupt(); while true do end end)
            """)
        XCTAssertTrue(state.errorOf("s:sample(bm, 2)").hasSuffix("interrupted"))
        XCTAssertEqual(try state.run("return 1 + 1").first?.intValue, 2)
    }

    func testSamplesFromSwift() throws {
        let r = try state.run("""
            qv.seed(1)
            local bm = qv.bm.random(qv.graph.chimera(1, 1, 2))
            local s = qv.sampler.exact():sample(bm, 10)
            return #s, s.units, s.stats.logZ, bm:logz()
            """)
        XCTAssertEqual(r[0].intValue, 10)
        XCTAssertEqual(r[1].intValue, 4)
        XCTAssertEqual(r[2].doubleValue!, r[3].doubleValue!, accuracy: 1e-9)
    }
}
