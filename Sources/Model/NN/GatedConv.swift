import Runtime

/// The paper's gated convolution (Fig. 12d) with f output channels:
/// conv(2f, k, s) → batch norm → split channels into value a (first f) and
/// gate g (last f) → ReLU(a)·σ(g). Children "conv", "bn".
public final class GatedConv: Layer {
    public let conv: Conv2d
    public let bn: BatchNorm
    public var training = true

    public init(_ inChannels: Int, _ features: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                generator: inout Generator) throws {
        conv = try Conv2d(inChannels, 2 * features, kernel: kernel, stride: stride, padding: padding, generator: &generator)
        bn = try BatchNorm(2 * features)
    }

    public var localParameters: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { [("conv", conv), ("bn", bn)] }

    public func forward(_ x: Tensor) throws -> Tensor {
        try bn.gated(conv.forward(x), relu: true)
    }
}

/// The paper's gated transposed convolution: deconv(2f, k, s) → batch norm
/// → split → act(a)·σ(g) → dropout (rate 0.2 in the decoder). `act` is
/// ReLU, or the identity for an output block whose values are logits (a
/// ReLU there would confine the logits to ≥ 0, i.e. p ≥ ½). Children
/// "deconv", "bn", "dropout".
public final class GatedConvTranspose: Layer {
    public let deconv: ConvTranspose2d
    public let bn: BatchNorm
    public let dropout: Dropout
    public let reluValue: Bool
    public var training = true

    public init(_ inChannels: Int, _ features: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, dropout: Float = 0.2, reluValue: Bool = true,
                generator: inout Generator) throws {
        deconv = try ConvTranspose2d(inChannels, 2 * features, kernel: kernel, stride: stride, padding: padding,
                                     outputPadding: outputPadding, generator: &generator)
        bn = try BatchNorm(2 * features)
        self.dropout = try Dropout(dropout)
        self.reluValue = reluValue
    }

    public var localParameters: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { [("deconv", deconv), ("bn", bn), ("dropout", dropout)] }

    public func forward(_ x: Tensor) throws -> Tensor {
        let h = try deconv.forward(x)
        return try bn.gated(h, relu: reluValue, dropout: dropout.drawMask(count: h.count / 2))
    }
}
