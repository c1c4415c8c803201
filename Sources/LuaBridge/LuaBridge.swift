import CLua
import CSupport
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// Version of qvlua and its `qv` module.
public enum QV {
    public static let version = "0.1.0"
    /// "Lua 5.4.4"
    public static var luaRelease: String { String(cString: qvL_release()) }

    /// Creates a state with the standard libraries, the prelude and the
    /// core `qv` bindings (later layers add theirs with `state.module("qv")`).
    public static func newState(ignoreEnvironment: Bool = false) -> LuaState {
        let state = LuaState(ignoreEnvironment: ignoreEnvironment)
        openCore(state)
        openTensors(state)
        openOptim(state)
        openSerialization(state)
        openData(state)
        openUtil(state)
        openLock(state)       // qv.lock (LockBindings.swift)
        openDist(state)       // qv.dist (DistBindings.swift)
        openOutput(state)
        openBoltzmann(state)  // qv.graph, qv.bm, qv.sampler (GraphBindings.swift ...)
        openNN(state)         // qv.nn (NNBindings.swift)
        openPrior(state)      // qv.prior (PriorBindings.swift)
        openQuantum(state)    // qv.quantum, qv.sampler.pimc, qv.prior.quantum (QuantumBindings.swift)
        openVAE(state)        // qv.vae (VAEBindings.swift)
        return state
    }

    /// The core bindings: version, RNG seeding, clock, threads.
    public static func openCore(_ state: LuaState) {
        let qv = state.module("qv", doc: """
            qv — the qvlua engine: tensors, models and samplers.
            help(qv.<name>) documents each function; help(x) documents an object.
            """)
        _ = try? qv.set("version", .string(version), doc: "qv.version — the qvlua version string")
        qv.fn("seed", doc: """
            qv.seed(n)
            Reseeds the global random generator (xoshiro256++). The same seed gives the same run.
            """) { args in
            let n = try args.int(1, "n")
            GlobalRandom.seed(UInt64(bitPattern: Int64(n)))
            return .none
        }
        qv.fn("rand", doc: """
            qv.rand() -> number
            A uniform random number in [0, 1) from the global generator (53 bits).
            """) { args in
            try args.expectAtMost(0)
            return .number(GlobalRandom.generator.uniformDouble())
        }
        qv.fn("randn", doc: """
            qv.randn() -> number
            A standard normal random number from the global generator.
            """) { args in
            try args.expectAtMost(0)
            return .number(Double(GlobalRandom.generator.normal()))
        }
        qv.fn("clock", doc: """
            qv.clock() -> seconds
            Monotonic wall-clock time in seconds (for timing; os.clock() is CPU time).
            """) { _ in
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return .number(Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9)
        }
        qv.fn("sleep", doc: """
            qv.sleep(seconds)
            Sleeps; Ctrl-C interrupts it (raises "interrupted").
            """) { args in
            let s = try args.number(1, "seconds")
            guard s >= 0, s.isFinite else { throw args.argumentError(1, "seconds", "must be a finite number >= 0") }
            var left = s
            while left > 0 {
                try Interrupt.check()
                let step = min(left, 0.01)
                usleep(UInt32(step * 1e6))
                left -= step
            }
            try Interrupt.check()
            return .none
        }
        qv.fn("threads", doc: """
            qv.threads([n]) -> n
            Gets, or sets, the number of worker threads of parallel kernels.
            """) { args in
            if let n = try args.optionalInt(1, "n") {
                guard n >= 1, n <= 1024 else { throw args.argumentError(1, "n", "must be in 1...1024") }
                Parallel.threads = n
            }
            return .int(Parallel.threads)
        }
        qv.fn("blas", doc: """
            qv.blas() -> string
            The OpenBLAS core type in use (e.g. "SkylakeX", "Haswell").
            """) { _ in .string(BLASKernels.coreName) }
        qv.add(generatorClass)
        qv.fn("generator", doc: """
            qv.generator([seed]) -> qv.Generator
            An independent random stream: seeded with `seed`, or split from the global generator.
            """) { args in
            if let s = try args.optionalInt(1, "seed") {
                return .object(RandomStream(Generator(seed: UInt64(bitPattern: Int64(s)))))
            }
            return .object(RandomStream(GlobalRandom.split()))
        }
        qv.fn("interrupted", doc: """
            qv.interrupted() -> boolean
            Whether Ctrl-C is pending (does not clear it): lets a Lua loop stop cleanly.
            """) { _ in .bool(Interrupt.isPending) }
    }
}

/// A random stream owned by Lua (`qv.generator`).
final class RandomStream {
    var generator: Generator
    init(_ g: Generator) { generator = g }
}

let generatorClass = LuaClass<RandomStream>("qv.Generator", doc: """
    qv.Generator — an independent xoshiro256++ random stream (qv.generator([seed])).
    """)
    .method("rand", doc: "g:rand() -> number\nUniform in [0, 1).") { g, args in
        try args.expectAtMost(0)
        return .number(g.generator.uniformDouble())
    }
    .method("randn", doc: "g:randn() -> number\nStandard normal.") { g, args in
        try args.expectAtMost(0)
        return .number(Double(g.generator.normal()))
    }
    .method("split", doc: "g:split() -> qv.Generator\nA new stream independent of this one (advances g).") { g, _ in
        .object(RandomStream(g.generator.split()))
    }
    .tostring { _ in "qv.Generator" }
