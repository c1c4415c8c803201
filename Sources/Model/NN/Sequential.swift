import Runtime

/// Layers applied in order; children are named "0", "1", ... (so
/// parameters read "0.weight", "2.bias", as in PyTorch's `nn.Sequential`).
public final class Sequential: Layer {
    public private(set) var layers: [Layer]
    public var training = true

    public init(_ layers: [Layer]) { self.layers = layers }

    public var localParameters: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { layers.enumerated().map { (String($0.offset), $0.element as Module) } }

    /// Appends a layer.
    public func append(_ layer: Layer) { layers.append(layer) }

    public func forward(_ x: Tensor) throws -> Tensor {
        var h = x
        for l in layers { h = try l.forward(h) }
        return h
    }
}
