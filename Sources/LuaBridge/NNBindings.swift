import CLua
import Model
import Runtime

// Torch-style network layers in Lua (`qv.nn`, `qv.nn.Module`), and the
// module methods every model object shares (parameters, state, train/eval).

/// Any Model module owned by Lua: a layer, a block, a whole network.
final class ModuleBox {
    let module: Module
    init(_ m: Module) { module = m }
    var layer: Layer? { module as? Layer }
}

/// A layer whose forward is a Lua function (`qv.nn.lambda`). Runs on the
/// Lua thread that calls it; errors propagate as Lua errors.
final class LuaLayer: Layer {
    let function: LuaRef
    let name: String
    var training = true
    init(_ f: LuaRef, name: String) { function = f; self.name = name }
    var localParameters: [(String, Tensor)] { [] }
    func forward(_ x: Tensor) throws -> Tensor {
        let r = try function.call([.object(x)])
        guard let first = r.first, case .object(let o) = first, let t = o as? Tensor else {
            throw LuaError("\(name): the layer function must return a qv.Tensor, got \(r.first?.typeName ?? "nothing")")
        }
        return t
    }
}

/// One line describing a module (PyTorch's repr of a leaf layer).
func describeModule(_ m: Module) -> String {
    switch m {
    case let l as Linear: return "Linear(\(l.inFeatures) -> \(l.outFeatures)\(l.bias == nil ? ", no bias" : ""))"
    case let c as Conv2d:
        return "Conv2d(\(c.inChannels) -> \(c.outChannels), kernel \(c.kernel), stride \(c.stride), padding \(c.padding)\(c.bias == nil ? ", no bias" : ""))"
    case let c as ConvTranspose2d:
        var s = "ConvTranspose2d(\(c.inChannels) -> \(c.outChannels), kernel \(c.kernel), stride \(c.stride), padding \(c.padding)"
        if c.outputPadding > 0 { s += ", output padding \(c.outputPadding)" }
        return s + (c.bias == nil ? ", no bias)" : ")")
    case let b as BatchNorm: return "BatchNorm(\(b.features), eps \(fmtNum(Double(b.eps), "%g")), momentum \(fmtNum(Double(b.momentum), "%g")))"
    case let d as Dropout: return "Dropout(p = \(fmtNum(Double(d.p), "%g")))"
    case is ReLU: return "ReLU"
    case is Sigmoid: return "Sigmoid"
    case is Tanh: return "Tanh"
    case is Flatten: return "Flatten"
    case let r as Reshape: return "Reshape(" + r.shape.map(String.init).joined(separator: ", ") + ")"
    case let g as GatedConv:
        return "GatedConv(\(g.conv.inChannels) -> \(g.conv.outChannels / 2), kernel \(g.conv.kernel), stride \(g.conv.stride), padding \(g.conv.padding))"
    case let g as GatedConvTranspose:
        return "GatedConvTranspose(\(g.deconv.inChannels) -> \(g.deconv.outChannels / 2), kernel \(g.deconv.kernel), stride \(g.deconv.stride), padding \(g.deconv.padding), dropout \(fmtNum(Double(g.dropout.p), "%g"))\(g.reluValue ? "" : ", linear value"))"
    case let l as LuaLayer: return "Lambda(\(l.name))"
    case is Sequential: return "Sequential"
    case is HierarchicalEncoder: return "HierarchicalEncoder"
    case is DiscreteVAE: return "DiscreteVAE"
    case is BoltzmannPrior, is ExactPrior, is QuantumPrior: return "Prior"
    default: return String(describing: type(of: m))
    }
}

/// The module tree, indented, with 1-based indices for sequences.
func describeTree(_ m: Module, indent: String = "") -> String {
    let leafLike = m is GatedConv || m is GatedConvTranspose || m.children.isEmpty
    var s = describeModule(m)
    if leafLike { return s }
    s += "("
    for (name, child) in m.children {
        let label = Int(name).map { String($0 + 1) } ?? name
        s += "\n\(indent)  (\(label)): " + describeTree(child, indent: indent + "  ")
    }
    return s + "\n\(indent))"
}

/// The methods every model object has: parameters, state, train/eval.
func addModuleMethods<T>(_ cls: LuaClass<T>, what: String, _ module: @escaping (T) -> Module) {
    cls.method("parameters", doc: """
        \(what):parameters() -> {Tensor, ...}
        Every trainable tensor, in a stable order (the order of \(what):parameter_names()), for qv.optim.
        """) { o, args in
        try args.expectAtMost(0)
        return .array(module(o).parameters().map { .object($0) })
    }
    cls.method("named_parameters", doc: """
        \(what):named_parameters() -> {name = Tensor, ...}
        The parameters by their dotted path ("encoder.trunk.1.weight").
        """) { o, args in
        try args.expectAtMost(0)
        return .table(Dictionary(module(o).namedParameters().map { ($0.0, LuaValue.object($0.1)) }, uniquingKeysWith: { a, _ in a }))
    }
    cls.method("parameter_names", doc: "\(what):parameter_names() -> {name, ...}\nThe parameter names in \(what):parameters() order.") { o, args in
        try args.expectAtMost(0)
        return .strings(module(o).namedParameters().map { $0.0 })
    }
    cls.method("buffers", doc: """
        \(what):buffers() -> {name = Tensor, ...}
        Non-trainable state by name (batch-norm running statistics, the prior's chains and random stream).
        """) { o, args in
        try args.expectAtMost(0)
        return .table(Dictionary(module(o).namedBuffers().map { ($0.0, LuaValue.object($0.1)) }, uniquingKeysWith: { a, _ in a }))
    }
    cls.method("num_parameters", doc: "\(what):num_parameters() -> number\nThe number of scalar parameters.") { o, args in
        try args.expectAtMost(0)
        return .int(module(o).parameterCount)
    }
    cls.method("state", doc: """
        \(what):state() -> {name = Tensor, ...}
        Parameters and buffers by name: everything a checkpoint needs (qv.save(path, \(what):state())).
        The tensors are the live ones: write them out before changing the model.
        """) { o, args in
        try args.expectAtMost(0)
        return .table(Dictionary(module(o).stateDict().map { ($0.0, LuaValue.object($0.1)) }, uniquingKeysWith: { a, _ in a }))
    }
    cls.method("load_state", doc: """
        \(what):load_state(tbl [, {strict = true}]) -> \(what)
        Copies tensors saved by \(what):state() into the model in place (optimizers keep working).
        strict: a missing or unexpected name is an error; shapes must always match.
        """) { o, args in
        try args.expectAtMost(2)
        let pairs = try args.stringKeyedTensors(1, "state")
        let opts = try args.options(2, allowed: ["strict"])
        let strict = try opts.bool("strict", default: true)
        do {
            try module(o).loadStateDict(Dictionary(pairs, uniquingKeysWith: { a, _ in a }), strict: strict)
        } catch let e as TensorError {
            let m = e.message.hasPrefix("load_state: ") ? String(e.message.dropFirst(12)) : e.message
            throw args.error(m)
        }
        return .value(0, args)
    }
    cls.method("train", doc: """
        \(what):train([on = true]) -> \(what)
        Training mode (dropout active, batch statistics), or evaluation mode with false.
        """) { o, args in
        try args.expectAtMost(1)
        module(o).setTraining(try args.bool(1, "on", default: true))
        return .value(0, args)
    }
    cls.method("eval", doc: "\(what):eval() -> \(what)\nEvaluation mode (no dropout, running statistics).") { o, args in
        try args.expectAtMost(0)
        module(o).setTraining(false)
        return .value(0, args)
    }
    cls.method("zero_grad", doc: "\(what):zero_grad()\nClears every parameter's gradient.") { o, args in
        try args.expectAtMost(0)
        for p in module(o).parameters() { p.grad = nil }
        return .none
    }
}

extension LuaValue {
    /// Argument i itself (0 is a method's self), for methods that return self.
    static func value(_ i: Int, _ args: Arguments) -> LuaValue {
        .ref(LuaRef(state: args.state, L: args.L, index: args.stackIndex(i)))
    }
}

let moduleClass: LuaClass<ModuleBox> = {
    let cls = LuaClass<ModuleBox>("qv.nn.Module", doc: """
        qv.nn.Module — a network layer or block (qv.nn.linear, conv2d, sequential, ...), Torch style:
        m:forward(x) or m(x); m:parameters() for qv.optim; m:train() / m:eval(); m:state() for qv.save.
        Parameters read as fields (lin.weight, lin.bias) and children too (seq[1], block.conv).
        """)
    cls.method("forward", doc: "m:forward(x) -> Tensor\nApplies the layer (recording autograd in grad mode). Same as m(x).") { m, args in
        try args.expectAtMost(1)
        guard let l = m.layer else { throw args.error("\(describeModule(m.module)) has no forward (a container)") }
        let x = try args.tensor(1, "x")
        return .object(try tensorOp(args) { try l.forward(x) })
    }
    cls.call { m, args in
        guard let l = m.layer else { throw args.error("\(describeModule(m.module)) has no forward (a container)") }
        let x = try args.tensor(1, "x")
        return .object(try tensorOp(args) { try l.forward(x) })
    }
    cls.method("add", doc: "seq:add(m) -> seq\nAppends a layer to a qv.nn.sequential.") { m, args in
        try args.expectAtMost(1)
        guard let s = m.module as? Sequential else { throw args.error("add needs a sequential, this is \(describeModule(m.module))") }
        let child = try args.object(1, ModuleBox.self, "m")
        guard let l = child.layer else { throw args.argumentError(1, "m", "\(describeModule(child.module)) has no forward") }
        // a module tree must stay a tree: s:add(s) (or adding an ancestor)
        // made every recursive walk (parameters, zero_grad, forward) overflow the stack
        guard !moduleTree(child.module, contains: s) else {
            throw args.argumentError(1, "m", "cannot add a module to itself or to one of its own sub-modules")
        }
        s.append(l)
        return .value(0, args)
    }
    cls.method("children", doc: "m:children() -> {m1, m2, ...}\nThe direct sub-modules in order.") { m, args in
        try args.expectAtMost(0)
        return .array(m.module.children.map { .object(ModuleBox($0.1)) })
    }
    cls.property("kind", doc: "the layer type (\"Linear\", \"Sequential\", ...)") { m in
        .string(String(describeModule(m.module).prefix { $0 != "(" }))
    }
    cls.property("training", doc: "training mode (settable)", get: { m in .bool(m.module.training) },
                 set: { m, args in m.module.setTraining(try args.bool(1)) })
    cls.len { m in .int(m.module.children.count) }
    cls.index { m, args in
        // Children by 1-based index (sequences) or by name; parameters and buffers by name.
        let v = args.value(1)
        if let i = v.intValue {
            let ch = m.module.children
            guard i >= 1, i <= ch.count else { return .nil }
            return .object(ModuleBox(ch[i - 1].1))
        }
        guard let key = v.stringValue else { return .nil }
        if let p = m.module.localParameters.first(where: { $0.0 == key }) { return .object(p.1) }
        if let b = m.module.localBuffers.first(where: { $0.0 == key }) { return .object(b.1) }
        if let c = m.module.children.first(where: { $0.0 == key }) { return .object(ModuleBox(c.1)) }
        return .nil
    }
    addModuleMethods(cls, what: "m") { $0.module }
    cls.tostring { m in
        let n = m.module.parameterCount
        let tree = describeTree(m.module)
        return m.module.children.isEmpty && n == 0 ? tree : tree + (m.module.children.isEmpty ? "" : "\n") + "  [\(n) parameters]"
    }
    cls.extraBytes { m in MemoryFootprint.bytes(m.module) }
    return cls
}()

extension QV {
    /// `qv.nn`: layers and containers.
    public static func openNN(_ state: LuaState) {
        let qv = state.module("qv")
        _ = qv
        let nn = state.module("qv.nn", doc: """
            qv.nn — network layers, Torch style (initialized as PyTorch does, from the global generator):
              linear(in, out), conv2d(in, out, k, {stride=, padding=}), conv_transpose2d(...),
              batch_norm(c), dropout(p), relu(), sigmoid(), tanh(), flatten(), reshape(d1, d2, ...),
              gated_conv(in, f, k, {...}), gated_conv_transpose(in, f, k, {...}),
              lambda(fn), sequential{m1, m2, ...}.
            m:forward(x) or m(x); m:parameters(); m:train() / m:eval(); print(m) lists the layers.
            Build a VAE from your own networks with qv.vae.new{trunk = ..., decoder = ..., prior = ...}.
            """)
        nn.add(moduleClass)
        func positive(_ args: Arguments, _ i: Int, _ name: String) throws -> Int {
            let v = try args.int(i, name)
            guard v >= 1, v <= 1 << 24 else { throw args.argumentError(i, name, "must be in 1..16777216, got \(v)") }
            return v
        }
        func nonNegative(_ args: Arguments, _ o: Options, _ key: String, default d: Int) throws -> Int {
            let v = try o.int(key, default: d)
            guard v >= 0, v <= 1 << 16 else { throw args.optionError(key, "must be in 0..65536, got \(v)") }
            return v
        }
        func box(_ args: Arguments, _ make: () throws -> Module) throws -> LuaValue {
            do { return .object(ModuleBox(try make())) } catch let e as ModelError { throw args.modelError(e) }
        }
        nn.fn("linear", doc: """
            qv.nn.linear(in, out [, {bias = true}]) -> qv.nn.Module
            y = x Wᵀ + b: weight [out, in], bias [out], U(-1/√in, 1/√in) as PyTorch's nn.Linear.
            """) { args in
            try args.expectAtMost(3)
            let i = try positive(args, 1, "in"), o = try positive(args, 2, "out")
            let opts = try args.options(3, allowed: ["bias"])
            let bias = try opts.bool("bias", default: true)
            return try box(args) { try Linear(i, o, bias: bias) }
        }
        nn.fn("conv2d", doc: """
            qv.nn.conv2d(in, out, k [, {stride = 1, padding = 0, bias = true}]) -> qv.nn.Module
            2-D convolution over [B, in, H, W] (PyTorch's nn.Conv2d; weight [out, in, k, k]).
            """) { args in
            try args.expectAtMost(4)
            let i = try positive(args, 1, "in"), o = try positive(args, 2, "out"), k = try positive(args, 3, "k")
            let opts = try args.options(4, allowed: ["stride", "padding", "bias"])
            let s = try positiveOption(args, opts, "stride", default: 1, max: 1 << 16)
            let p = try nonNegative(args, opts, "padding", default: 0)
            let bias = try opts.bool("bias", default: true)
            return try box(args) { try Conv2d(i, o, kernel: k, stride: s, padding: p, bias: bias) }
        }
        nn.fn("conv_transpose2d", doc: """
            qv.nn.conv_transpose2d(in, out, k [, {stride = 1, padding = 0, output_padding = 0, bias = true}]) -> qv.nn.Module
            2-D transposed convolution (PyTorch's nn.ConvTranspose2d; weight [in, out, k, k]);
            output size (H - 1)·stride - 2·padding + k + output_padding.
            """) { args in
            try args.expectAtMost(4)
            let i = try positive(args, 1, "in"), o = try positive(args, 2, "out"), k = try positive(args, 3, "k")
            let opts = try args.options(4, allowed: ["stride", "padding", "output_padding", "bias"])
            let s = try positiveOption(args, opts, "stride", default: 1, max: 1 << 16)
            let p = try nonNegative(args, opts, "padding", default: 0)
            let op = try nonNegative(args, opts, "output_padding", default: 0)
            let bias = try opts.bool("bias", default: true)
            return try box(args) { try ConvTranspose2d(i, o, kernel: k, stride: s, padding: p, outputPadding: op, bias: bias) }
        }
        nn.fn("batch_norm", doc: """
            qv.nn.batch_norm(c [, {eps = 1e-5, momentum = 0.1}]) -> qv.nn.Module
            Batch normalization over dimension 2 of [B, c] or [B, c, H, W] (PyTorch's BatchNorm1d/2d),
            with running statistics as buffers.
            """) { args in
            try args.expectAtMost(2)
            let c = try positive(args, 1, "c")
            let opts = try args.options(2, allowed: ["eps", "momentum"])
            let eps = try opts.number("eps", default: 1e-5), mom = try opts.number("momentum", default: 0.1)
            guard eps > 0, eps.isFinite else { throw args.optionError("eps", "must be finite and > 0") }
            guard mom >= 0, mom <= 1 else { throw args.optionError("momentum", "must be in [0, 1]") }
            return try box(args) { try BatchNorm(c, eps: Float(eps), momentum: Float(mom)) }
        }
        nn.fn("dropout", doc: """
            qv.nn.dropout([p = 0.5]) -> qv.nn.Module
            Zeroes each element with probability p in training mode (scaling the rest by 1/(1-p));
            the identity in evaluation mode. Masks come from the global generator.
            """) { args in
            try args.expectAtMost(1)
            let p = try args.number(1, "p", default: 0.5)
            guard p >= 0, p < 1 else { throw args.argumentError(1, "p", "must be in [0, 1), got \(fmtNum(p))") }
            return try box(args) { try Dropout(Float(p)) }
        }
        nn.fn("relu", doc: "qv.nn.relu() -> qv.nn.Module\nmax(x, 0).") { args in
            try args.expectAtMost(0); return .object(ModuleBox(ReLU()))
        }
        nn.fn("sigmoid", doc: "qv.nn.sigmoid() -> qv.nn.Module\n1 / (1 + e^-x).") { args in
            try args.expectAtMost(0); return .object(ModuleBox(Sigmoid()))
        }
        nn.fn("tanh", doc: "qv.nn.tanh() -> qv.nn.Module\ntanh(x).") { args in
            try args.expectAtMost(0); return .object(ModuleBox(Tanh()))
        }
        nn.fn("flatten", doc: "qv.nn.flatten() -> qv.nn.Module\n[B, ...] -> [B, -1].") { args in
            try args.expectAtMost(0); return .object(ModuleBox(Flatten()))
        }
        nn.fn("reshape", doc: """
            qv.nn.reshape(d1, d2, ...) -> qv.nn.Module
            Reshapes to the given sizes (one may be -1), e.g. qv.nn.reshape(-1, 1, 28, 28). Also reshape{...}.
            """) { args in
            let s = try args.intList(from: 1, "size")
            guard !s.isEmpty, s.allSatisfy({ $0 >= 1 || $0 == -1 }), s.filter({ $0 == -1 }).count <= 1 else {
                throw args.argumentError(1, "size", "expected sizes >= 1 with at most one -1, got \(shapeText(s))")
            }
            return .object(ModuleBox(Reshape(s)))
        }
        nn.fn("gated_conv", doc: """
            qv.nn.gated_conv(in, f, k [, {stride = 1, padding = 0}]) -> qv.nn.Module
            The paper's gated convolution (Fig. 12): conv(2f, k, stride) -> batch norm -> ReLU(a)·σ(g).
            """) { args in
            try args.expectAtMost(4)
            let i = try positive(args, 1, "in"), f = try positive(args, 2, "f"), k = try positive(args, 3, "k")
            let opts = try args.options(4, allowed: ["stride", "padding"])
            let s = try positiveOption(args, opts, "stride", default: 1, max: 1 << 16)
            let p = try nonNegative(args, opts, "padding", default: 0)
            return try box(args) { try GatedConv(i, f, kernel: k, stride: s, padding: p, generator: &GlobalRandom.generator) }
        }
        nn.fn("gated_conv_transpose", doc: """
            qv.nn.gated_conv_transpose(in, f, k [, {stride = 1, padding = 0, output_padding = 0, dropout = 0.2, relu = true}]) -> qv.nn.Module
            The paper's gated deconvolution: deconv(2f, k, stride) -> batch norm -> act(a)·σ(g) -> dropout;
            relu = false keeps the value half linear (an output block producing logits).
            """) { args in
            try args.expectAtMost(4)
            let i = try positive(args, 1, "in"), f = try positive(args, 2, "f"), k = try positive(args, 3, "k")
            let opts = try args.options(4, allowed: ["stride", "padding", "output_padding", "dropout", "relu"])
            let s = try positiveOption(args, opts, "stride", default: 1, max: 1 << 16)
            let p = try nonNegative(args, opts, "padding", default: 0)
            let op = try nonNegative(args, opts, "output_padding", default: 0)
            let d = try opts.number("dropout", default: 0.2)
            guard d >= 0, d < 1 else { throw args.optionError("dropout", "must be in [0, 1)") }
            let relu = try opts.bool("relu", default: true)
            return try box(args) {
                try GatedConvTranspose(i, f, kernel: k, stride: s, padding: p, outputPadding: op, dropout: Float(d),
                                       reluValue: relu, generator: &GlobalRandom.generator)
            }
        }
        nn.fn("lambda", doc: """
            qv.nn.lambda(fn [, name]) -> qv.nn.Module
            A parameter-free layer computing fn(x) (a Lua function returning a qv.Tensor), e.g.
            qv.nn.lambda(function(x) return x:mul(2) end, "double").
            """) { args in
            try args.expectAtMost(2)
            let f = try args.function(1, "fn")
            let name = try args.string(2, "name", default: "lua function")
            return .object(ModuleBox(LuaLayer(f, name: name)))
        }
        nn.fn("sequential", doc: """
            qv.nn.sequential{m1, m2, ...} -> qv.nn.Module
            Layers applied in order (children named 1, 2, ...; parameter names "0.weight", ... as PyTorch's).
            seq:add(m) appends; seq[i] is layer i.
            """) { args in
            try args.expectAtMost(1)
            let ms = args.isNil(1) ? [] : try args.objects(1, ModuleBox.self, "layers")
            var layers: [Layer] = []
            for (k, m) in ms.enumerated() {
                guard let l = m.layer else {
                    throw args.argumentError(1, "layers", "element \(k + 1) (\(describeModule(m.module))) has no forward")
                }
                layers.append(l)
            }
            return .object(ModuleBox(Sequential(layers)))
        }
    }
}

/// Whether `target` is `root` or one of its sub-modules (iterative walk).
func moduleTree(_ root: Module, contains target: Module) -> Bool {
    var stack: [Module] = [root]
    var seen = Set<ObjectIdentifier>()
    while let m = stack.popLast() {
        if m === target { return true }
        guard seen.insert(ObjectIdentifier(m)).inserted else { continue }
        stack.append(contentsOf: m.children.map { $0.1 })
    }
    return false
}
