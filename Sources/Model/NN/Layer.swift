import Runtime

/// A module with a forward function: every layer, block and network.
public protocol Layer: Module {
    /// Applies the layer to `x` (recording autograd when grad mode is on).
    func forward(_ x: Tensor) throws -> Tensor
}

extension Layer {
    /// `forward(x)`, so a layer can be called like a function.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }
}

extension Module {
    /// Number of scalar parameters in the tree.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Runs `body` with this module in evaluation mode (and gradient
    /// recording off), restoring the previous mode afterwards.
    public func evaluating<T>(_ body: () throws -> T) rethrows -> T {
        let was = training
        setTraining(false)
        defer { setTraining(was) }
        return try Tensor.noGrad(body)
    }
}

/// PyTorch's default initializations.
public enum Init {
    /// A leaf parameter of `shape` with values U(−bound, bound).
    public static func uniform(_ shape: [Int], bound: Float, generator: inout Generator) -> Tensor {
        let t = try! Tensor.rand(shape, generator: &generator)
        let p = t.data
        for i in 0..<t.count { p[i] = (2 * p[i] - 1) * bound }
        return t.requiringGrad()
    }

    /// `kaiming_uniform_(w, a = √5)` as `nn.Linear`/`nn.Conv2d` use it:
    /// bound = gain·√(3/fan_in) with gain = √(2/(1+5)), i.e. 1/√fan_in.
    public static func kaimingUniform(_ shape: [Int], fanIn: Int, generator: inout Generator) -> Tensor {
        uniform(shape, bound: 1 / Float(Swift.max(fanIn, 1)).squareRoot(), generator: &generator)
    }
}
