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
        let n = x.shape[0], units = prior.units
        var sp = 0.0, sq = 0.0, se = 0.0
        var s = [Double](repeating: 0, count: units), q = [Double](repeating: 0, count: units)
        try evaluating {
            var start = 0
            while start < n {
                let m = Swift.min(batchSize, n - start)
                let xb = try x.narrow(0, start: start, length: m).contiguous()
                let post = try encode(xb, samples: 1, tau: nil, generator: &generator)
                sp += try decode(post.zeta).bernoulliLogLikelihood(xb).toArray().reduce(0.0) { $0 + Double($1) }
                sq += try post.logQ().toArray().reduce(0.0) { $0 + Double($1) }
                se += try prior.energy(post.zeta).toArray().reduce(0.0) { $0 + Double($1) }
                let means = try grouping.toUnits(Tensor.cat(post.logits, dim: 1).sigmoid()).contiguous().toArray()
                for r in 0..<m {
                    for u in 0..<units { let v = Double(means[r * units + u]); s[u] += v; q[u] += v * v }
                }
                start += m
            }
        }
        let c = Double(Swift.max(n, 1))
        let p = sp / c, lq = sq / c, e = se / c
        let variances = (0..<units).map { Swift.max(q[$0] / c - (s[$0] / c) * (s[$0] / c), 0) }
        let metrics = SetMetrics(elbo: p - lq - e - logZ, recon: -p, logQ: lq, energy: e, logZ: logZ,
                                 kl: lq + e + logZ, count: n)
        return TensorSetMetrics(metrics: metrics, active: variances.filter { $0 > threshold }.count, variances: variances)
    }
}
