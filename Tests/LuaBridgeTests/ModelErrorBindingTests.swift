import Foundation
import LuaBridge
import XCTest

/// Model errors reach Lua mechanically: the field's snake_case name as the
/// argument or option of the call, the Model's message unchanged.
final class ModelErrorBindingTests: XCTestCase {
    var state: LuaState!
    override func setUp() { state = QV.newState() }
    override func tearDown() { state.close(); state = nil }

    func testFieldsBecomeLuaArgumentsAndOptions() throws {
        try state.run("""
            p = qv.prior.new(qv.graph.chimera(1, 1, 4), {samples = 16})
            m = qv.vae.dense{prior = p, encoder_hidden = {8}, decoder_hidden = {8}}
            x = qv.rand(2, 784):bernoulli()
            """)
        // camelCase fields → snake_case options, and renamed ones (klWeight → kl)
        XCTAssertTrue(state.errorOf("m:decode_chain(2, {burn_in = -1})").contains("bad option 'burn_in' to 'qv.VAE:decode_chain' (must be in 0..100000000, got -1)"))
        XCTAssertTrue(state.errorOf("m:loss(x, {kl = -1})").contains("bad option 'kl' to 'qv.VAE:loss' (the KL weight must be finite and >= 0"))
        XCTAssertTrue(state.errorOf("m:loss(x)").contains("bad option 'negative_phase' to 'qv.VAE:loss'"))
        // a field that is a positional argument
        XCTAssertTrue(state.errorOf("m:loss(qv.rand(2, 5))").contains("bad argument #1 to 'qv.VAE:loss' (x: expected images [B, 784]"))
        XCTAssertTrue(state.errorOf("qv.vae.evaluate(m, x, {batch = 0, logz = 1})").contains("bad option 'batch' to 'qv.vae.evaluate'"))
        XCTAssertTrue(state.errorOf("p:clamp{weights = -1}").contains("bad option 'weights' to 'qv.Prior:clamp'"))
        XCTAssertTrue(state.errorOf("qv.sampler.annealer{anneal_sweeps = 0}").contains("bad option 'anneal_sweeps' to 'qv.sampler.annealer'"))
        // no Swift spelling leaks
        for code in ["m:decode_chain(2, {burn_in = -1})", "p:negative_phase{beta_eff_rate = -1}", "qv.sampler.pa{ess_threshold = 3}"] {
            let msg = state.errorOf(code)
            XCTAssertNil(msg.range(of: "[a-z][A-Z]", options: .regularExpression), msg)
        }
    }
}
