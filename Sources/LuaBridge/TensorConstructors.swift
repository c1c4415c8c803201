import Foundation
import CLua
import Runtime

/// Tensor constructors and functions on `qv`: `qv.tensor`, `qv.zeros`,
/// `qv.randn`, `qv.arange`, `qv.cat`, `qv.where`, `qv.linear`, `qv.conv2d`,
/// `qv.no_grad`, ...
extension QV {
    public static func openTensors(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(TensorBindings.makeClass())

        func fn(_ name: String, _ doc: String, _ body: @escaping LuaFunctionBody) {
            qv.fn(name, doc: doc) { a in try tensorOp(a) { try body(a) } }
        }
        func withGrad(_ t: Tensor, _ a: Arguments, _ i: Int) throws -> LuaValue {
            if a.isTable(i) {
                let o = try a.options(i, allowed: ["requires_grad"])
                if try o.bool("requires_grad", default: false) { t.requiresGrad = true }
            }
            return .object(t)
        }

        // MARK: from Lua values
        let tensorDoc = """
            qv.tensor(values [, {requires_grad=false}]) -> Tensor
            A tensor from a number (0-d), a nested table of numbers (rectangular: {{1,2},{3,4}} is 2x2), or a tensor (copied).
            """
        let fromValues: LuaFunctionBody = { a in
            let t: Tensor
            if let src = a.objectIfPresent(1, Tensor.self) {
                t = Tensor.noGrad { src.detach().clone() }
            } else {
                let (shape, values) = try a.nestedFloats(1, "values")
                t = try Tensor(values, shape: shape)
            }
            return try withGrad(t, a, 2)
        }
        fn("tensor", tensorDoc, fromValues)
        fn("from_table", tensorDoc.replacingOccurrences(of: "qv.tensor(", with: "qv.from_table("), fromValues)

        // MARK: filled
        func shaped(_ name: String, _ doc: String, _ make: @escaping ([Int]) throws -> Tensor) {
            fn(name, "qv.\(name)(d1, d2, ...) -> Tensor\n\(doc) The shape may also be one table: qv.\(name){d1, d2}.") { a in
                .object(try make(try a.shape(from: 1)))
            }
        }
        shaped("zeros", "A tensor of zeros.") { try Tensor.zeros($0) }
        shaped("ones", "A tensor of ones.") { try Tensor.ones($0) }
        fn("full", "qv.full(shape, value) -> Tensor\nA tensor of shape (a table {d1, d2, ...}) filled with value.") { a in
            guard a.isTable(1) else { throw a.argumentError(1, "shape", "expected a table of sizes (qv.full({2, 3}, value))") }
            let shape = try a.shapeTable(1)
            return .object(try Tensor.full(shape, try a.float(2, "value")))
        }
        fn("rand", """
            qv.rand(d1, d2, ...) -> Tensor
            Uniform values in [0, 1) from the global generator (qv.seed). qv.rand() with no arguments is one number.
            """) { a in
            if a.count == 0 { return .number(GlobalRandom.generator.uniformDouble()) }
            return .object(try Tensor.rand(try a.shape(from: 1)))
        }
        fn("randn", """
            qv.randn(d1, d2, ...) -> Tensor
            Standard normal values from the global generator (qv.seed). qv.randn() with no arguments is one number.
            """) { a in
            if a.count == 0 { return .number(Double(GlobalRandom.generator.normal())) }
            return .object(try Tensor.randn(try a.shape(from: 1)))
        }
        fn("bernoulli", """
            qv.bernoulli(probs) -> Tensor  |  qv.bernoulli(shape, p) -> Tensor
            1 with probability probs (a tensor, elementwise) or p (a number, shape a table), else 0.
            """) { a in
            if let p = a.objectIfPresent(1, Tensor.self) { return .object(p.bernoulli()) }
            guard a.isTable(1) else { throw a.argumentError(1, "shape", "expected qv.Tensor or a table of sizes") }
            let shape = try a.shapeTable(1)
            let p = try a.float(2, "p")
            guard p >= 0, p <= 1 else { throw a.argumentError(2, "p", "must be in [0, 1], got \(p)") }
            return .object(try Tensor.bernoulli(shape, p: p))
        }
        fn("randperm", "qv.randperm(n) -> Tensor\nA random permutation of 1..n (float values) from the global generator.") { a in
            let n = try a.int(1, "n")
            guard n >= 0, n <= 1 << 24 else { throw a.argumentError(1, "n", "must be in 0...2^24") }
            var order = Array(0..<n)
            if n > 1 {
                for i in stride(from: n - 1, to: 0, by: -1) {
                    order.swapAt(i, Int(GlobalRandom.generator.next() % UInt64(i + 1)))
                }
            }
            return .object(Tensor(order.map { Float($0 + 1) }))
        }
        fn("arange", """
            qv.arange([start=0,] stop [, step=1]) -> Tensor
            start, start+step, ... up to but excluding stop (as PyTorch's arange): qv.arange(4) is 0,1,2,3; qv.arange(1, 5) is 1,2,3,4.
            """) { a in
            try a.expectAtMost(3)
            let start: Float, stop: Float
            if a.count <= 1 { start = 0; stop = try a.float(1, "stop") } else {
                start = try a.float(1, "start"); stop = try a.float(2, "stop")
            }
            let step = try a.float(3, "step", default: 1)
            guard step != 0, step.isFinite else { throw a.argumentError(3, "step", "must be finite and non-zero") }
            return .object(try Tensor.arange(start, stop, step: step))
        }
        fn("linspace", "qv.linspace(start, stop, steps) -> Tensor\nsteps evenly spaced values from start to stop inclusive.") { a in
            let n = try a.int(3, "steps")
            guard n >= 0 else { throw a.argumentError(3, "steps", "must be non-negative") }
            return .object(try Tensor.linspace(try a.float(1, "start"), try a.float(2, "stop"), steps: n))
        }
        fn("eye", "qv.eye(n [, m]) -> Tensor\nThe n×m identity matrix (m defaults to n).") { a in
            let n = try a.int(1, "n"), m = try a.int(2, "m", default: n)
            guard n >= 0 else { throw a.argumentError(1, "n", "must be non-negative") }
            guard m >= 0 else { throw a.argumentError(2, "m", "must be non-negative") }
            return .object(try Tensor.eye(n, m))
        }
        func like(_ name: String, _ doc: String, _ make: @escaping (Tensor, Arguments) throws -> Tensor) {
            fn(name, "qv.\(name)(t\(name == "full_like" ? ", value" : "")) -> Tensor\n\(doc)") { a in
                .object(try make(try a.tensor(1, "t"), a))
            }
        }
        like("zeros_like", "Zeros with t's shape.") { t, _ in try Tensor.zeros(t.shape) }
        like("ones_like", "Ones with t's shape.") { t, _ in try Tensor.ones(t.shape) }
        like("full_like", "value with t's shape.") { t, a in try Tensor.full(t.shape, try a.float(2, "value")) }
        like("rand_like", "Uniform [0, 1) values with t's shape.") { t, _ in try Tensor.rand(t.shape) }
        like("randn_like", "Standard normal values with t's shape.") { t, _ in try Tensor.randn(t.shape) }

        // MARK: combining
        fn("cat", "qv.cat({t1, t2, ...} [, dim=1]) -> Tensor\nConcatenation along dim; other sizes must agree.") { a in
            let ts = try a.objects(1, Tensor.self, "tensors")
            guard let first = ts.first else { throw a.argumentError(1, "tensors", "expected a non-empty list of tensors") }
            return .object(try Tensor.cat(ts, dim: try a.optionalDim(2, rank: first.rank) ?? 0))
        }
        fn("stack", "qv.stack({t1, t2, ...} [, dim=1]) -> Tensor\nStacks same-shaped tensors along a new dimension dim.") { a in
            let ts = try a.objects(1, Tensor.self, "tensors")
            guard let first = ts.first else { throw a.argumentError(1, "tensors", "expected a non-empty list of tensors") }
            return .object(try Tensor.stack(ts, dim: try a.optionalDim(2, rank: first.rank + 1) ?? 0))
        }
        fn("where", "qv.where(cond, a, b) -> Tensor\nElementwise cond ~= 0 and a or b (a, b tensors or numbers; broadcasting; differentiable in a and b).") { a in
            .object(try Tensor.where(try a.tensor(1, "cond"), try a.tensorOrNumber(2, "a"), try a.tensorOrNumber(3, "b")))
        }
        fn("matmul", "qv.matmul(a, b) -> Tensor\nMatrix product (same as a:matmul(b)).") { a in
            .object(try a.tensor(1, "a").matmul(try a.tensor(2, "b")))
        }
        fn("linear", "qv.linear(x, weight [, bias]) -> Tensor\nx · weightᵀ + bias with weight [out, in] and bias [out] (PyTorch's layout).") { a in
            .object(try Tensor.linear(try a.tensor(1, "x"), try a.tensor(2, "weight"), try a.optionalTensor(3, "bias")))
        }
        fn("conv2d", """
            qv.conv2d(x, weight [, bias [, {stride=1, padding=0}]]) -> Tensor
            2-D convolution: x [N,Cin,H,W], weight [Cout,Cin,kH,kW], bias [Cout]; stride/padding a number or {h, w}.
            """) { a in
            let o = try a.options(4, allowed: ["stride", "padding"])
            return .object(try Tensor.conv2d(try a.tensor(1, "x"), try a.tensor(2, "weight"), try a.optionalTensor(3, "bias"),
                                             stride: try pairOption(o, "stride", 1), padding: try pairOption(o, "padding", 0)))
        }
        fn("conv_transpose2d", """
            qv.conv_transpose2d(x, weight [, bias [, {stride=1, padding=0, output_padding=0}]]) -> Tensor
            2-D transposed convolution: x [N,Cin,H,W], weight [Cin,Cout,kH,kW] (PyTorch layout), bias [Cout].
            """) { a in
            let o = try a.options(4, allowed: ["stride", "padding", "output_padding"])
            return .object(try Tensor.convTranspose2d(
                try a.tensor(1, "x"), try a.tensor(2, "weight"), try a.optionalTensor(3, "bias"),
                stride: try pairOption(o, "stride", 1), padding: try pairOption(o, "padding", 0),
                outputPadding: try pairOption(o, "output_padding", 0)))
        }
        fn("one_hot", "qv.one_hot(labels, classes) -> Tensor\nOne-hot rows for 1-based class indices (a tensor or a table).") { a in
            let n = try a.int(2, "classes")
            guard n >= 1 else { throw a.argumentError(2, "classes", "must be >= 1") }
            return .object(try a.indexTensor(1, "labels", size: n).oneHot(n))
        }

        // MARK: autograd
        qv.fn("no_grad", doc: """
            qv.no_grad(fn, ...) -> results of fn
            Calls fn(...) with gradient recording off (evaluation, manual updates); the previous mode is restored even when fn fails.
            """) { a in
            let f = try a.function(1, "fn")
            let rest = a.values(from: 2)
            let saved = GradMode.isEnabled
            GradMode.isEnabled = false
            defer { GradMode.isEnabled = saved }
            return .multiple(try f.call(rest))
        }
        qv.fn("grad_enabled", doc: "qv.grad_enabled() -> boolean\nWhether ops record the autograd graph (false inside qv.no_grad).") { a in
            try a.expectAtMost(0)
            return .bool(GradMode.isEnabled)
        }
        qv.fn("set_grad_enabled", doc: "qv.set_grad_enabled(flag) -> previous\nTurns gradient recording on or off globally; returns the previous setting.") { a in
            let f = try a.bool(1, "flag")
            let prev = GradMode.isEnabled
            GradMode.isEnabled = f
            return .bool(prev)
        }
        qv.fn("custom", doc: """
            qv.custom(name, {inputs...}, forward, backward) -> Tensor
            An op with a gradient written in Lua: forward(inputs...) runs with grad off and returns a tensor;
            backward(grad) returns one gradient per input (a tensor of that input's shape, or nil).
            """) { a in
            let name = try a.string(1, "name")
            let inputs = try a.objects(2, Tensor.self, "inputs")
            let fwd = try a.function(3, "forward"), bwd = try a.function(4, "backward")
            let fname = a.function
            return .object(try tensorOp(a) {
                try Tensor.custom(name: name, inputs: inputs, forward: { ts in
                    guard let out = try fwd.call(ts.map { .object($0) }).first?.object(Tensor.self) else {
                        throw LuaError("\(fname): forward of '\(name)' must return a qv.Tensor")
                    }
                    return out
                }, backward: { g in
                    let rs = try bwd.call([.object(g)])
                    return try (0..<inputs.count).map { i -> Tensor? in
                        let v = i < rs.count ? rs[i] : .nil
                        if v.isNil { return nil }
                        guard let t = v.object(Tensor.self) else {
                            throw LuaError("\(fname): backward of '\(name)' returned a \(v.typeName) for input \(i + 1), expected a qv.Tensor or nil")
                        }
                        return t
                    }
                })
            })
        }
        qv.fn("is_tensor", doc: "qv.is_tensor(x) -> boolean\nWhether x is a qv.Tensor.") { a in
            .bool(a.objectIfPresent(1, Tensor.self) != nil)
        }
    }
}

/// An option that is one integer or a table {h, w}.
func pairOption(_ o: Options, _ key: String, _ d: Int) throws -> [Int] {
    guard o.has(key) else { return [d] }
    if case .ref(let r) = o.value(key), r.typeName == "table" {
        let raw = r.arrayValues()
        let vs = raw.compactMap(\.intValue)
        guard vs.count == raw.count, vs.count == 1 || vs.count == 2 else {
            throw ArgumentError("bad option '\(key)' to '\(o.args.function)' (expected an integer or {h, w})")
        }
        return vs
    }
    return [try o.int(key, default: d)]
}
