import Foundation
import Runtime

/// ELBO parts and active units of a set of images given as one tensor.
public struct TensorSetMetrics {
    public let metrics: SetMetrics
    /// Units whose posterior-mean variance over the set exceeds the threshold.
    public let active: Int
    /// Variance over the set of each unit's posterior mean q_l(x) (unit order).
    public let variances: [Double]
}

extension DiscreteVAE {
    /// One pass over x [n, P] (already binarized) in chunks of `batchSize`,
    /// with one hard posterior sample per image, in evaluation mode without
    /// gradients: the ELBO and its parts (as `metrics(set:)`) and the active
    /// units (as `activeUnits(set:)`, threshold on the variance of q_l(x)).
    public func evaluate(x: Tensor, logZ: Double, threshold: Double = 0.01, batchSize: Int = 500,
                         generator: inout Generator) throws -> TensorSetMetrics {
        try checkInput(x)
        try require(batchSize >= 1, "evaluate: batch size must be ≥ 1")
        return try evaluationPass(count: x.shape[0], batchSize: batchSize, logZ: logZ, threshold: threshold,
                                  generator: &generator) { start, m, _ in
            try x.narrow(0, start: start, length: m).contiguous()
        }
    }
}
