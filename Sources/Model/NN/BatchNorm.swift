import Runtime

/// Batch normalization over the channel dimension 1 of [B, C] (1-d) or
/// [B, C, H, W] (2-d), as PyTorch's `nn.BatchNorm1d/2d`: in training,
/// batch statistics (biased variance) normalize, and the running mean and
/// (unbiased) variance move by `momentum`; in evaluation the running
/// statistics normalize. Parameters "weight" (γ = 1) and "bias" (β = 0);
/// buffers "running_mean", "running_var", "num_batches_tracked".
public final class BatchNorm: Layer {
    public let features: Int
    public let eps: Float
    public var momentum: Float
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVar: Tensor
    /// Count of training batches seen (a buffer, as PyTorch's).
    public let batchesTracked: Tensor
    public var training = true

    public init(_ features: Int, eps: Float = 1e-5, momentum: Float = 0.1) throws {
        guard features > 0 else { throw ModelError("BatchNorm: feature count must be positive, got \(features)") }
        self.features = features; self.eps = eps; self.momentum = momentum
        weight = try Tensor.ones([features]).requiringGrad()
        bias = try Tensor.zeros([features]).requiringGrad()
        runningMean = try Tensor.zeros([features])
        runningVar = try Tensor.ones([features])
        batchesTracked = Tensor(scalar: 0)
    }

    public var localParameters: [(String, Tensor)] { [("weight", weight), ("bias", bias)] }
    public var localBuffers: [(String, Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", batchesTracked)]
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x)
        return try Tensor.batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                    training: training, momentum: momentum, eps: eps)
    }

    /// The gated block's tail in one op: this normalization of x [B, 2C, H, W]
    /// (2C = `features`), then act(a)·σ(g) over its halves and the dropout
    /// `mask` if any (`Tensor.gatedBatchNorm`; the same numbers as
    /// `forward(x).gatedActivation(relu:)` and a `Dropout` with that mask).
    public func gated(_ x: Tensor, relu: Bool, dropout mask: DropoutMask? = nil) throws -> Tensor {
        try checkInput(x)
        return try Tensor.gatedBatchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                         training: training, momentum: momentum, eps: eps, relu: relu, dropout: mask)
    }

    /// Checks the input's shape and counts a training batch.
    private func checkInput(_ x: Tensor) throws {
        guard x.rank == 2 || x.rank == 4, x.shape[1] == features else {
            throw ModelError("BatchNorm(\(features)): expected input [B, \(features)] or [B, \(features), H, W], got \(x.shape)")
        }
        if training { batchesTracked.data[0] += 1 }
    }
}
