import CRuntimeKernels

extension Tensor {
    /// Batch normalization, the gated activation and dropout of a gated
    /// (de)convolution block as one op: x [N, 2C, ...] is normalized over
    /// dimension 1 (as `batchNorm`), split into a value half â (first C
    /// channels) and a gate half ĝ, and the result [N, C, ...] is
    /// act(â)·σ(ĝ) (act = ReLU, or the identity with `relu: false`), times
    /// the dropout mask's factors when one is given.
    ///
    /// Bit for bit the chain `batchNorm(x, …).gatedActivation(relu:)`
    /// followed by `dropout(mask)`, values and gradients, but without the
    /// normalized tensor: the forward is one pass after the statistics and
    /// the backward recomputes x̂ from x, so the op keeps only x and the mask.
    /// Differentiable in x, weight and bias.
    public static func gatedBatchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?,
                                      runningMean: Tensor?, runningVar: Tensor?, training: Bool,
                                      momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool = true,
                                      dropout mask: DropoutMask? = nil) throws -> Tensor {
        let op = "gatedBatchNorm"
        guard x.rank >= 2, x.shape[1] % 2 == 0 else {
            throw TensorError("\(op): input must be [N, 2C, ...] with an even channel count, got \(fmt(x.shape))")
        }
        var os = x.shape; os[1] /= 2
        if let mask, mask.count != x.count / 2 {
            throw TensorError("\(op): dropout mask of \(mask.count) elements for an output of \(x.count / 2) (\(fmt(os)))")
        }
        let xc = x.contiguousData()
        let map = try BatchNormMap(x, xc.data, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                   training: training, momentum: momentum, eps: eps, op: op)
        let gate = GatedNormPairs(map: map, x: xc.data, relu: relu, mask: mask)
        let out = try Tensor(uninitialized: os)
        gate.forward(out.data)
        let needs = BatchNormMap.Needs(x, weight, bias)
        return record(out, op, [x, weight, bias].compactMap { $0 }) { g in
            let gc = g.contiguousData()
            let gx = try Tensor(uninitialized: xc.shape)
            let sums = gate.normalizedGradient(gc.data, into: gx.data)
            return try map.backward(x: xc, gradient: gx, overwrite: true, needs: needs, sums: sums)
        }
    }
}

extension Tensor {
    /// Whether the gated norm's C loops run their AVX-512 copy (the default
    /// on CPUs that have it) or the AVX2 one; the tests run both.
    static var gatedNormUsesAVX512: Bool {
        get { qvr_uses_avx512() != 0 }
        set { qvr_set_avx512(newValue ? 1 : 0) }
    }
}

/// The (value, gate) channel pairs of a gated batch norm: channel j and
/// j + C of each row, normalized by `map`.
private struct GatedNormPairs: @unchecked Sendable {
    let map: BatchNormMap
    let x: UnsafePointer<Float>
    let relu: Bool
    let mask: DropoutMask?

    /// Calls body(row i, pair j) for every row and value channel, in parallel.
    @inline(__always)
    private func forEachPair(_ body: (Int, Int) -> Void) {
        let c = map.c / 2
        Parallel.forEachRange(count: map.n * c, minimum: Swift.max(1, 65536 / Swift.max(2 * map.l, 1))) { r in
            for p in r { body(p / c, p % c) }
        }
    }

    /// y = act(â)·σ(ĝ)·factor over [N, C, L].
    func forward(_ o: UnsafeMutablePointer<Float>) {
        let c = map.c / 2, l = map.l, half = c * l
        forEachPair { i, j in
            let xa = x + (i * 2 * c + j) * l, m = (i * c + j) * l
            qvr_gated_norm_forward(xa, xa + half, o + m, l, map.scale[j], map.shift[j], map.scale[j + c], map.shift[j + c],
                                   relu ? 1 : 0, mask.map { $0.kept + m }, mask?.scale ?? 1)
        }
    }

    /// The gradient of (â, ĝ) [N, 2C, L] from the output's gradient dy
    /// [N, C, L], and its per-channel sums (`BatchNormMap.gradientSums`,
    /// taken row by row while each row is in cache: a separate pass over
    /// the written gradient made P-conv's K·D = 8 backward 2–4% slower,
    /// 290–299 vs 287–288 ms in three alternations).
    func normalizedGradient(_ gp: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>) -> (sdy: [Double], sdyx: [Double]) {
        let c = map.c / 2, l = map.l, half = c * l
        guard l > 1 else {  // [N, 2C]: the batch norm's own sums (vectorized over channels)
            for i in 0..<map.n { for j in 0..<c { gateGradientRow(i, j, gp, d) } }
            return map.gradientSums(x, d)
        }
        var sdy = [Double](repeating: 0, count: 2 * c), sdyx = [Double](repeating: 0, count: 2 * c)
        sdy.withUnsafeMutableBufferPointer { sb in sdyx.withUnsafeMutableBufferPointer { xb in
            Parallel.forEachRange(count: c, minimum: Swift.max(1, 65536 / Swift.max(2 * map.n * l, 1))) { r in
                for j in r {
                    var sa = 0.0, ta = 0.0, sg = 0.0, tg = 0.0
                    for i in 0..<map.n {
                        gateGradientRow(i, j, gp, d)
                        let xa = x + (i * 2 * c + j) * l, da = d + (i * 2 * c + j) * l
                        let (s1, t1) = rowGradientSums(xa, da, l: l, mean: map.mean[j])
                        let (s2, t2) = rowGradientSums(xa + half, da + half, l: l, mean: map.mean[j + c])
                        sa += s1; ta += t1; sg += s2; tg += t2
                    }
                    sb[j] = sa; xb[j] = ta * Double(map.invstd[j])
                    sb[j + c] = sg; xb[j + c] = tg * Double(map.invstd[j + c])
                }
            }
        } }
        return (sdy, sdyx)
    }

    /// Row i of pair j: (dâ, dĝ) from dy (times the mask's factors).
    @inline(__always)
    private func gateGradientRow(_ i: Int, _ j: Int, _ gp: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>) {
        let c = map.c / 2, l = map.l, half = c * l
        let xa = x + (i * 2 * c + j) * l, da = d + (i * 2 * c + j) * l, m = (i * c + j) * l
        qvr_gated_norm_backward(xa, xa + half, gp + m, da, da + half, l,
                                map.scale[j], map.shift[j], map.scale[j + c], map.shift[j + c],
                                relu ? 1 : 0, mask.map { $0.kept + m }, mask?.scale ?? 1)
    }
}
