import CLua
import Runtime

/// `qv.optim`: Adam and SGD over a Lua array of tensors, and gradient
/// clipping.
///
///     local opt = qv.optim.adam({W1, b1, W2, b2}, {lr = 1e-3})
///     opt:zero_grad(); loss:backward(); opt:step()
///     opt.lr = opt.lr * 0.5
///     qv.save("opt.safetensors", opt:state())  -- and opt:load_state(qv.load(...))
extension QV {
    public static func openOptim(_ state: LuaState) {
        let optim = state.module("qv.optim", doc: """
            qv.optim — optimizers over a Lua array of tensors (leaf tensors with requires_grad).
            qv.optim.adam(params, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, decoupled=false})
            qv.optim.sgd(params, {lr=, momentum=0, weight_decay=0})
            qv.optim.clip_grad_norm(params, max_norm) -> total norm
            """)
        optim.add(optimizerClass(Adam.self, "qv.optim.Adam", doc: "qv.optim.Adam — Adam with bias correction (qv.optim.adam).")
            .property("betas", doc: "{beta1, beta2}", get: { o in .numbers([o.beta1, o.beta2]) }, set: { o, a in
                let b = try a.floats(1)
                guard b.count == 2 else { throw a.argumentError(1, nil, "expected {beta1, beta2}") }
                o.beta1 = b[0]; o.beta2 = b[1]
            })
            .property("eps", doc: "epsilon in the denominator", get: { o in .number(Double(o.eps)) },
                      set: { o, a in o.eps = try a.float(1) })
            .property("weight_decay", doc: "L2 (or decoupled) weight decay", get: { o in .number(Double(o.weightDecay)) },
                      set: { o, a in o.weightDecay = try a.float(1) })
            .property("step_count", doc: "number of steps taken", get: { o in .int(o.stepCount) }))
        optim.add(optimizerClass(SGD.self, "qv.optim.SGD", doc: "qv.optim.SGD — stochastic gradient descent with momentum (qv.optim.sgd).")
            .property("momentum", doc: "momentum factor", get: { o in .number(Double(o.momentum)) },
                      set: { o, a in o.momentum = try a.float(1) })
            .property("weight_decay", doc: "L2 weight decay", get: { o in .number(Double(o.weightDecay)) },
                      set: { o, a in o.weightDecay = try a.float(1) }))

        optim.fn("adam", doc: """
            qv.optim.adam(params [, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, decoupled=false}]) -> qv.optim.Adam
            Adam over params (a Lua array of tensors). decoupled=true decays weights directly (AdamW).
            """) { a in
            let ps = try params(a)
            let o = try a.options(2, allowed: ["lr", "betas", "eps", "weight_decay", "decoupled"])
            var betas: (Float, Float) = (0.9, 0.999)
            if o.has("betas") {
                guard case .ref(let r) = o.value("betas"), r.typeName == "table" else {
                    throw ArgumentError("bad option 'betas' to '\(a.function)' (expected {beta1, beta2})")
                }
                let b = r.arrayValues().compactMap(\.doubleValue)
                guard b.count == 2, b.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
                    throw ArgumentError("bad option 'betas' to '\(a.function)' (expected {beta1, beta2} in [0, 1))")
                }
                betas = (Float(b[0]), Float(b[1]))
            }
            let lr = try o.float("lr", default: 1e-3)
            guard lr >= 0 else { throw ArgumentError("bad option 'lr' to '\(a.function)' (must be >= 0)") }
            return .object(try tensorOp(a) {
                try Adam(params: ps, lr: lr, betas: betas, eps: try o.float("eps", default: 1e-8),
                         weightDecay: try o.float("weight_decay", default: 0), decoupled: try o.bool("decoupled", default: false))
            })
        }
        optim.fn("sgd", doc: """
            qv.optim.sgd(params, {lr=, momentum=0, weight_decay=0}) -> qv.optim.SGD
            SGD over params (a Lua array of tensors); lr is required.
            """) { a in
            let ps = try params(a)
            let o = try a.options(2, allowed: ["lr", "momentum", "weight_decay"])
            guard let lr = try o.optionalFloat("lr") else { throw a.argumentError(2, "options", "lr is required") }
            guard lr >= 0 else { throw ArgumentError("bad option 'lr' to '\(a.function)' (must be >= 0)") }
            return .object(try tensorOp(a) {
                try SGD(params: ps, lr: lr, momentum: try o.float("momentum", default: 0),
                        weightDecay: try o.float("weight_decay", default: 0))
            })
        }
        optim.fn("clip_grad_norm", doc: """
            qv.optim.clip_grad_norm(params, max_norm) -> number
            Scales the gradients of params so that their joint L2 norm is at most max_norm; returns the norm before clipping.
            """) { a in
            let ps = try a.objects(1, Tensor.self, "params")
            let m = try a.float(2, "max_norm")
            guard m > 0 else { throw a.argumentError(2, "max_norm", "must be positive") }
            return .number(Double(try tensorOp(a) { try clipGradNorm(ps, maxNorm: m) }))
        }
    }

    static func params(_ a: Arguments) throws -> [Tensor] {
        let ps = try a.objects(1, Tensor.self, "params")
        for (i, p) in ps.enumerated() where !p.isLeaf {
            throw a.argumentError(1, "params", "parameter \(i + 1) is not a leaf tensor (grad_fn=\(p.gradFunctionName ?? "?")); optimize leaves")
        }
        return ps
    }

    static func optimizerClass<O: Optimizer>(_ type: O.Type, _ name: String, doc: String) -> LuaClass<O> {
        func m(_ cls: LuaClass<O>, _ mname: String, _ mdoc: String, _ body: @escaping (O, Arguments) throws -> LuaValue) {
            cls.method(mname, doc: mdoc) { o, a in try tensorOp(a) { try body(o, a) } }
        }
        let cls = LuaClass<O>(name, doc: doc)
        m(cls, "step", "opt:step()\nOne update from the parameters' .grad (parameters without a gradient are skipped).") { o, a in
            try a.expectAtMost(0)
            try o.step()
            return .none
        }
        m(cls, "zero_grad", "opt:zero_grad()\nClears every parameter's gradient (sets .grad to nil).") { o, _ in
            o.zeroGrad()
            return .none
        }
        m(cls, "state", "opt:state() -> {name = Tensor, ...}\nThe optimizer's buffers by name (e.g. \"exp_avg.0\", \"step\"), for checkpoints (qv.save).") { o, _ in
            .table(o.state().mapValues { .object($0) })
        }
        m(cls, "load_state", "opt:load_state(tbl)\nRestores buffers saved with opt:state() (e.g. the tensors returned by qv.load).") { o, a in
            let pairs = try a.stringKeyedTensors(1, "state")
            try o.loadState(Dictionary(pairs, uniquingKeysWith: { x, _ in x }))
            return .none
        }
        cls.property("lr", doc: "learning rate used by the next step (settable)", get: { o in .number(Double(o.lr)) },
                     set: { o, a in
                         let lr = try a.float(1)
                         guard lr >= 0, lr.isFinite else { throw a.argumentError(1, nil, "learning rate must be finite and >= 0") }
                         o.lr = lr
                     })
        cls.property("params", doc: "the parameters (a Lua array of tensors)", get: { o in .array(o.params.map { .object($0) }) })
        cls.tostring { o in "\(name)(\(o.params.count) params, lr=\(o.lr))" }
        cls.extraBytes { o in MemoryFootprint.bytes(o) }
        return cls
    }
}

extension Arguments {
    /// A table with string keys and tensor values: {name = Tensor, ...}.
    /// Keys that are not strings or values that are not tensors are errors.
    func stringKeyedTensors(_ i: Int, _ name: String) throws -> [(String, Tensor)] {
        guard isTable(i) else { throw typeError(i, name, expected: "table of tensors") }
        let idx = stackIndex(i)
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        var out: [(String, Tensor)] = []
        lua_pushnil(L)
        while lua_next(L, idx) != 0 {
            guard lua_type(L, -2) == LUA_TSTRING else {
                throw argumentError(i, name, "keys must be strings, got \(state.typeName(at: -2, L))")
            }
            // Invalid UTF-8 would be replaced by U+FFFD, changing the name
            // (and making distinct names collide).
            guard let k = state.utf8String(at: -2, L) else {
                throw argumentError(i, name, "name '\(state.string(at: -2, L) ?? "")' is not valid UTF-8")
            }
            guard case .ok(let t) = state.checkedObject(at: -1, L, Tensor.self) else {
                throw argumentError(i, name, "value of '\(k)' must be a qv.Tensor, got \(state.typeName(at: -1, L))")
            }
            out.append((k, t))
            lua_settop(L, -2)
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// A table with string keys and string values (safetensors metadata).
    /// Keys and values must be valid UTF-8: the file stores JSON text, and
    /// `qv.load` returns strings, so anything else could not come back
    /// unchanged (numbers would come back as strings, invalid bytes as
    /// U+FFFD).
    func stringKeyedStrings(_ i: Int, _ name: String) throws -> [String: String] {
        if isNil(i) { return [:] }
        guard isTable(i) else { throw typeError(i, name, expected: "table of strings") }
        let idx = stackIndex(i)
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        var out: [String: String] = [:]
        lua_pushnil(L)
        while lua_next(L, idx) != 0 {
            guard lua_type(L, -2) == LUA_TSTRING else {
                throw argumentError(i, name, "keys must be strings, got \(state.typeName(at: -2, L))")
            }
            guard let k = state.utf8String(at: -2, L) else {
                throw argumentError(i, name, "key \(state.string(at: -2, L).map { "'\($0)'" } ?? "") is not valid UTF-8")
            }
            guard lua_type(L, -1) == LUA_TSTRING else {
                throw argumentError(i, name, "value of '\(k)' must be a string (qv.load returns strings; use tostring), got \(state.typeName(at: -1, L))")
            }
            guard let v = state.utf8String(at: -1, L) else {
                throw argumentError(i, name, "value of '\(k)' is not valid UTF-8")
            }
            out[k] = v
            lua_settop(L, -2)
        }
        return out
    }
}
