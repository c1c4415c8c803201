/// Fused neural-network ops for the Model layers: batch normalization,
/// the gated activation of the paper's gated (de)convolutions, and a
/// Bernoulli log-likelihood over rows that share a target. Each is one
/// pass forward and one backward (instead of a chain of elementwise ops),
/// compiled here with the tensor kernels' AVX2/FMA settings.

/// The layout [outer = N, C, inner = spatial] of a channel-second tensor.
@inline(__always)
private func ncl(_ shape: [Int]) -> (Int, Int, Int) {
    (shape[0], shape[1], Shape.numel(Array(shape[2...])))
}

/// Σ and Σx² of one channel: n rows of `l` contiguous floats at stride `rowStride`.
@inline(__always)
private func channelMoments(_ p: UnsafePointer<Float>, rows: Int, l: Int, rowStride: Int) -> (Double, Double) {
    var s = 0.0, q = 0.0
    for r in 0..<rows {
        let a = p + r * rowStride
        var s8 = SIMD8<Float>(repeating: 0), q8 = SIMD8<Float>(repeating: 0)
        var j = 0
        let raw = UnsafeRawPointer(a)
        while j + 8 <= l {
            let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            s8 += v; q8 += v * v; j += 8
        }
        var ss = Double(s8.sum()), qq = Double(q8.sum())
        while j < l { let v = Double(a[j]); ss += v; qq += v * v; j += 1 }
        s += ss; q += qq
    }
    return (s, q)
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
        let op = "batchNorm"
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
        let xc = x.contiguousData()
        let xp = xc.data
        // Per-channel mean and 1/sqrt(var + eps).
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
                            let (s0, _) = channelMoments(xp + j * l, rows: 1, l: l, rowStride: c * l)
                            let shift = Float(s0 / Double(l))
                            var s = 0.0, q = 0.0
                            for row in 0..<n {
                                let a = xp + (row * c + j) * l
                                var s8 = SIMD8<Float>(repeating: 0), q8 = SIMD8<Float>(repeating: 0)
                                var k = 0
                                let raw = UnsafeRawPointer(a)
                                while k + 8 <= l {
                                    let v = raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self) - shift
                                    s8 += v; q8 += v * v; k += 8
                                }
                                var ss = Double(s8.sum()), qq = Double(q8.sum())
                                while k < l { let v = Double(a[k] - shift); ss += v; qq += v * v; k += 1 }
                                s += ss; q += qq
                            }
                            let d = s / Double(m)
                            let v = Swift.max(q / Double(m) - d * d, 0)
                            mb[j] = shift + Float(d); vb[j] = v; ib[j] = Float(1 / (v + Double(eps)).squareRoot())
                        }
                    }
                }
            } } }
            if let rm = runningMean, let rv = runningVar {
                try noGrad {
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
        var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
        for j in 0..<c {
            let w = wc?.data[j] ?? 1, b = bc?.data[j] ?? 0
            scale[j] = invstd[j] * w; shift[j] = b - mean[j] * invstd[j] * w
        }
        let out = try Tensor(uninitialized: x.shape)
        let op_ = out.data
        scale.withUnsafeBufferPointer { sc in shift.withUnsafeBufferPointer { sh in
            if l == 1 {
                Parallel.forEachRange(count: n, minimum: Swift.max(1, 65536 / Swift.max(c, 1))) { r in
                    for row in r { let a = xp + row * c, o = op_ + row * c; for j in 0..<c { o[j] = a[j] * sc[j] + sh[j] } }
                }
            } else {
                Parallel.forEachRange(count: n * c, minimum: Swift.max(1, 65536 / l)) { r in
                    for nc in r {
                        let j = nc % c, a = xp + nc * l, o = op_ + nc * l, s = sc[j], t = sh[j]
                        for k in 0..<l { o[k] = a[k] * s + t }
                    }
                }
            }
        } }
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let rx = x.requiresGrad, rw = weight?.requiresGrad ?? false, rb = bias?.requiresGrad ?? false
        let hasW = weight != nil, hasB = bias != nil
        let wv: [Float] = (0..<c).map { wc?.data[$0] ?? 1 }
        return record(out, op, inputs) { g in
            let gc = g.contiguousData()
            let gp = gc.data
            // Per channel: Σdy and Σdy·x̂.
            var sdy = [Double](repeating: 0, count: c), sdyx = [Double](repeating: 0, count: c)
            if l == 1 {
                for row in 0..<n {
                    let a = xp + row * c, d = gp + row * c
                    for j in 0..<c { let dy = Double(d[j]); sdy[j] += dy; sdyx[j] += dy * Double((a[j] - mean[j]) * invstd[j]) }
                }
            } else {
                sdy.withUnsafeMutableBufferPointer { sb in sdyx.withUnsafeMutableBufferPointer { xb in
                    Parallel.forEachRange(count: c, minimum: Swift.max(1, c * 65536 / Swift.max(n * c * l, 1))) { r in
                        for j in r {
                            let mu = mean[j]
                            var s = 0.0, t = 0.0
                            for row in 0..<n {
                                let a = xp + (row * c + j) * l, d = gp + (row * c + j) * l
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
                                s += ss; t += tt
                            }
                            sb[j] = s; xb[j] = t * Double(invstd[j])
                        }
                    }
                } }
            }
            var gx: Tensor? = nil
            if rx {
                let gxt = try Tensor(uninitialized: xc.shape)
                let o = gxt.data
                // Training: dx = w·invstd·(dy − Σdy/M − x̂·Σdy·x̂/M); eval: dx = w·invstd·dy.
                var a = [Float](repeating: 0, count: c), b = [Float](repeating: 0, count: c), k1 = [Float](repeating: 0, count: c)
                for j in 0..<c {
                    let wi = wv[j] * invstd[j]
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
                gx = gxt
            }
            var grads: [Tensor?] = [gx]
            if hasW { grads.append(rw ? Tensor(sdyx.map { Float($0) }) : nil) }
            if hasB { grads.append(rb ? Tensor(sdy.map { Float($0) }) : nil) }
            return grads
        }
    }

    /// The gated activation of a gated (de)convolution: x [N, 2C, ...] is
    /// split along dimension 1 into a value half a (first C channels) and a
    /// gate half g; the result [N, C, ...] is act(a)·σ(g), act = ReLU (or the
    /// identity with `relu: false`).
    public func gatedActivation(relu: Bool = true) throws -> Tensor {
        guard rank >= 2, shape[1] % 2 == 0 else {
            throw TensorError("gatedActivation: input must be [N, 2C, ...] with an even channel count, got \(fmt(shape))")
        }
        let (n, c2, l) = ncl(shape)
        let c = c2 / 2, half = c * l
        var os = shape; os[1] = c
        let xc = contiguousData()
        let xp = xc.data
        let out = try Tensor(uninitialized: os)
        let o = out.data
        Parallel.forEachRange(count: n, minimum: Swift.max(1, 65536 / Swift.max(half, 1))) { r in
            for i in r {
                let a = xp + i * 2 * half, g = a + half, y = o + i * half
                if relu { for k in 0..<half { let v = a[k]; y[k] = (v > 0 ? v : 0) * VMath.sigmoid(g[k]) } }
                else { for k in 0..<half { y[k] = a[k] * VMath.sigmoid(g[k]) } }
            }
        }
        return Tensor.record(out, "gatedActivation", [self]) { gOut in
            let gc = gOut.contiguousData()
            let gp = gc.data
            let gx = try Tensor(uninitialized: xc.shape)
            let d = gx.data
            Parallel.forEachRange(count: n, minimum: Swift.max(1, 65536 / Swift.max(half, 1))) { r in
                for i in r {
                    let a = xp + i * 2 * half, g = a + half, dy = gp + i * half
                    let da = d + i * 2 * half, dg = da + half
                    for k in 0..<half {
                        let s = VMath.sigmoid(g[k]), v = a[k]
                        let act = relu ? (v > 0 ? v : 0) : v
                        let dact: Float = relu ? (v > 0 ? 1 : 0) : 1
                        da[k] = dy[k] * s * dact
                        dg[k] = dy[k] * act * s * (1 - s)
                    }
                }
            }
            return [gx]
        }
    }

    /// Bernoulli log-likelihood of binary-or-grey targets under logits,
    /// summed over the last dimension: for logits [R, P] and target [B, P]
    /// with R = B·S, row r is scored against target row r / S:
    /// out[r] = Σ_p (t·l − softplus(l)) = −Σ_p BCEWithLogits(l, t).
    /// Differentiable in the logits (dl = (t − σ(l))·g); the target is data.
    public func bernoulliLogLikelihood(_ target: Tensor) throws -> Tensor {
        let op = "bernoulliLogLikelihood"
        guard rank == 2, target.rank == 2, shape[1] == target.shape[1], target.shape[0] > 0,
              shape[0] % target.shape[0] == 0 else {
            throw TensorError("\(op): logits \(fmt(shape)) and target \(fmt(target.shape)) must be [B·S, P] and [B, P]")
        }
        let r = shape[0], p = shape[1], s = r / target.shape[0]
        let lc = contiguousData(), tc = target.contiguousData()
        let lp = lc.data, tp = tc.data
        let out = try Tensor(uninitialized: [r])
        let o = out.data
        Parallel.forEachRange(count: r, minimum: Swift.max(1, 32768 / Swift.max(p, 1))) { rg in
            // Terms into a row buffer (a map loop the compiler vectorizes),
            // then a SIMD sum: a float reduction loop would stay scalar.
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: p)
            defer { buf.deallocate() }
            for i in rg {
                let a = lp + i * p, t = tp + (i / s) * p
                for k in 0..<p {
                    let x = a[k]
                    // softplus(x) = max(x, 0) + log(1 + e^{−|x|}); 1 + e ∈ (1, 2].
                    buf[k] = t[k] * x - ((x > 0 ? x : 0) + VMath.log1pSmall(VMath.exp(-Swift.abs(x))))
                }
                o[i] = Float(sumFloats(buf, p))
            }
        }
        return Tensor.record(out, op, [self]) { g in
            let gc = g.contiguousData()
            let gp = gc.data
            let gl = try Tensor(uninitialized: [r, p])
            let d = gl.data
            Parallel.forEachRange(count: r, minimum: Swift.max(1, 32768 / Swift.max(p, 1))) { rg in
                for i in rg {
                    let a = lp + i * p, t = tp + (i / s) * p, dd = d + i * p, gi = gp[i]
                    for k in 0..<p { dd[k] = gi * (t[k] - VMath.sigmoid(a[k])) }
                }
            }
            return [gl]
        }
    }
}

extension VMath {
    /// log(1 + e) for e in [0, 1] (absolute error ~1e-7): the log kernel
    /// without special cases, for softplus.
    @inline(__always)
    static func log1pSmall(_ e: Float) -> Float {
        let bits = (1 + e).bitPattern  // 1 + e in [1, 2]: normal, positive
        return logCore(bits, exponent: Float(Int32(bitPattern: (bits >> 23) & 0xFF) &- 126))
    }
}

extension Tensor {
    /// Standard logistic noise σ⁻¹(ρ) = log(ρ/(1 − ρ)), ρ ~ U(0, 1) open:
    /// the noise of the relaxed Bernoulli (ζ = σ((σ⁻¹(ρ) + l)/τ)) in one
    /// pass. Same seed and shape, same values on any thread count.
    public static func logisticNoise(_ shape: [Int], generator: inout Generator) throws -> Tensor {
        let t = try randOpen(shape, generator: &generator)
        let p = t.data
        Parallel.forEachRange(count: t.count, minimum: parallelThreshold) { r in
            for i in r { let u = p[i]; p[i] = VMath.log(u / (1 - u)) }
        }
        return t
    }
}
