/// Random tensors. Every fill draws from one generator (the global one
/// behind `qv.seed`, or one passed in); large fills are cut into a fixed
/// number of blocks, each with its own `split()` stream, so the numbers
/// depend only on the seed and the shape, never on the thread count.
extension Tensor {
    /// Number of blocks (streams) for a fill of `n` values.
    static func blocks(_ n: Int) -> Int { Swift.max(1, Swift.min(256, n / 16384)) }

    /// Draws for `n` values in parallel blocks: `body(gen, range)` for each
    /// block's range of `0..<n`, with the block's own split stream.
    static func fillBlocks(_ n: Int, _ gen: inout Generator, _ body: (inout Generator, Range<Int>) -> Void) {
        let k = blocks(n)
        var gens = (0..<k).map { _ in gen.split() }
        gens.withUnsafeMutableBufferPointer { gp in
            Parallel.forEachChunk(count: n, chunks: k, minimum: 1 << 15) { c, r in body(&gp[c], r) }
        }
    }

    /// Fills `n` values at `p` in parallel blocks; `body(gen, buffer)`.
    private static func fill(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ gen: inout Generator,
                             _ body: (inout Generator, UnsafeMutableBufferPointer<Float>) -> Void) {
        fillBlocks(n, &gen) { g, r in body(&g, UnsafeMutableBufferPointer(start: p + r.lowerBound, count: r.count)) }
    }

    /// Uniform [0, 1) values from `generator`.
    public static func rand(_ shape: [Int], generator: inout Generator) throws -> Tensor {
        try Shape.validate(shape, op: "rand")
        let t = try Tensor(uninitialized: shape)
        fill(t.data, t.count, &generator) { g, b in g.fillUniform(b) }
        return t
    }
    /// Uniform [0, 1) values from the global generator.
    public static func rand(_ shape: [Int]) throws -> Tensor { try rand(shape, generator: &GlobalRandom.generator) }

    /// Standard normal values from `generator`.
    public static func randn(_ shape: [Int], generator: inout Generator) throws -> Tensor {
        try Shape.validate(shape, op: "randn")
        let t = try Tensor(uninitialized: shape)
        fill(t.data, t.count, &generator) { g, b in g.fillNormal(b) }
        return t
    }
    /// Standard normal values from the global generator.
    public static func randn(_ shape: [Int]) throws -> Tensor { try randn(shape, generator: &GlobalRandom.generator) }

    /// Uniform values in the open interval (0, 1) (safe for log/logit).
    public static func randOpen(_ shape: [Int], generator: inout Generator) throws -> Tensor {
        try Shape.validate(shape, op: "rand")
        let t = try Tensor(uninitialized: shape)
        fill(t.data, t.count, &generator) { g, b in for i in b.indices { b[i] = g.uniformOpen() } }
        return t
    }
    public static func randOpen(_ shape: [Int]) throws -> Tensor { try randOpen(shape, generator: &GlobalRandom.generator) }

    /// 1 with probability `self` (elementwise), else 0. No gradient.
    public func bernoulli(generator: inout Generator) -> Tensor {
        let p = contiguousData()
        let t = Tensor(existingShape: shape)
        let pp = p.data
        let base = t.data
        Tensor.fill(t.data, t.count, &generator) { g, b in
            let off = b.baseAddress! - base
            for i in b.indices { b[i] = g.uniform() < pp[off + i] ? 1 : 0 }
        }
        return t
    }
    /// Bernoulli samples from the global generator.
    public func bernoulli() -> Tensor { bernoulli(generator: &GlobalRandom.generator) }

    /// Bernoulli samples with a constant probability `p`.
    public static func bernoulli(_ shape: [Int], p: Float, generator: inout Generator) throws -> Tensor {
        try Shape.validate(shape, op: "bernoulli")
        let t = try Tensor(uninitialized: shape)
        fill(t.data, t.count, &generator) { g, b in for i in b.indices { b[i] = g.uniform() < p ? 1 : 0 } }
        return t
    }
    public static func bernoulli(_ shape: [Int], p: Float) throws -> Tensor { try bernoulli(shape, p: p, generator: &GlobalRandom.generator) }
}

extension Tensor {
    /// Hard samples of independent Bernoulli(σ(l)) units and the log-probability
    /// of each row's sample, in one pass (evaluation; no gradient):
    /// l[r, k] = base[r / s, k] + offset[r, k] (offset optional), z = 1 when
    /// ρ > σ(−l) — the same event as σ⁻¹(ρ) + l > 0 — with ρ the uniforms
    /// `randOpen([R, n], generator:)` would draw (same stream use), and
    /// log q[r] = Σ_k z·l − softplus(l). `base` [B, n] is replicated s
    /// times per row without a copy (s = 1: one row each).
    public static func bernoulliLogitSample(base: Tensor, replicate s: Int = 1, offset: Tensor? = nil,
                                            generator: inout Generator) throws -> (sample: Tensor, logProbability: Tensor) {
        let op = "bernoulliLogitSample"
        guard base.rank == 2, s >= 1 else { throw TensorError("\(op): base must be 2-D [B, n] and s ≥ 1, got \(fmt(base.shape)), s = \(s)") }
        let b = base.shape[0], n = base.shape[1], r = b * s
        if let offset, offset.shape != [r, n] { throw TensorError("\(op): offset \(fmt(offset.shape)) must be [\(r), \(n)]") }
        let bc = base.contiguousData(), oc = offset?.contiguousData()
        let z = try Tensor(uninitialized: [r, n]), terms = try Tensor(uninitialized: [r, n])
        let bp = bc.data, op0 = oc?.data, zp = z.data, tp = terms.data
        fill(zp, r * n, &generator) { g, buf in for i in buf.indices { buf[i] = g.uniformOpen() } }
        let lq = try Tensor(uninitialized: [r])
        let lp = lq.data
        // Row by row (vectorizable loops): z over ρ in place, terms, sum.
        Parallel.forEachRange(count: r, minimum: Swift.max(1, 32768 / Swift.max(n, 1))) { rg in
            for row in rg {
                let zr = zp + row * n, tr = tp + row * n, br = bp + (row / s) * n
                if let op0 {
                    let orow = op0 + row * n
                    for k in 0..<n { tr[k] = br[k] + orow[k] }
                } else {
                    for k in 0..<n { tr[k] = br[k] }
                }
                for k in 0..<n {
                    let l = tr[k]
                    let ex = VMath.exp(-Swift.abs(l))                   // e^{−|l|} ∈ (0, 1]
                    let sigNeg = (l >= 0 ? ex : 1) / (1 + ex)           // σ(−l)
                    let on: Float = zr[k] > sigNeg ? 1 : 0
                    zr[k] = on
                    tr[k] = on * l - ((l > 0 ? l : 0) + VMath.log1pSmall(ex))
                }
                lp[row] = Float(sumFloats(tr, n))
            }
        }
        withExtendedLifetime((bc, oc)) {}
        return (z, lq)
    }
}
