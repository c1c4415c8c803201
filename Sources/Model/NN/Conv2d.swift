import Runtime

/// 2-D convolution over [N, Cin, H, W] (PyTorch's `nn.Conv2d`: weight
/// [Cout, Cin, k, k] Kaiming-uniform, bias U(−1/√fan_in, 1/√fan_in),
/// fan_in = Cin·k·k). Output size ⌊(H + 2p − k)/s⌋ + 1.
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Tensor
    public let bias: Tensor?
    public var training = true

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, generator: inout Generator) throws {
        guard inChannels > 0, outChannels > 0, kernel > 0, stride > 0, padding >= 0 else {
            throw ModelError("Conv2d: invalid geometry (in \(inChannels), out \(outChannels), kernel \(kernel), stride \(stride), padding \(padding))")
        }
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        let fanIn = inChannels * kernel * kernel
        weight = Init.kaimingUniform([outChannels, inChannels, kernel, kernel], fanIn: fanIn, generator: &generator)
        self.bias = bias ? Init.uniform([outChannels], bound: 1 / Float(fanIn).squareRoot(), generator: &generator) : nil
    }

    public convenience init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) throws {
        try self.init(inChannels, outChannels, kernel: kernel, stride: stride, padding: padding, bias: bias, generator: &GlobalRandom.generator)
    }

    public var localParameters: [(String, Tensor)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        try Tensor.conv2d(x, weight, bias, stride: [stride], padding: [padding])
    }

    /// Output spatial size for an input of size `h`.
    public func outputSize(_ h: Int) -> Int { (h + 2 * padding - kernel) / stride + 1 }
}
