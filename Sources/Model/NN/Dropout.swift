import Runtime

/// Dropout: in training, zeroes each element with probability `p` and
/// scales the rest by 1/(1 − p); in evaluation, the identity. Masks come
/// from the layer's own generator when it has one, else the global
/// generator (`qv.seed`).
public final class Dropout: Layer {
    public let p: Float
    public var generator: Generator?
    public var training = true

    public init(_ p: Float = 0.5, generator: Generator? = nil) throws {
        guard p >= 0, p < 1 else { throw ModelError("Dropout: rate must be in [0, 1), got \(p)") }
        self.p = p; self.generator = generator
    }

    public var localParameters: [(String, Tensor)] { [] }

    public func forward(_ x: Tensor) throws -> Tensor {
        guard training, p > 0 else { return x }
        let keep = 1 - p
        let mask: Tensor
        if generator != nil { mask = try Tensor.bernoulli(x.shape, p: keep, generator: &generator!) }
        else { mask = try Tensor.bernoulli(x.shape, p: keep) }
        return try x * mask.mul(1 / keep)
    }
}
