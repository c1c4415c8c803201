/// Fused neural-network ops for the Model layers (batch normalization is
/// in BatchNorm.swift, with it fused into the gate in GatedNorm.swift):
/// the gated activation of the paper's gated (de)convolutions, and a
/// Bernoulli log-likelihood over rows that share a target. Each is one
/// pass forward and one backward (instead of a chain of elementwise ops),
/// compiled here with the tensor kernels' AVX2/FMA settings.

extension Tensor {
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
