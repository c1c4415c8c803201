import Foundation
import Runtime

/// Test log-likelihood by importance sampling.
public struct LogLikelihoodResult: CustomStringConvertible {
    /// Mean over examples of L_K (nats), using the given log Z value.
    public let mean: Double
    /// Standard error of that mean over examples (sampling spread of the data).
    public let standardError: Double
    /// The log Z error, carried as a systematic term: every L_K is shifted by
    /// −log Z exactly, so an error δ in log Z moves the mean by −δ.
    public let logZError: Double
    /// log Z used.
    public let logZ: Double
    /// L_K per example.
    public let perExample: [Double]
    public let k: Int
    public var description: String {
        String(format: "LL = %.3f ± %.3f (s.e. over %d examples) ± %.3f (log Z), K = %d",
               mean, standardError, perExample.count, logZError, k)
    }
}

/// The ELBO and its parts averaged over a set (hard z, evaluation mode).
public struct SetMetrics {
    public let elbo: Double, recon: Double, logQ: Double, energy: Double, logZ: Double, kl: Double
    public let count: Int
}

/// Per-image running log-sum-exp of log weights: the maximum so far and
/// the sum of exp(w − max), accumulated in Double.
struct RunningLogSumExp {
    private var m: [Double], s: [Double]
    init(count: Int) {
        m = [Double](repeating: -.infinity, count: count)
        s = [Double](repeating: 0, count: count)
    }
    /// Adds `kk` log weights of image `i`, `w(j)` for j in 0..<kk.
    mutating func add(_ i: Int, _ kk: Int, _ w: (Int) -> Double) {
        var mi = m[i]
        for j in 0..<kk { mi = Swift.max(mi, w(j)) }
        var si = m[i] == -.infinity ? 0 : s[i] * Foundation.exp(m[i] - mi)
        for j in 0..<kk { si += Foundation.exp(w(j) - mi) }
        m[i] = mi; s[i] = si
    }
    /// log Σ exp(w) of image i.
    func value(_ i: Int) -> Double { m[i] + Foundation.log(s[i]) }
}

extension LogLikelihoodResult {
    /// The mean and standard error over images of per-image L_K values.
    init(perExample ll: [Double], logZ: (value: Double, error: Double), k: Int) {
        let b = ll.count
        let mean = ll.reduce(0, +) / Double(Swift.max(b, 1))
        let v = b > 1 ? ll.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / Double(b - 1) : 0
        self.init(mean: mean, standardError: (v / Double(Swift.max(b, 1))).squareRoot(), logZError: logZ.error,
                  logZ: logZ.value, perExample: ll, k: k)
    }
}

extension DiscreteVAE {
    /// L_K for each image of x [B, P] with K hard samples (τ → 0) per image,
    /// in evaluation mode without gradients: log w = log p(x|z) − log q(z|x)
    /// − H(z) − log Z, and L_K = log (1/K) Σ_k w_k accumulated in Double
    /// (running log-sum-exp with the maximum subtracted). Memory is
    /// bounded: at most `maxRows` posterior samples are drawn at a time, and
    /// they go through the decoder in passes of at most `decodeRows` rows
    /// (`DiscreteVAE.decodeRows`; rows are independent in evaluation mode,
    /// so the pass size changes no draw).
    public func logLikelihood(_ x: Tensor, k: Int = 1000, logZ: (value: Double, error: Double),
                              maxRows: Int = 10_000, decodeRows: Int = DiscreteVAE.decodeRows,
                              generator: inout Generator) throws -> LogLikelihoodResult {
        try importanceSampled(x, k: k, logZ: logZ, exactLogPrior: nil, maxRows: maxRows, decodeRows: decodeRows,
                              generator: &generator).ll
    }

    /// L_K as `logLikelihood` (the prior's log p(z) = −H(z) − log Z: for a
    /// quantum prior the Q-ELBO's p̃(z), a bound), and with the *same*
    /// posterior samples L_K under the exact prior log p(z) =
    /// `exactLogPrior[s]`, s the state whose bit l is z_l (2^N entries, e.g.
    /// the log of `QuantumExact.moments(_:).probabilities`, the diagonal of
    /// ρ = e^{−H}/Tr e^{−H}). Where log p(z) ≥ −H(z) − log Z for every z
    /// (Eq. 15), each image's exact L_K is ≥ its bound-based one.
    public func logLikelihoods(_ x: Tensor, k: Int = 1000, logZ: (value: Double, error: Double),
                               exactLogPrior: [Double], maxRows: Int = 10_000,
                               decodeRows: Int = DiscreteVAE.decodeRows, generator: inout Generator) throws -> (bound: LogLikelihoodResult, exact: LogLikelihoodResult) {
        try require(prior.units <= 30 && exactLogPrior.count == 1 << prior.units, field: "exactLogPrior",
                    "must have 2^N = 2^\(prior.units) entries, got \(exactLogPrior.count)")
        let r = try importanceSampled(x, k: k, logZ: logZ, exactLogPrior: exactLogPrior, maxRows: maxRows,
                                      decodeRows: decodeRows, generator: &generator)
        return (r.ll, r.exact!)
    }

    /// The importance-sampling loop behind `logLikelihood(s)`: K hard
    /// posterior samples per image in chunks of at most `maxRows` rows,
    /// L_K with the prior's energy and log Z and, with `exactLogPrior`, L_K
    /// with that table's log p(z) from the same samples.
    private func importanceSampled(_ x: Tensor, k: Int, logZ: (value: Double, error: Double), exactLogPrior: [Double]?,
                                   maxRows: Int, decodeRows: Int, generator: inout Generator) throws -> (ll: LogLikelihoodResult, exact: LogLikelihoodResult?) {
        try checkInput(x)
        try require(k >= 1, "logLikelihood: K must be ≥ 1, got \(k)")
        try require(maxRows >= 1, "logLikelihood: maxRows must be ≥ 1")
        try require(decodeRows >= 1, "logLikelihood: decodeRows must be ≥ 1")
        let b = x.shape[0], n = prior.units
        let kc = Swift.min(k, maxRows)                        // samples per image per pass
        let bc = Swift.max(1, maxRows / kc)                   // images per pass
        var ll = [Double](repeating: 0, count: b)
        var llExact = [Double](repeating: 0, count: exactLogPrior == nil ? 0 : b)
        try evaluating {
            var b0 = 0
            while b0 < b {
                let nb = Swift.min(bc, b - b0)
                let xb = try x.narrow(0, start: b0, length: nb).contiguous()
                let h = try encoder.features(xb)
                var acc = RunningLogSumExp(count: nb), accExact = RunningLogSumExp(count: exactLogPrior == nil ? 0 : nb)
                var done = 0
                while done < k {
                    let kk = Swift.min(kc, k - done)
                    let (zeta, logQ) = try encoder.sampleHard(features: h, samples: kk, grouping: grouping, generator: &generator)
                    let base = try decodedLogLikelihood(zeta, xb, passRows: decodeRows) - logQ
                    let w = try (base - prior.energy(zeta)).toArray()
                    for i in 0..<nb { acc.add(i, kk) { Double(w[i * kk + $0]) } }
                    if let table = exactLogPrior {
                        let bw = try base.toArray(), z = try zeta.contiguous().toArray()
                        let lp = (0..<(nb * kk)).map { r -> Double in
                            var s = 0
                            for l in 0..<n where z[r * n + l] >= 0.5 { s |= 1 << l }
                            return table[s]
                        }
                        for i in 0..<nb { accExact.add(i, kk) { Double(bw[i * kk + $0]) + lp[i * kk + $0] } }
                    }
                    done += kk
                }
                for i in 0..<nb { ll[b0 + i] = acc.value(i) - Foundation.log(Double(k)) - logZ.value }
                if exactLogPrior != nil {
                    for i in 0..<nb { llExact[b0 + i] = accExact.value(i) - Foundation.log(Double(k)) }
                }
                b0 += nb
            }
        }
        return (LogLikelihoodResult(perExample: ll, logZ: logZ, k: k),
                exactLogPrior == nil ? nil : LogLikelihoodResult(perExample: llExact, logZ: (0, 0), k: k))
    }

    /// Rows of the decoder per pass in `logLikelihood`: P-conv's decoder
    /// on 10,000 rows makes activations of 0.4–0.8 GB per layer, which page
    /// in fresh every pass; 1,000-row passes stay within the reused-buffer
    /// cache (`Storage.cacheLimit`) and ran 1.5× faster (BENCHMARKS.md,
    /// "P-conv against PyTorch").
    public static let decodeRows = 1000

    /// log p(x|ζ) [R] of images x [B, P] for latents ζ [B·S, N] (S samples per
    /// image, image-major), decoding at most `passRows` rows at a time.
    func decodedLogLikelihood(_ zeta: Tensor, _ x: Tensor, passRows: Int) throws -> Tensor {
        let r = zeta.shape[0], b = x.shape[0], s = r / b
        if r <= passRows { return try decode(zeta).bernoulliLogLikelihood(x) }
        var parts: [Tensor] = []
        var r0 = 0
        while r0 < r {
            let image = r0 / s
            // Whole images per pass, or part of one image's samples.
            let images = s <= passRows ? Swift.min(passRows / s, b - image) : 1
            let len = s <= passRows ? images * s : Swift.min(passRows, (image + 1) * s - r0)
            parts.append(try decode(zeta.narrow(0, start: r0, length: len))
                .bernoulliLogLikelihood(x.narrow(0, start: image, length: images)))
            r0 += len
        }
        return try Tensor.cat(parts, dim: 0)
    }

    /// L_K over a whole image set in batches (binarized as given; the
    /// default fixes one binarization of the set).
    public func logLikelihood(set: ImageSet, k: Int = 1000, logZ: (value: Double, error: Double),
                              binarization: Binarization = .fixed(seed: 0), batchSize: Int = 100,
                              limit: Int? = nil, generator: inout Generator) throws -> LogLikelihoodResult {
        let n = Swift.min(set.count, limit ?? set.count)
        let batcher = try Batcher(set, batchSize: batchSize, binarization: binarization)
        var all: [Double] = []
        var start = 0
        while start < n {
            let idx = Array(start..<Swift.min(n, start + batchSize))
            let x = try Tensor(batcher.batch(idx[...], &generator), shape: [idx.count, set.pixels])
            all += try logLikelihood(x, k: k, logZ: logZ, generator: &generator).perExample
            start += batchSize
        }
        return LogLikelihoodResult(perExample: all, logZ: logZ, k: k)
    }

    /// ELBO and its parts on a set with one hard sample per image
    /// (evaluation mode), using log Z = `logZ`.
    public func metrics(set: ImageSet, logZ: Double, binarization: Binarization = .fixed(seed: 0),
                        batchSize: Int = 100, limit: Int? = nil, generator: inout Generator) throws -> SetMetrics {
        try setPass(set, logZ: logZ, threshold: 0.01, binarization: binarization, batchSize: batchSize,
                    limit: limit, generator: &generator).metrics
    }

    /// Active units (Fig. 5): unit l is active when the variance over the
    /// set of its posterior mean q_l(x) = σ(l_l(x)) exceeds `threshold`.
    /// For groups after the first, q is conditioned on one hard sample of
    /// the earlier groups. Returns the count and each unit's variance (unit order).
    public func activeUnits(set: ImageSet, threshold: Double = 0.01, binarization: Binarization = .fixed(seed: 0),
                            batchSize: Int = 100, limit: Int? = nil, generator: inout Generator) throws -> (count: Int, variances: [Double]) {
        let r = try setPass(set, logZ: 0, threshold: threshold, binarization: binarization, batchSize: batchSize,
                            limit: limit, generator: &generator)
        return (r.active, r.variances)
    }

    private func setPass(_ set: ImageSet, logZ: Double, threshold: Double, binarization: Binarization,
                         batchSize: Int, limit: Int?, generator: inout Generator) throws -> TensorSetMetrics {
        let n = Swift.min(set.count, limit ?? set.count)
        let batcher = try Batcher(set, batchSize: batchSize, binarization: binarization)
        return try evaluationPass(count: n, batchSize: batchSize, logZ: logZ, threshold: threshold,
                                  generator: &generator) { start, m, g in
            try Tensor(batcher.batch(Array(start..<(start + m))[...], &g), shape: [m, set.pixels])
        }
    }

    /// The one evaluation pass behind `metrics`, `activeUnits` and
    /// `evaluate(x:)`: batches of `count` images from `batch(start, m, &g)`,
    /// one hard posterior sample each, in evaluation mode without gradients;
    /// accumulates the ELBO parts and each unit's posterior-mean moments.
    func evaluationPass(count n: Int, batchSize: Int, logZ: Double, threshold: Double, generator: inout Generator,
                        batch: (Int, Int, inout Generator) throws -> Tensor) throws -> TensorSetMetrics {
        let units = prior.units
        var sp = 0.0, sq = 0.0, se = 0.0
        var s = [Double](repeating: 0, count: units), q = [Double](repeating: 0, count: units)
        try evaluating {
            var start = 0
            while start < n {
                let m = Swift.min(batchSize, n - start)
                let x = try batch(start, m, &generator)
                let post = try encode(x, samples: 1, tau: nil, generator: &generator)
                sp += try decode(post.zeta).bernoulliLogLikelihood(x).toArray().reduce(0.0) { $0 + Double($1) }
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
