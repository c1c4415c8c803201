import Runtime

/// 2-D transposed convolution (PyTorch's `nn.ConvTranspose2d`: weight
/// [Cin, Cout, k, k]; PyTorch computes fan_in from dimension 1, so both
/// bounds are 1/√(Cout·k·k)). Output size (H − 1)·s − 2p + k + outputPadding.
public final class ConvTranspose2d: Layer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, outputPadding: Int
    public let weight: Tensor
    public let bias: Tensor?
    public var training = true

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, bias: Bool = true, generator: inout Generator) throws {
        guard inChannels > 0, outChannels > 0, kernel > 0, stride > 0, padding >= 0,
              outputPadding >= 0, outputPadding < stride else {
            throw ModelError("ConvTranspose2d: invalid geometry (in \(inChannels), out \(outChannels), kernel \(kernel), stride \(stride), padding \(padding), output padding \(outputPadding))")
        }
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel
        self.stride = stride; self.padding = padding; self.outputPadding = outputPadding
        let fanIn = outChannels * kernel * kernel
        weight = Init.kaimingUniform([inChannels, outChannels, kernel, kernel], fanIn: fanIn, generator: &generator)
        self.bias = bias ? Init.uniform([outChannels], bound: 1 / Float(fanIn).squareRoot(), generator: &generator) : nil
    }

    public convenience init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0, bias: Bool = true) throws {
        try self.init(inChannels, outChannels, kernel: kernel, stride: stride, padding: padding,
                      outputPadding: outputPadding, bias: bias, generator: &GlobalRandom.generator)
    }

    public var localParameters: [(String, Tensor)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        try Tensor.convTranspose2d(x, weight, bias, stride: [stride], padding: [padding], outputPadding: [outputPadding])
    }

    /// Output spatial size for an input of size `h`.
    public func outputSize(_ h: Int) -> Int { (h - 1) * stride - 2 * padding + kernel + outputPadding }
}
