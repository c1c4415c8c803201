/// Batch normalization over dimension 1 of [N, C, ...] data, as pieces
/// the plain op (`Tensor.batchNorm`) and the fused gated op
/// (`Tensor.gatedBatchNorm`) share: the statistics and the affine map they
/// give, and the two passes of the backward.

/// The layout [outer = N, C, inner = spatial] of a channel-second tensor.
@inline(__always)
func ncl(_ shape: [Int]) -> (Int, Int, Int) {
    (shape[0], shape[1], Shape.numel(Array(shape[2...])))
}

/// Σ(x − shift) and Σ(x − shift)² of one channel: `rows` rows of `l`
/// contiguous floats at stride `rowStride`.
@inline(__always)
private func channelMoments(_ p: UnsafePointer<Float>, rows: Int, l: Int, rowStride: Int, shift: Float) -> (Double, Double) {
    var s = 0.0, q = 0.0
    for r in 0..<rows {
        let a = p + r * rowStride
        var s8 = SIMD8<Float>(repeating: 0), q8 = SIMD8<Float>(repeating: 0)
        var j = 0
        let raw = UnsafeRawPointer(a)
        while j + 8 <= l {
            let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self) - shift
            s8 += v; q8 += v * v; j += 8
        }
        var ss = Double(s8.sum()), qq = Double(q8.sum())
        while j < l { let v = Double(a[j] - shift); ss += v; qq += v * v; j += 1 }
        s += ss; q += qq
    }
    return (s, q)
}

/// Σdy and Σdy·(x − μ) over one row of `l` values.
@inline(__always)
func rowGradientSums(_ a: UnsafePointer<Float>, _ d: UnsafePointer<Float>, l: Int, mean mu: Float) -> (Double, Double) {
    var s8 = SIMD8<Float>(repeating: 0), t8 = SIMD8<Float>(repeating: 0)
    var k = 0
    let ra = UnsafeRawPointer(a), rd = UnsafeRawPointer(d)
    while k + 8 <= l {
        let dy = rd.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
        let xv = ra.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self) - mu
        s8 += dy; t8 += dy * xv; k += 8
    }
    var ss = Double(s8.sum()), tt = Double(t8.sum())
    while k < l { ss += Double(d[k]); tt += Double(d[k]) * Double(a[k] - mu); k += 1 }
    return (ss, tt)
}

/// One batch normalization of x [N, C, L]: the statistics it normalizes
/// with and the affine map y = x·scale + shift they give.
struct BatchNormMap {
    let n: Int, c: Int, l: Int
    let training: Bool
    let mean: [Float], invstd: [Float]
    /// γ (1 where there is no weight).
    let weight: [Float]
    let scale: [Float], shift: [Float]
    /// Values per channel.
    var m: Int { n * l }

    /// Validates the arguments and computes the map: in training, the batch
    /// mean and biased variance over every dimension but 1 (and updates the
    /// running statistics in place: r ← (1−m) r + m·stat, the variance
    /// entering unbiased); in evaluation, the running statistics.
    init(_ x: Tensor, _ xp: UnsafePointer<Float>, weight: Tensor?, bias: Tensor?,
         runningMean: Tensor?, runningVar: Tensor?, training: Bool, momentum: Float, eps: Float, op: String) throws {
        guard x.rank >= 2 else { throw TensorError("\(op): input must have at least 2 dimensions [N, C, ...], got \(fmt(x.shape))") }
        let (n, c, l) = ncl(x.shape)
        for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
            if let t, t.shape != [c] { throw TensorError("\(op): \(name) has shape \(fmt(t.shape)), expected [\(c)]") }
        }
        let m = n * l
        if training && m <= 1 { throw TensorError("\(op): expected more than 1 value per channel when training, got input \(fmt(x.shape))") }
        if !training && (runningMean == nil || runningVar == nil) {
            throw TensorError("\(op): evaluation mode needs running statistics")
        }
        self.n = n; self.c = c; self.l = l; self.training = training
        var mean = [Float](repeating: 0, count: c), invstd = [Float](repeating: 0, count: c)
        if training {
            var bvar = [Double](repeating: 0, count: c)
            mean.withUnsafeMutableBufferPointer { mb in invstd.withUnsafeMutableBufferPointer { ib in bvar.withUnsafeMutableBufferPointer { vb in
                if l == 1 {
                    // [N, C]: accumulate rows, vectorized over channels.
                    var s = [Double](repeating: 0, count: c), q = [Double](repeating: 0, count: c)
                    for r in 0..<n { let a = xp + r * c; for j in 0..<c { let v = Double(a[j]); s[j] += v; q[j] += v * v } }
                    for j in 0..<c {
                        let mu = s[j] / Double(m)
                        let v = Swift.max(q[j] / Double(m) - mu * mu, 0)
                        mb[j] = Float(mu); vb[j] = v; ib[j] = Float(1 / (v + Double(eps)).squareRoot())
                    }
                } else {
                    Parallel.forEachRange(count: c, minimum: Swift.max(1, c * 65536 / Swift.max(n * c * l, 1))) { r in
                        for j in r {
                            // Two passes (shifted by a first estimate) for accuracy.
                            let (s0, _) = channelMoments(xp + j * l, rows: 1, l: l, rowStride: c * l, shift: 0)
                            let shift = Float(s0 / Double(l))
                            let (s, q) = channelMoments(xp + j * l, rows: n, l: l, rowStride: c * l, shift: shift)
                            let d = s / Double(m)
                            let v = Swift.max(q / Double(m) - d * d, 0)
                            mb[j] = shift + Float(d); vb[j] = v; ib[j] = Float(1 / (v + Double(eps)).squareRoot())
                        }
                    }
                }
            } } }
            if let rm = runningMean, let rv = runningVar {
                try Tensor.noGrad {
                    guard rm.isContiguous, rv.isContiguous else { throw TensorError("\(op): running statistics must be contiguous") }
                    let unbias = Double(m) / Double(m - 1)
                    for j in 0..<c {
                        rm.data[j] = (1 - momentum) * rm.data[j] + momentum * mean[j]
                        rv.data[j] = (1 - momentum) * rv.data[j] + momentum * Float(bvar[j] * unbias)
                    }
                }
            }
        } else {
            let rm = runningMean!.contiguousData(), rv = runningVar!.contiguousData()
            for j in 0..<c { mean[j] = rm.data[j]; invstd[j] = 1 / (rv.data[j] + eps).squareRoot() }
        }
        // y = (x − mean)·invstd·w + b = x·scale + shift.
        let wc = weight?.contiguousData(), bc = bias?.contiguousData()
        var w = [Float](repeating: 1, count: c)
        var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
        for j in 0..<c {
            w[j] = wc?.data[j] ?? 1
            let b = bc?.data[j] ?? 0
            scale[j] = invstd[j] * w[j]; shift[j] = b - mean[j] * invstd[j] * w[j]
        }
        self.mean = mean; self.invstd = invstd; self.weight = w; self.scale = scale; self.shift = shift
    }

    /// o = x·scale + shift (o may be x).
    func apply(_ xp: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>) {
        scale.withUnsafeBufferPointer { sc in shift.withUnsafeBufferPointer { sh in
            if l == 1 {
                Parallel.forEachRange(count: n, minimum: Swift.max(1, 65536 / Swift.max(c, 1))) { r in
                    for row in r { let a = xp + row * c, o = o + row * c; for j in 0..<c { o[j] = a[j] * sc[j] + sh[j] } }
                }
            } else {
                Parallel.forEachRange(count: n * c, minimum: Swift.max(1, 65536 / l)) { r in
                    for nc in r {
                        let j = nc % c, a = xp + nc * l, o = o + nc * l, s = sc[j], t = sh[j]
                        for k in 0..<l { o[k] = a[k] * s + t }
                    }
                }
            }
        } }
    }

    /// Per channel Σdy and Σdy·x̂, x̂ = (x − μ)·invstd, for the gradient dy
    /// of y (the gradients of bias and weight).
    func gradientSums(_ xp: UnsafePointer<Float>, _ gp: UnsafePointer<Float>) -> (sdy: [Double], sdyx: [Double]) {
        var sdy = [Double](repeating: 0, count: c), sdyx = [Double](repeating: 0, count: c)
        if l == 1 {
            for row in 0..<n {
                let a = xp + row * c, d = gp + row * c
                for j in 0..<c { let dy = Double(d[j]); sdy[j] += dy; sdyx[j] += dy * Double((a[j] - mean[j]) * invstd[j]) }
            }
            return (sdy, sdyx)
        }
        sdy.withUnsafeMutableBufferPointer { sb in sdyx.withUnsafeMutableBufferPointer { xb in
            Parallel.forEachRange(count: c, minimum: Swift.max(1, c * 65536 / Swift.max(n * c * l, 1))) { r in
                for j in r {
                    var s = 0.0, t = 0.0
                    for row in 0..<n {
                        let (ss, tt) = rowGradientSums(xp + (row * c + j) * l, gp + (row * c + j) * l, l: l, mean: mean[j])
                        s += ss; t += tt
                    }
                    sb[j] = s; xb[j] = t * Double(invstd[j])
                }
            }
        } }
        return (sdy, sdyx)
    }

    /// dx from dy and the sums (o may be gp). Training:
    /// dx = w·invstd·(dy − Σdy/M − x̂·Σdy·x̂/M); evaluation: dx = w·invstd·dy.
    func inputGradient(_ xp: UnsafePointer<Float>, _ gp: UnsafePointer<Float>, sdy: [Double], sdyx: [Double],
                       into o: UnsafeMutablePointer<Float>) {
        var a = [Float](repeating: 0, count: c), b = [Float](repeating: 0, count: c), k1 = [Float](repeating: 0, count: c)
        for j in 0..<c {
            let wi = weight[j] * invstd[j]
            a[j] = wi
            if training {
                // dx = wi·dy − wi·Σdy/M − wi·(x−μ)·invstd²·Σdyx̂/M
                b[j] = Float(-Double(wi) * sdy[j] / Double(m) + Double(wi) * Double(mean[j] * invstd[j]) * sdyx[j] / Double(m))
                k1[j] = Float(-Double(wi) * Double(invstd[j]) * sdyx[j] / Double(m))
            }
        }
        a.withUnsafeBufferPointer { ab in b.withUnsafeBufferPointer { bb in k1.withUnsafeBufferPointer { kb in
            if l == 1 {
                for row in 0..<n {
                    let xr = xp + row * c, d = gp + row * c, orow = o + row * c
                    for j in 0..<c { orow[j] = ab[j] * d[j] + kb[j] * xr[j] + bb[j] }
                }
            } else {
                Parallel.forEachRange(count: n * c, minimum: Swift.max(1, 65536 / l)) { r in
                    for nc in r {
                        let j = nc % c, xr = xp + nc * l, d = gp + nc * l, orow = o + nc * l
                        let aj = ab[j], bj = bb[j], kj = kb[j]
                        for q in 0..<l { orow[q] = aj * d[q] + kj * xr[q] + bj }
                    }
                }
            }
        } } }
    }
}

extension Tensor {
    /// Batch normalization over dimension 1 of x [N, C] or [N, C, ...]
    /// (PyTorch's `F.batch_norm`). In training, normalizes with the batch
    /// mean and biased variance over every dimension but 1, and updates
    /// `runningMean`/`runningVar` in place (momentum m: r ← (1−m) r + m·stat,
    /// the variance entering unbiased, n/(n−1)). In evaluation, uses the
    /// running statistics. `weight`/`bias` [C] are optional (affine).
    /// Differentiable in x, weight and bias.
    public static func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?,
                                 runningMean: Tensor?, runningVar: Tensor?,
                                 training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) throws -> Tensor {
        let xc = x.contiguousData()
        let xp = xc.data
        let map = try BatchNormMap(x, xp, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                   training: training, momentum: momentum, eps: eps, op: "batchNorm")
        let out = try Tensor(uninitialized: x.shape)
        map.apply(xp, out.data)
        let needs = BatchNormMap.Needs(x, weight, bias)
        return record(out, "batchNorm", [x, weight, bias].compactMap { $0 }) { g in
            let gc = g.contiguousData()
            return try map.backward(x: xc, gradient: gc, overwrite: false, needs: needs)
        }
    }
}

extension BatchNormMap {
    /// Which gradients an op's inputs want, taken when the op runs: x's,
    /// and weight's and bias's where they are given (nil: not an input).
    struct Needs {
        let x: Bool, weight: Bool?, bias: Bool?
        init(_ x: Tensor, _ weight: Tensor?, _ bias: Tensor?) {
            self.x = x.requiresGrad; self.weight = weight?.requiresGrad; self.bias = bias?.requiresGrad
        }
    }

    /// The gradients [x, weight?, bias?] (weight/bias only where inputs)
    /// for the contiguous gradient `g` of y; with `overwrite` (g is the
    /// caller's scratch, read by nothing else) dx is written over it.
    /// `sums`: `gradientSums(x, g)` when the caller has them already.
    func backward(x xc: Tensor, gradient g: Tensor, overwrite: Bool, needs: Needs,
                  sums: (sdy: [Double], sdyx: [Double])? = nil) throws -> [Tensor?] {
        let (sdy, sdyx) = sums ?? gradientSums(xc.data, g.data)
        var gx: Tensor? = nil
        if needs.x {
            let t = try overwrite ? g : Tensor(uninitialized: xc.shape)
            inputGradient(xc.data, g.data, sdy: sdy, sdyx: sdyx, into: t.data)
            gx = t
        }
        var grads: [Tensor?] = [gx]
        if let w = needs.weight { grads.append(w ? Tensor(sdyx.map { Float($0) }) : nil) }
        if let b = needs.bias { grads.append(b ? Tensor(sdy.map { Float($0) }) : nil) }
        return grads
    }
}
