import Runtime

/// max(x, 0).
public final class ReLU: Layer {
    public var training = true
    public init() {}
    public var localParameters: [(String, Tensor)] { [] }
    public func forward(_ x: Tensor) throws -> Tensor { x.relu() }
}

/// The logistic function 1/(1 + e^{−x}).
public final class Sigmoid: Layer {
    public var training = true
    public init() {}
    public var localParameters: [(String, Tensor)] { [] }
    public func forward(_ x: Tensor) throws -> Tensor { x.sigmoid() }
}

/// tanh(x).
public final class Tanh: Layer {
    public var training = true
    public init() {}
    public var localParameters: [(String, Tensor)] { [] }
    public func forward(_ x: Tensor) throws -> Tensor { x.tanh() }
}

/// Reshapes to `shape` (one entry may be −1), e.g. [−1, 1, 28, 28].
public final class Reshape: Layer {
    public let shape: [Int]
    public var training = true
    public init(_ shape: [Int]) { self.shape = shape }
    public var localParameters: [(String, Tensor)] { [] }
    public func forward(_ x: Tensor) throws -> Tensor { try x.reshape(shape) }
}

/// Flattens every dimension after the first: [B, ...] → [B, −1].
public final class Flatten: Layer {
    public var training = true
    public init() {}
    public var localParameters: [(String, Tensor)] { [] }
    public func forward(_ x: Tensor) throws -> Tensor { try x.flatten(start: 1) }
}
