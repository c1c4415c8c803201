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

/// A model's evaluation on a set of images: test log-likelihood, ELBO and
/// its parts, active units (`DiscreteVAE.evaluate(_:k:logZ:...)`).
public struct VAEEvaluation {
    /// L_K with K importance samples per image, and its error terms.
    public let logLikelihood: LogLikelihoodResult
    /// The ELBO parts (one hard sample per image) and the active units.
    public let set: TensorSetMetrics
    /// log Z used and its error (given, or estimated by the evaluation).
    public let logZ: Double, logZError: Double
    /// Images evaluated.
    public let count: Int
}

extension DiscreteVAE {
    /// The whole evaluation of images x [n, P] (already binarized), in
    /// evaluation mode without gradients and with bounded memory: log Z
    /// (`logZ` when given, else the prior's `estimateLogZ`, which changes no
    /// state), then the log-likelihood L_K (`logLikelihood`, K = `k`) and one
    /// pass for the ELBO parts and active units (`evaluate(x:logZ:...)`,
    /// `threshold` on the posterior-mean variance), each in chunks of
    /// `batchSize` images. Random draws in that order, from `generator`.
    public func evaluate(_ x: Tensor, k: Int = 1000, logZ: (value: Double, error: Double)? = nil,
                         threshold: Double = 0.01, batchSize: Int = 500,
                         generator: inout Generator) throws -> VAEEvaluation {
        try checkInput(x)
        try require(k >= 1 && k <= 10_000_000, field: "k", "must be in 1..10000000, got \(k)")
        try require(batchSize >= 1, field: "batchSize", "must be >= 1, got \(batchSize)")
        try require(threshold.isFinite && threshold >= 0, field: "threshold", "must be finite and >= 0, got \(numberText(threshold))")
        if let z = logZ {
            try require(z.value.isFinite, field: "logZ", "must be finite, got \(numberText(z.value))")
            try require(z.error.isFinite && z.error >= 0, field: "logZError", "must be finite and >= 0, got \(numberText(z.error))")
        }
        let lz: (value: Double, error: Double)
        if let logZ { lz = logZ } else { let e = try prior.estimateLogZ(generator: &generator); lz = (e.logZ, e.error) }
        let ll = try logLikelihood(x, k: k, logZ: lz, generator: &generator)
        let r = try evaluate(x: x, logZ: lz.value, threshold: threshold, batchSize: batchSize, generator: &generator)
        return VAEEvaluation(logLikelihood: ll, set: r, logZ: lz.value, logZError: lz.error, count: x.shape[0])
    }
}
