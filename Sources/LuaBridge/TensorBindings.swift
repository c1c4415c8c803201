import CLua
import Runtime

/// `qv.Tensor`: every public Tensor operation as a method, Lua style
/// (`t:sum(2)`, `t:log_softmax(-1)`), with 1-based dimensions and indices
/// (see TensorSupport.swift), operators through metatables
/// (TensorOperators.swift), indexing (TensorIndexing.swift) and tostring
/// (TensorFormat.swift).
enum TensorBindings {
    typealias Body = (Tensor, Arguments) throws -> LuaValue

    static func makeClass() -> LuaClass<Tensor> {
        let cls = LuaClass<Tensor>("qv.Tensor", doc: """
            qv.Tensor — an n-dimensional float32 array with autograd.
            Constructors: qv.tensor{{1,2},{3,4}}, qv.zeros(2,3), qv.randn(100,784), qv.arange(10) ...
            Operators: + - * / ^ unary-, numbers on either side; #t is the size of dimension 1;
            == is identity (use t:eq(u) elementwise). Dimensions and indices are 1-based
            (negative counts from the end): t[i], t[{{1,3}, 2}], t:sum(2), t:max(2) -> values, indices.
            See docs/TENSORS.md.
            """)
        func m(_ name: String, _ doc: String, _ body: @escaping Body) {
            cls.method(name, doc: doc) { t, a in try tensorOp(a) { try body(t, a) } }
        }
        func unary(_ name: String, _ doc: String, _ f: @escaping (Tensor) -> Tensor) {
            m(name, "t:\(name)() -> Tensor\n\(doc)") { t, a in try a.expectAtMost(0); return .object(f(t)) }
        }

        // MARK: shape and information
        m("size", "t:size([dim]) -> table or number\nThe shape as a table {d1, d2, ...}, or the size of dimension dim.") { t, a in
            if let d = try a.optionalDim(1, rank: t.rank) {
                guard t.rank > 0 else { throw a.argumentError(1, "dim", "a 0-dimensional tensor has no dimensions") }
                return .int(t.shape[d])
            }
            return .ints(t.shape)
        }
        m("dim", "t:dim() -> number\nNumber of dimensions (0 for a scalar).") { t, _ in .int(t.rank) }
        m("numel", "t:numel() -> number\nNumber of elements.") { t, _ in .int(t.count) }
        m("nelement", "t:nelement() -> number\nNumber of elements (Torch7 name of numel).") { t, _ in .int(t.count) }
        m("is_contiguous", "t:is_contiguous() -> boolean\nWhether the elements are row-major without gaps.") { t, _ in .bool(t.isContiguous) }
        m("item", "t:item() -> number\nThe value of a one-element tensor.") { t, _ in .number(Double(try t.item())) }
        m("totable", "t:totable() -> table or number\nNested Lua tables of the values (a number for a 0-d tensor).") { t, _ in
            toTable(t)
        }
        m("tolist", "t:tolist() -> table or number\nSame as t:totable().") { t, _ in toTable(t) }
        m("has_nan", "t:has_nan() -> boolean\nWhether any element is NaN.") { t, _ in
            .bool(t.hasNonFinite && t.toArray().contains(where: \.isNaN))
        }
        m("all_finite", "t:all_finite() -> boolean\nWhether no element is NaN or ±inf.") { t, _ in .bool(!t.hasNonFinite) }
        m("equal", "t:equal(u) -> boolean\nSame shape and exactly the same values.") { t, a in
            let u = try a.tensor(1, "other")
            return .bool(t.shape == u.shape && t.toArray() == u.toArray())
        }
        m("allclose", "t:allclose(u [, rtol=1e-5 [, atol=1e-8]]) -> boolean\n|t - u| <= atol + rtol·|u| everywhere (shapes broadcast).") { t, a in
            let u = try a.tensor(1, "other")
            let rtol = try a.float(2, "rtol", default: 1e-5), atol = try a.float(3, "atol", default: 1e-8)
            return .bool(try Tensor.noGrad {
                let bad = try (t - u).abs().gt(u.abs().mul(rtol).add(atol))
                return try bad.sum().item() == 0 && !(t.hasNonFinite || u.hasNonFinite)
            })
        }

        // MARK: views
        m("view", "t:view(d1, d2, ...) -> Tensor\nA view with a new shape (one size may be -1); no copy. Also t:view{d1, d2}.") { t, a in
            .object(try t.view(try a.shape(from: 1, allowInfer: true)))
        }
        m("reshape", "t:reshape(d1, d2, ...) -> Tensor\nLike view, copying when the layout requires it.") { t, a in
            .object(try t.reshape(try a.shape(from: 1, allowInfer: true)))
        }
        m("flatten", "t:flatten([start_dim=1 [, end_dim=-1]]) -> Tensor\nMerges dimensions start_dim..end_dim into one.") { t, a in
            let s = try a.optionalDim(1, "start_dim", rank: t.rank) ?? 0
            let e = try a.optionalDim(2, "end_dim", rank: t.rank) ?? Swift.max(t.rank - 1, 0)
            return .object(try t.flatten(start: s, end: e))
        }
        m("unsqueeze", "t:unsqueeze(dim) -> Tensor\nInserts a dimension of size 1 at dim (1..dim()+1, or negative).") { t, a in
            .object(try t.unsqueeze(try a.dim(1, rank: t.rank + 1)))
        }
        m("squeeze", "t:squeeze([dim]) -> Tensor\nRemoves dimensions of size 1 (all, or only dim).") { t, a in
            .object(try t.squeeze(try a.optionalDim(1, rank: t.rank)))
        }
        m("transpose", "t:transpose(d1, d2) -> Tensor\nSwaps two dimensions (a view).") { t, a in
            .object(try t.transpose(try a.dim(1, "d1", rank: t.rank), try a.dim(2, "d2", rank: t.rank)))
        }
        m("t", "t:t() -> Tensor\nTranspose of a 2-D tensor (a view).") { t, a in try a.expectAtMost(0); return .object(try t.t()) }
        m("permute", "t:permute(d1, d2, ...) -> Tensor\nReorders the dimensions (a view). Also t:permute{...}.") { t, a in
            let order = try a.intList(from: 1, "dims").enumerated().map { k, d in
                try a.checkDim(d, a.isTable(1) ? 1 : k + 1, "dims", rank: t.rank)
            }
            return .object(try t.permute(order))
        }
        m("narrow", "t:narrow(dim, start, length) -> Tensor\nElements start..start+length-1 (1-based) along dim (a view).") { t, a in
            let d = try a.dim(1, rank: t.rank)
            let n = t.rank == 0 ? 1 : t.shape[d]
            var s = try a.int(2, "start"); let len = try a.int(3, "length")
            if s < 0 { s += n + 1 }
            guard s >= 1, s <= n + 1 else { throw a.argumentError(2, "start", "index \(s) is out of range for dimension \(d + 1) of size \(n)") }
            guard len >= 0, len <= n - (s - 1) else {   // s - 1 + len could overflow
                throw a.argumentError(3, "length", "\(s)+\(len)-1 exceeds the size \(n) of dimension \(d + 1)")
            }
            return .object(try t.narrow(d, start: s - 1, length: len))
        }
        m("select", "t:select(dim, index) -> Tensor\nThe slice at index (1-based, negative from the end) along dim; removes dim (a view).") { t, a in
            let d = try a.dim(1, rank: t.rank)
            guard t.rank > 0 else { throw a.argumentError(1, "dim", "cannot select from a 0-dimensional tensor") }
            let i = try TensorIndexing.index(try a.int(2, "index"), dim: d, size: t.shape[d], a, 2)
            return .object(try t.select(d, i))
        }
        m("expand", "t:expand(d1, d2, ...) -> Tensor\nBroadcasts size-1 dimensions to a larger shape (-1 keeps a size); a view.") { t, a in
            .object(try t.expand(try a.shape(from: 1, allowInfer: true)))
        }
        m("expand_as", "t:expand_as(u) -> Tensor\nt:expand(u:size()).") { t, a in .object(try t.expandAs(try a.tensor(1, "other"))) }
        m("contiguous", "t:contiguous() -> Tensor\nt itself if contiguous, else a contiguous copy.") { t, _ in .object(t.contiguous()) }
        m("clone", "t:clone() -> Tensor\nA copy (differentiable).") { t, _ in .object(t.clone()) }
        m("detach", "t:detach() -> Tensor\nThe same storage, cut from the autograd graph.") { t, _ in .object(t.detach()) }

        // MARK: elementwise
        unary("neg", "Elementwise -t.") { $0.neg() }
        unary("exp", "Elementwise e^t.") { $0.exp() }
        unary("log", "Elementwise natural logarithm.") { $0.log() }
        unary("log1p", "Elementwise log(1 + t), accurate for small t.") { $0.log1p() }
        unary("sigmoid", "Elementwise 1 / (1 + e^-t).") { $0.sigmoid() }
        unary("softplus", "Elementwise log(1 + e^t), stable.") { $0.softplus() }
        unary("log_sigmoid", "Elementwise log σ(t), stable.") { $0.logSigmoid() }
        unary("tanh", "Elementwise tanh.") { $0.tanh() }
        unary("relu", "Elementwise max(t, 0).") { $0.relu() }
        unary("sqrt", "Elementwise square root.") { $0.sqrt() }
        unary("abs", "Elementwise |t|.") { $0.abs() }
        unary("square", "Elementwise t².") { $0.square() }
        unary("sign", "Elementwise sign (-1, 0, 1); no gradient.") { $0.sign() }
        unary("floor", "Elementwise floor; no gradient.") { $0.floor() }
        unary("round", "Elementwise rounding to the nearest integer; no gradient.") { $0.round() }
        m("logit", "t:logit([eps=0]) -> Tensor\nElementwise log(t / (1 - t)), t clamped to [eps, 1-eps].") { t, a in
            .object(t.logit(eps: try a.float(1, "eps", default: 0)))
        }
        m("pow", "t:pow(e) -> Tensor\nElementwise t^e for a number e (also t ^ e).") { t, a in .object(t.pow(try a.float(1, "exponent"))) }
        m("clamp", "t:clamp([min [, max]]) -> Tensor\nElementwise clamping (nil: no bound).") { t, a in
            .object(t.clamp(min: try a.float(1, "min", default: -.infinity), max: try a.float(2, "max", default: .infinity)))
        }
        func binary(_ name: String, _ doc: String, _ num: @escaping (Tensor, Float) -> Tensor,
                    _ ten: @escaping (Tensor, Tensor) throws -> Tensor) {
            m(name, "t:\(name)(x) -> Tensor\n\(doc) x is a tensor (broadcast) or a number.") { t, a in
                try a.expectAtMost(1)
                if a.isNumber(1) { return .object(num(t, try a.float(1, "other"))) }
                return .object(try ten(t, try a.tensorOrNumber(1, "other")))
            }
        }
        binary("add", "Elementwise t + x.", { $0.add($1) }, { try $0.add($1) })
        binary("sub", "Elementwise t - x.", { $0.sub($1) }, { try $0.sub($1) })
        binary("mul", "Elementwise t · x.", { $0.mul($1) }, { try $0.mul($1) })
        binary("div", "Elementwise t / x.", { $0.div($1) }, { try $0.div($1) })
        binary("maximum", "Elementwise max(t, x).", { $0.maximum($1) }, { try $0.maximum($1) })
        binary("minimum", "Elementwise min(t, x).", { $0.minimum($1) }, { try $0.minimum($1) })
        binary("eq", "Elementwise t == x as 1/0.", { $0.eq($1) }, { try $0.eq($1) })
        binary("ne", "Elementwise t ~= x as 1/0.", { $0.ne($1) }, { try $0.ne($1) })
        binary("lt", "Elementwise t < x as 1/0.", { $0.lt($1) }, { try $0.lt($1) })
        binary("le", "Elementwise t <= x as 1/0.", { $0.le($1) }, { try $0.le($1) })
        binary("gt", "Elementwise t > x as 1/0.", { $0.gt($1) }, { try $0.gt($1) })
        binary("ge", "Elementwise t >= x as 1/0.", { $0.ge($1) }, { try $0.ge($1) })
        m("masked_fill", "t:masked_fill(mask, value) -> Tensor\nA copy with value where mask ~= 0 (mask broadcasts to t).") { t, a in
            .object(try t.maskedFill(try a.tensor(1, "mask"), try a.float(2, "value")))
        }
        m("where", "t:where(cond, other) -> Tensor\nqv.where(cond, t, other).") { t, a in
            .object(try Tensor.where(try a.tensor(1, "cond"), t, try a.tensorOrNumber(2, "other")))
        }
        m("bce_with_logits", "t:bce_with_logits(target) -> Tensor\nElementwise binary cross-entropy of logits t against target (stable; not reduced).") { t, a in
            .object(try t.bceWithLogits(try a.tensorOrNumber(1, "target")))
        }

        // MARK: reductions
        func reduce(_ name: String, _ doc: String, _ all: @escaping (Tensor, Bool) throws -> Tensor,
                    _ some: @escaping (Tensor, [Int], Bool) throws -> Tensor) {
            m(name, "t:\(name)([dim [, keepdim=false]]) -> Tensor\n\(doc) dim may be a table of dimensions.") { t, a in
                let keep = try a.flag(2, "keepdim", default: false)
                if a.isNil(1) { return .object(try all(t, keep)) }
                return .object(try some(t, try a.dims(1, rank: t.rank), keep))
            }
        }
        reduce("sum", "Sum of all elements (0-d), or along dim.", { try $0.sum(nil, keepdim: $1) }, { try $0.sum(dims: $1, keepdim: $2) })
        reduce("mean", "Mean of all elements (0-d), or along dim.", { try $0.mean(nil, keepdim: $1) }, { try $0.mean(dims: $1, keepdim: $2) })
        func spread(_ name: String, _ doc: String, _ f: @escaping (Tensor, Int?, Bool, Bool) throws -> Tensor) {
            m(name, "t:\(name)([dim [, unbiased=true [, keepdim=false]]]) -> Tensor\n\(doc)") { t, a in
                let d = try a.optionalDim(1, rank: t.rank)
                return .object(try f(t, d, try a.flag(2, "unbiased", default: true), try a.flag(3, "keepdim", default: false)))
            }
        }
        spread("var", "Variance of all elements or along dim (n-1 in the denominator unless unbiased=false).") {
            try $0.variance($1, unbiased: $2, keepdim: $3)
        }
        spread("std", "Standard deviation of all elements or along dim.") { try $0.std($1, unbiased: $2, keepdim: $3) }
        func extreme(_ name: String, isMax: Bool) {
            m(name, "t:\(name)([dim [, keepdim=false]]) -> Tensor [, indices]\n\(isMax ? "Maximum" : "Minimum") of all elements (0-d); with dim: values and 1-based indices along dim.") { t, a in
                guard let d = try a.optionalDim(1, rank: t.rank) else {
                    try a.expectAtMost(0)
                    return .object(isMax ? try t.max() : try t.min())
                }
                let keep = try a.flag(2, "keepdim", default: false)
                let r = isMax ? try t.max(d, keepdim: keep) : try t.min(d, keepdim: keep)
                return .values(.object(r.values), .object(oneBased(r.indices)))
            }
        }
        extreme("max", isMax: true)
        extreme("min", isMax: false)
        func argExtreme(_ name: String, isMax: Bool) {
            m(name, "t:\(name)([dim [, keepdim=false]]) -> Tensor or number\n1-based index of the \(isMax ? "maximum" : "minimum") along dim (a tensor), or of all elements in row-major order (a number).") { t, a in
                guard let d = try a.optionalDim(1, rank: t.rank) else {
                    let flat = try t.reshape([-1])
                    let r = isMax ? try flat.max(0) : try flat.min(0)
                    return .int(Int(try r.indices.item()) + 1)
                }
                let keep = try a.flag(2, "keepdim", default: false)
                let r = isMax ? try t.max(d, keepdim: keep) : try t.min(d, keepdim: keep)
                return .object(oneBased(r.indices))
            }
        }
        argExtreme("argmax", isMax: true)
        argExtreme("argmin", isMax: false)
        m("logsumexp", "t:logsumexp(dim [, keepdim=false]) -> Tensor\nlog Σ exp(t) along dim, stable.") { t, a in
            .object(try t.logsumexp(try a.dim(1, rank: t.rank), keepdim: try a.flag(2, "keepdim", default: false)))
        }
        m("softmax", "t:softmax(dim) -> Tensor\nSoftmax along dim.") { t, a in .object(try t.softmax(try a.dim(1, rank: t.rank))) }
        m("log_softmax", "t:log_softmax(dim) -> Tensor\nLog-softmax along dim, stable.") { t, a in
            .object(try t.logSoftmax(try a.dim(1, rank: t.rank)))
        }

        // MARK: linear algebra
        m("matmul", "t:matmul(u) -> Tensor\nMatrix product with NumPy/PyTorch rules (1-D, 2-D, batched with broadcasting).") { t, a in
            .object(try t.matmul(try a.tensor(1, "other")))
        }
        m("mm", "t:mm(u) -> Tensor\nProduct of two 2-D tensors.") { t, a in .object(try t.mm(try a.tensor(1, "other"))) }
        m("bmm", "t:bmm(u) -> Tensor\nBatched product of [B,n,k] and [B,k,m].") { t, a in .object(try t.bmm(try a.tensor(1, "other"))) }

        // MARK: joining and indexing
        m("cat", "t:cat(u, ... [, dim=1]) -> Tensor\nConcatenates t with the other tensors along dim (a trailing number); also qv.cat{...}.") { t, a in
            var ts = [t]
            var dimArg: Int?
            for i in 1...Swift.max(a.count, 1) where i <= a.count {
                if a.isNumber(i) && i == a.count { dimArg = i } else if a.isTable(i) {
                    ts += try a.objects(i, Tensor.self, "tensors")
                } else { ts.append(try a.tensor(i, "other")) }
            }
            let d = try dimArg.map { try a.dim($0, rank: t.rank) } ?? 0
            return .object(try Tensor.cat(ts, dim: d))
        }
        m("split", "t:split(size_or_sizes [, dim=1]) -> {Tensor...}\nViews of pieces of size (the last may be smaller), or of the given sizes {s1, s2, ...}.") { t, a in
            let d = try a.optionalDim(2, rank: t.rank) ?? 0
            let parts = a.isTable(1) ? try t.split(sizes: try a.ints(1, "sizes"), dim: d) : try t.split(try a.int(1, "size"), dim: d)
            return .array(parts.map { .object($0) })
        }
        m("chunk", "t:chunk(n [, dim=1]) -> {Tensor...}\nn nearly equal views along dim.") { t, a in
            let d = try a.optionalDim(2, rank: t.rank) ?? 0
            return .array(try t.chunk(try a.int(1, "chunks"), dim: d).map { .object($0) })
        }
        m("index_select", "t:index_select(dim, index) -> Tensor\nEntries index (1-D tensor or table of 1-based indices) along dim.") { t, a in
            let d = try a.dim(1, rank: t.rank)
            guard t.rank > 0 else { throw a.argumentError(1, "dim", "cannot index a 0-dimensional tensor") }
            return .object(try t.indexSelect(d, try a.indexTensor(2, size: t.shape[d])))
        }
        m("gather", "t:gather(dim, index) -> Tensor\nout[..., j, ...] = t[..., index[..., j, ...], ...] along dim; index holds 1-based indices, has t's rank and t's sizes in the other dimensions.") { t, a in
            let d = try a.dim(1, rank: t.rank)
            guard t.rank > 0 else { throw a.argumentError(1, "dim", "cannot gather from a 0-dimensional tensor") }
            return .object(try t.gather(d, try a.indexTensor(2, size: t.shape[d])))
        }
        m("one_hot", "t:one_hot(classes) -> Tensor\nOne-hot rows for 1-based class indices 1..classes (appends a dimension).") { t, a in
            let n = try a.int(1, "classes")
            guard n >= 1 else { throw a.argumentError(1, "classes", "must be >= 1") }
            let idx = try a.indexTensorFromSelf(t, size: n)
            return .object(try idx.oneHot(n))
        }

        // MARK: in place (not recorded by autograd)
        m("zero_", "t:zero_() -> t\nSets every element to 0 in place.") { t, _ in .object(try t.zero_()) }
        m("fill_", "t:fill_(value) -> t\nSets every element to value in place.") { t, a in .object(try t.fill_(try a.float(1, "value"))) }
        m("copy_", "t:copy_(src) -> t\nCopies src (broadcast to t's shape) into t.") { t, a in .object(try t.copy_(try a.tensor(1, "src"))) }
        m("add_", "t:add_(x [, alpha=1]) -> t\nt += alpha·x in place (x a tensor or number).") { t, a in
            .object(try t.add_(try a.tensorOrNumber(1, "other"), alpha: try a.float(2, "alpha", default: 1)))
        }
        m("sub_", "t:sub_(x) -> t\nt -= x in place.") { t, a in .object(try t.add_(try a.tensorOrNumber(1, "other"), alpha: -1)) }
        m("mul_", "t:mul_(c) -> t\nt *= c in place (c a number).") { t, a in .object(try t.mul_(try a.float(1, "c"))) }
        m("clamp_", "t:clamp_([min [, max]]) -> t\nClamps in place.") { t, a in
            .object(try t.clamp_(min: try a.float(1, "min", default: -.infinity), max: try a.float(2, "max", default: .infinity)))
        }
        m("normal_", "t:normal_([mean=0 [, std=1]]) -> t\nFills with normal values from the global generator.") { t, a in
            let mean = try a.float(1, "mean", default: 0), sd = try a.float(2, "std", default: 1)
            return .object(try t.copy_(try Tensor.randn(t.shape).mul(sd).add(mean)))
        }
        m("uniform_", "t:uniform_([a=0 [, b=1]]) -> t\nFills with uniform values in [a, b) from the global generator.") { t, a in
            let lo = try a.float(1, "a", default: 0), hi = try a.float(2, "b", default: 1)
            return .object(try t.copy_(try Tensor.rand(t.shape).mul(hi - lo).add(lo)))
        }

        // MARK: autograd
        m("backward", "t:backward([grad [, retain_graph=false]])\nAccumulates d t / d leaf into leaf.grad for every leaf that requires grad (grad may be omitted for one element).") { t, a in
            try t.backward(try a.optionalTensor(1, "grad"), retainGraph: try a.flag(2, "retain_graph", default: false))
            return .none
        }
        m("requires_grad_", "t:requires_grad_([flag=true]) -> t\nSets requires_grad (leaf tensors) and returns t.") { t, a in
            let f = try a.flag(1, "flag", default: true)
            try setRequiresGrad(t, f)
            return .object(t)
        }

        // MARK: random
        m("bernoulli", "t:bernoulli() -> Tensor\n1 with probability t (elementwise), else 0; from the global generator.") { t, a in
            try a.expectAtMost(0)
            return .object(t.bernoulli())
        }

        // MARK: fields
        cls.property("shape", doc: "the shape as a table {d1, d2, ...} (a copy)", get: { t in .ints(t.shape) })
        cls.property("dtype", doc: "always \"float32\"", get: { _ in .string("float32") })
        cls.property("grad", doc: "accumulated gradient (nil until backward); assign nil to clear", get: { t in
            t.grad.map { .object($0) } ?? .nil
        }, set: { t, a in
            if a.isNil(1) { t.grad = nil; return }
            let g = try a.tensor(1)
            guard g.shape == t.shape else { throw a.argumentError(1, nil, "gradient shape \(shapeText(g.shape)) does not match \(shapeText(t.shape))") }
            t.grad = g
        })
        cls.property("requires_grad", doc: "whether gradients flow to this tensor (settable on leaves)", get: { t in
            .bool(t.requiresGrad)
        }, set: { t, a in try setRequiresGrad(t, try a.bool(1)) })
        cls.property("grad_fn", doc: "name of the op that produced this tensor (nil for leaves)", get: { t in
            t.gradFunctionName.map { .string($0) } ?? .nil
        })
        cls.property("is_leaf", doc: "whether this tensor was not produced by a recorded op", get: { t in .bool(t.isLeaf) })

        cls.tostring { TensorFormat.full($0) }
        cls.meta("__summary") { a in
            guard let t = a.objectIfPresent(1, Tensor.self) else { return .string("qv.Tensor") }
            return .string(TensorFormat.header(t))
        }
        cls.extraBytes { t in t.storage.count * MemoryLayout<Float>.stride }
        TensorOperators.install(cls)
        TensorIndexing.install(cls)
        return cls
    }

    static func setRequiresGrad(_ t: Tensor, _ f: Bool) throws {
        if !f && !t.isLeaf {
            throw LuaError("requires_grad can only be turned off on leaf tensors (use t:detach())")
        }
        t.requiresGrad = f
    }

    /// Nested arrays of a tensor's values.
    static func toTable(_ t: Tensor) -> LuaValue {
        let v = t.toArray()
        if t.rank == 0 { return .number(Double(v[0])) }
        let shape = t.shape
        func rec(_ d: Int, _ base: Int) -> LuaValue {
            let n = shape[d]
            if d == shape.count - 1 { return .array((0..<n).map { .number(Double(v[base + $0])) }) }
            let st = shape[(d + 1)...].reduce(1, *)
            return .array((0..<n).map { rec(d + 1, base + $0 * st) })
        }
        return rec(0, 0)
    }
}

extension Arguments {
    /// The tensor `t`'s values as 1-based indices in 1...size, converted to 0-based.
    func indexTensorFromSelf(_ t: Tensor, size: Int) throws -> Tensor {
        let vals = t.toArray()
        var out = [Float](repeating: 0, count: vals.count)
        for (k, f) in vals.enumerated() {
            guard f == f.rounded(), f >= 1, f <= Float(size) else {
                throw argumentError(0, nil, "value \(fmtNumber(f)) is not a class index in 1..\(size)")
            }
            out[k] = f - 1
        }
        return try Tensor(out, shape: t.shape)
    }
}
