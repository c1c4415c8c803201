import Runtime

/// Fully connected layer y = x Wᵀ + b over the last dimension (PyTorch's
/// `nn.Linear`: weight [out, in], bias [out], both U(−1/√in, 1/√in)).
public final class Linear: Layer {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Tensor
    public let bias: Tensor?
    public var training = true

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout Generator) throws {
        guard inFeatures > 0, outFeatures > 0 else {
            throw ModelError("Linear: feature counts must be positive, got \(inFeatures) → \(outFeatures)")
        }
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = Init.kaimingUniform([outFeatures, inFeatures], fanIn: inFeatures, generator: &generator)
        self.bias = bias ? Init.uniform([outFeatures], bound: 1 / Float(inFeatures).squareRoot(), generator: &generator) : nil
    }

    /// Initialized from the global generator (`qv.seed`).
    public convenience init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) throws {
        try self.init(inFeatures, outFeatures, bias: bias, generator: &GlobalRandom.generator)
    }

    public var localParameters: [(String, Tensor)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }

    public func forward(_ x: Tensor) throws -> Tensor { try Tensor.linear(x, weight, bias) }
}
