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
    /// L_K with K importance samples per image, and its error terms. For a
    /// quantum prior this uses the Q-ELBO's p̃(z) = e^{−H(z)}/Z: a bound.
    public let logLikelihood: LogLikelihoodResult
    /// For a quantum prior small enough to diagonalize
    /// (`QuantumPrior.exactLogProbabilities`): L_K with the true p(z), the
    /// diagonal of e^{−H}/Tr e^{−H}, from the same samples; else nil.
    public let exactLogLikelihood: LogLikelihoodResult?
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
    ///
    /// `betaEff` ≠ 1 evaluates the *auxiliary* model instead (Eqs. 17–18,
    /// Appendix C): the VAE whose prior is e^{−β H(z)}/Z_β, i.e. the machine
    /// with β·b and β·W, the distribution an annealer at effective inverse
    /// temperature β samples after training. The prior's parameters are
    /// scaled for the evaluation and restored bit for bit afterwards (the
    /// log Z cache stays valid); `logZ`, when given, must be log Z_β.
    /// A `QuantumPrior` of at most `QuantumPrior.exactLikelihoodUnits` units
    /// also gets L_K with its true p(z) (`exactLogLikelihood`).
    /// `logZMethod` picks the estimator of log Z (a `BoltzmannPrior`'s
    /// `estimateLogZ(method:cache: false)`; default the prior's own).
    public func evaluate(_ x: Tensor, k: Int = 1000, logZ: (value: Double, error: Double)? = nil,
                         betaEff: Double = 1, logZMethod: LogZMethod? = nil,
                         threshold: Double = 0.01, batchSize: Int = 500,
                         generator: inout Generator) throws -> VAEEvaluation {
        try require(betaEff.isFinite && betaEff > 0, field: "betaEff", "must be finite and > 0, got \(numberText(betaEff))")
        if betaEff != 1 {
            return try withPriorScaled(by: Float(betaEff)) {
                try evaluate(x, k: k, logZ: logZ, betaEff: 1, logZMethod: logZMethod, threshold: threshold,
                             batchSize: batchSize, generator: &generator)
            }
        }
        try checkInput(x)
        try require(k >= 1 && k <= 10_000_000, field: "k", "must be in 1..10000000, got \(k)")
        try require(batchSize >= 1, field: "batchSize", "must be >= 1, got \(batchSize)")
        try require(threshold.isFinite && threshold >= 0, field: "threshold", "must be finite and >= 0, got \(numberText(threshold))")
        if let z = logZ {
            try require(z.value.isFinite, field: "logZ", "must be finite, got \(numberText(z.value))")
            try require(z.error.isFinite && z.error >= 0, field: "logZError", "must be finite and >= 0, got \(numberText(z.error))")
        }
        let lz: (value: Double, error: Double)
        if let logZ { lz = logZ }
        else if let m = logZMethod, let bp = prior as? BoltzmannPrior {
            let e = try bp.estimateLogZ(method: m, cache: false, generator: &generator); lz = (e.logZ, e.error)
        } else { let e = try prior.estimateLogZ(generator: &generator); lz = (e.logZ, e.error) }
        let ll: LogLikelihoodResult, exact: LogLikelihoodResult?
        if let table = try (prior as? QuantumPrior)?.exactLogProbabilities() {
            (ll, exact) = try logLikelihoods(x, k: k, logZ: lz, exactLogPrior: table, generator: &generator)
        } else {
            (ll, exact) = (try logLikelihood(x, k: k, logZ: lz, generator: &generator), nil)
        }
        let r = try evaluate(x: x, logZ: lz.value, threshold: threshold, batchSize: batchSize, generator: &generator)
        return VAEEvaluation(logLikelihood: ll, exactLogLikelihood: exact, set: r, logZ: lz.value, logZError: lz.error,
                             count: x.shape[0])
    }
}

extension DiscreteVAE {
    /// Runs `body` with the prior's parameters b and W multiplied by `beta`
    /// (the auxiliary machine), restoring their exact values afterwards,
    /// also when `body` throws.
    public func withPriorScaled<T>(by beta: Float, _ body: () throws -> T) throws -> T {
        try require(beta.isFinite && beta > 0, field: "betaEff", "must be finite and > 0, got \(numberText(beta))")
        let params = [prior.bias, prior.weights]
        let saved = params.map { $0.toArray() }
        for t in params where t.count > 0 {
            try require(t.isContiguous, "withPriorScaled: the prior's parameters must be contiguous")
            for i in 0..<t.count { t.data[i] *= beta }
        }
        defer {
            for (t, v) in zip(params, saved) where t.count > 0 {
                v.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        return try body()
    }
}
