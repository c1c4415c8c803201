/// Reverse-mode automatic differentiation over a dynamic graph.
///
/// Each op whose inputs require gradients records a `GradNode` on its
/// result: the inputs and a closure mapping the gradient of the result to
/// the gradients of the inputs. `backward()` orders the graph topologically
/// and runs the closures in reverse, accumulating into the `.grad` of leaf
/// tensors. Gradient closures run with grad mode off, so they are ordinary
/// tensor code.
final class GradNode {
    let name: String
    fileprivate(set) var inputs: [Tensor]
    fileprivate var fn: ((Tensor) throws -> [Tensor?])?

    init(name: String, inputs: [Tensor], fn: @escaping (Tensor) throws -> [Tensor?]) {
        self.name = name; self.inputs = inputs; self.fn = fn
    }

    func apply(_ g: Tensor) throws -> [Tensor?] {
        guard let fn else {
            throw TensorError("backward: the graph through '\(name)' was already freed by an earlier backward; to run backward through it twice, retain the graph in the first backward")
        }
        return try fn(g)
    }

    /// Tears the graph behind this node down iteratively: dropping a long
    /// chain recursively (tensor → node → input tensor → ...) would
    /// overflow the stack.
    deinit {
        fn = nil
        var stack = inputs
        inputs = []
        while var t = stack.popLast() {
            if isKnownUniquelyReferenced(&t), let n = t.node {
                n.fn = nil
                stack.append(contentsOf: n.inputs)
                n.inputs = []
            }
        }
    }

    /// Drops saved tensors and edges (after a backward pass).
    func release() { fn = nil; inputs = [] }
    var isReleased: Bool { fn == nil }
}

/// Whether ops record the autograd graph (PyTorch's grad mode).
public enum GradMode {
    /// Recording is on by default; `Tensor.noGrad` turns it off for a scope.
    public nonisolated(unsafe) static var isEnabled = true
}

extension Tensor {
    /// Runs `body` with gradient recording off (for evaluation, optimizer
    /// updates, sampling), restoring the previous mode afterwards.
    public static func noGrad<T>(_ body: () throws -> T) rethrows -> T {
        let saved = GradMode.isEnabled
        GradMode.isEnabled = false
        defer { GradMode.isEnabled = saved }
        return try body()
    }

    /// Records `fn` as the backward of `result` when grad mode is on and
    /// some input requires gradients. Returns `result`.
    @discardableResult
    static func record(_ result: Tensor, _ name: String, _ inputs: [Tensor],
                       _ fn: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return result }
        result.requiresGrad = true
        result.node = GradNode(name: name, inputs: inputs, fn: fn)
        return result
    }

    /// A tensor sharing this one's storage, cut from the graph.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    /// Sets `requiresGrad` and returns self (for chaining).
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor { requiresGrad = flag; return self }

    /// Defines an op with a gradient supplied by Swift code.
    ///
    /// `forward` runs with grad mode off and computes the result from the
    /// inputs; `backward` receives dL/d(result) and returns dL/d(input) for
    /// each input (shape of that input, or `nil` for none). Example: the
    /// energy of a Boltzmann machine whose log-partition gradient comes
    /// from a sampler's negative phase.
    public static func custom(name: String = "custom", inputs: [Tensor],
                              forward: ([Tensor]) throws -> Tensor,
                              backward: @escaping (Tensor) throws -> [Tensor?]) throws -> Tensor {
        let out = try noGrad { try forward(inputs) }
        let result = out.node == nil && !out.requiresGrad ? out : out.detach()
        let shapes = inputs.map(\.shape)
        return record(result, name, inputs) { g in
            let gs = try backward(g)
            guard gs.count == shapes.count else {
                throw TensorError("\(name): backward returned \(gs.count) gradients for \(shapes.count) inputs")
            }
            for (i, gi) in gs.enumerated() where gi != nil && gi!.shape != shapes[i] {
                throw TensorError("\(name): gradient \(i) has shape \(fmt(gi!.shape)), input has \(fmt(shapes[i]))")
            }
            return gs
        }
    }

    /// Computes gradients of this tensor with respect to every leaf that
    /// requires them, accumulating into their `.grad`.
    ///
    /// - Parameters:
    ///   - gradient: dL/d(self); may be omitted for one-element tensors (1).
    ///   - retainGraph: keep the graph so `backward` can run through it again.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        guard requiresGrad else { throw TensorError("backward: tensor does not require grad and has no grad_fn") }
        let seed: Tensor
        if let gradient {
            guard gradient.shape == shape else {
                throw TensorError("backward: gradient has shape \(fmt(gradient.shape)), tensor has \(fmt(shape))")
            }
            seed = gradient.detach()
        } else {
            guard count == 1 else { throw TensorError("backward: grad can be implicitly created only for one-element tensors, not shape \(fmt(shape)); pass a gradient") }
            seed = try Tensor.ones(shape)
        }
        // Topological order by iterative depth-first search.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (t, i) = stack.popLast() {
            let inputs = t.node?.inputs ?? []
            if i < inputs.count {
                stack.append((t, i + 1))
                let c = inputs[i]
                if c.requiresGrad && visited.insert(ObjectIdentifier(c)).inserted { stack.append((c, 0)) }
            } else {
                order.append(t)
            }
        }
        try Tensor.noGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                guard let node = t.node else {
                    // Leaf: accumulate (never in place: grads may share storage).
                    if let old = t.grad { t.grad = try old + g } else { t.grad = g.isContiguous && g.strides.allSatisfy({ $0 != 0 }) ? g : g.contiguous() }
                    continue
                }
                let gs = try node.apply(g)
                for (inp, gi) in zip(node.inputs, gs) {
                    guard let gi, inp.requiresGrad else { continue }
                    guard gi.shape == inp.shape else {
                        throw TensorError("backward: internal error in '\(node.name)': gradient shape \(fmt(gi.shape)) for input \(fmt(inp.shape))")
                    }
                    let key = ObjectIdentifier(inp)
                    if let old = grads[key] { grads[key] = try old + gi } else { grads[key] = gi }
                }
            }
        }
        if !retainGraph { for t in order { t.node?.release() } }
    }

    /// Name of the op that produced this tensor (`nil` for leaves).
    public var gradFunctionName: String? { node?.name }
}
