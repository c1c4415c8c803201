/// Sum of `n` contiguous floats: 16-wide Float partial sums over blocks
/// of 1024, blocks added in Double (fast and accurate to ~1e-7 relative).
@inline(__always)
func sumFloats(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total: Double = 0
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 16 <= n {
        let end = Swift.min(n, i + 1024)
        var acc = SIMD16<Float>(repeating: 0)
        var j = i
        while j + 16 <= end { acc += raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self); j += 16 }
        total += Double(acc.sum())
        i = j
    }
    while i < n { total += Double(p[i]); i += 1 }
    return total
}

/// Reductions along a dimension (or over all elements), with `keepdim`.
extension Tensor {
    /// The shape after reducing `d`.
    private func reducedShape(_ d: Int, keepdim: Bool) -> [Int] {
        var s = shape
        if keepdim { s[d] = 1 } else { s.remove(at: d) }
        return s
    }

    /// The number of elements a reduction over `dim` combines (1 for a 0-d
    /// tensor, whose only "dimension" is itself).
    private func reducedSize(_ dim: Int, _ op: String) throws -> Int {
        let d = try Shape.dim(dim, rank: rank, op: op, scalar: true)
        return rank == 0 ? 1 : shape[d]
    }

    /// Splits the contiguous layout around dim `d` as [outer, n, inner].
    private func split3(_ d: Int) -> (Int, Int, Int) {
        (Shape.numel(Array(shape[..<d])), shape[d], Shape.numel(Array(shape[(d + 1)...])))
    }

    /// Sum along one dimension of a contiguous tensor (kernel, not recorded).
    private func sumKernel(_ d: Int, keepdim: Bool) -> Tensor {
        let x = contiguousData()
        let (outer, n, inner) = split3(d)
        let out = Tensor(existingShape: reducedShape(d, keepdim: keepdim))   // no larger than self
        let src = x.data, dst = out.data
        if inner == 1 {
            Parallel.forEachRange(count: outer, minimum: Swift.max(1, parallelThreshold / Swift.max(n, 1))) { r in
                for o in r {
                    dst[o] = Float(sumFloats(src + o * n, n))
                }
            }
        } else {
            // Vectorized over the inner index; parallel over outer × inner blocks.
            let blocks = (inner + 1023) / 1024
            Parallel.forEachRange(count: outer * blocks, minimum: Swift.max(1, parallelThreshold / Swift.max(n * Swift.min(inner, 1024), 1))) { r in
                for ob in r {
                    let o = ob / blocks, b = ob % blocks
                    let j0 = b * 1024, j1 = Swift.min(inner, j0 + 1024)
                    let q = dst + o * inner
                    for j in j0..<j1 { q[j] = 0 }
                    for k in 0..<n {
                        let p = src + (o * n + k) * inner
                        for j in j0..<j1 { q[j] += p[j] }
                    }
                }
            }
        }
        return out
    }

    /// Sum along `dim` (all elements when nil).
    public func sum(_ dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
        guard let dim else { return try sum(dims: Array(0..<rank), keepdim: keepdim) }
        return try sum(dims: [dim], keepdim: keepdim)
    }

    /// Sum over several dimensions.
    public func sum(dims: [Int], keepdim: Bool = false) throws -> Tensor {
        let ds = Set(try dims.map { try Shape.dim($0, rank: rank, op: "sum", scalar: true) })
        if rank == 0 || ds.isEmpty { return clone() }
        var keepShape = shape
        for d in ds { keepShape[d] = 1 }
        let outShape = keepdim ? keepShape : shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element)
        var r: Tensor
        if ds.count == rank {
            // Whole-tensor sum: Double accumulation in parallel chunks.
            let x = contiguousData()
            let p = x.data, n = count
            let chunks = Swift.max(1, Swift.min(64, n / 32768))
            var parts = [Double](repeating: 0, count: chunks)
            parts.withUnsafeMutableBufferPointer { pb in
                Parallel.forEachChunk(count: n, chunks: chunks, minimum: parallelThreshold) { c, rg in
                    pb[c] = sumFloats(p + rg.lowerBound, rg.count)
                }
            }
            r = try Tensor(uninitialized: outShape)
            r.data[0] = Float(parts.reduce(0, +))
        } else {
            r = self
            for d in ds.sorted(by: >) { r = r.sumKernel(d, keepdim: true) }
            r = Tensor(storage: r.storage, shape: outShape, strides: Shape.contiguousStrides(outShape), offset: 0)
        }
        let inShape = shape
        return Tensor.record(r, "sum", [self]) { g in [try g.reshape(keepShape).expand(inShape)] }
    }

    /// Mean along `dim` (all elements when nil).
    public func mean(_ dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
        let n: Int
        if let dim { n = try reducedSize(dim, "mean") } else { n = count }
        return try sum(dim, keepdim: keepdim).mul(1 / Float(Swift.max(n, 1)))
    }

    /// Mean over several dimensions.
    public func mean(dims: [Int], keepdim: Bool = false) throws -> Tensor {
        let n = try Set(dims.map { try Shape.dim($0, rank: rank, op: "mean", scalar: true) }).reduce(1) { $0 * (rank == 0 ? 1 : shape[$1]) }
        return try sum(dims: dims, keepdim: keepdim).mul(1 / Float(Swift.max(n, 1)))
    }

    /// Variance along `dim` (all elements when nil); unbiased (n-1) by default.
    public func variance(_ dim: Int? = nil, unbiased: Bool = true, keepdim: Bool = false) throws -> Tensor {
        let n: Int
        if let dim { n = try reducedSize(dim, "var") } else { n = count }
        let m = try mean(dim, keepdim: true)
        let dev = try (self - m).square()
        return try dev.sum(dim, keepdim: keepdim).mul(1 / Float(Swift.max(unbiased ? n - 1 : n, 1)))
    }

    /// Standard deviation along `dim`.
    public func std(_ dim: Int? = nil, unbiased: Bool = true, keepdim: Bool = false) throws -> Tensor {
        try variance(dim, unbiased: unbiased, keepdim: keepdim).sqrt()
    }

    /// Maximum (or minimum) along `dim` with the 0-based index of the
    /// first extreme element (indices are Float32 integers).
    private func extreme(_ dim: Int, keepdim: Bool, isMax: Bool, op: String) throws -> (values: Tensor, indices: Tensor) {
        if rank == 0 { return (clone(), try Tensor.zeros([])) }
        let d = try Shape.dim(dim, rank: rank, op: op)
        guard shape[d] > 0 else { throw TensorError("\(op): cannot reduce an empty dimension") }
        let x = contiguousData()
        let (outer, n, inner) = split3(d)
        let vals = try Tensor(uninitialized: reducedShape(d, keepdim: keepdim))
        let idx = try Tensor(uninitialized: vals.shape)
        let src = x.data, v = vals.data, ix = idx.data
        Parallel.forEachRange(count: outer, minimum: Swift.max(1, parallelThreshold / Swift.max(n * inner, 1))) { r in
            for o in r {
                for j in 0..<inner {
                    var best = src[o * n * inner + j], bi = 0
                    if !best.isNaN {
                        for k in 1..<n {
                            let e = src[(o * n + k) * inner + j]
                            if e.isNaN { best = e; bi = k; break }
                            if isMax ? e > best : e < best { best = e; bi = k }
                        }
                    }
                    v[o * inner + j] = best; ix[o * inner + j] = Float(bi)
                }
            }
        }
        let inShape = shape, keepShape = reducedShape(d, keepdim: true)
        let savedIdx = idx
        let values = Tensor.record(vals, op, [self]) { g in
            let out = try Tensor.zeros(inShape)
            let gc = try g.reshape(keepShape).contiguousData(), ii = savedIdx.data, gp = gc.data, op = out.data
            for o in 0..<outer { for j in 0..<inner {
                op[(o * n + Int(ii[o * inner + j])) * inner + j] = gp[o * inner + j]
            } }
            return [out]
        }
        return (values, idx)
    }

    /// Maximum along `dim` with indices.
    public func max(_ dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extreme(dim, keepdim: keepdim, isMax: true, op: "max")
    }
    /// Minimum along `dim` with indices.
    public func min(_ dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extreme(dim, keepdim: keepdim, isMax: false, op: "min")
    }
    /// Maximum of all elements (0-dimensional).
    public func max() throws -> Tensor {
        guard count > 0 else { throw TensorError("max: empty tensor") }
        return try reshape([-1]).max(0).values
    }
    /// Minimum of all elements (0-dimensional).
    public func min() throws -> Tensor {
        guard count > 0 else { throw TensorError("min: empty tensor") }
        return try reshape([-1]).min(0).values
    }
    /// Index of the maximum along `dim` (Float32 integers, 0-based).
    public func argmax(_ dim: Int, keepdim: Bool = false) throws -> Tensor { try max(dim, keepdim: keepdim).indices }
    /// Index of the minimum along `dim`.
    public func argmin(_ dim: Int, keepdim: Bool = false) throws -> Tensor { try min(dim, keepdim: keepdim).indices }

    /// log Σ exp(x) along `dim`, stable for large |x|.
    public func logsumexp(_ dim: Int, keepdim: Bool = false) throws -> Tensor {
        let m = try Tensor.noGrad { () -> Tensor in
            let mx = try max(dim, keepdim: true).values
            // Rows of all -inf (or +inf) would give NaN in x - m; shift by 0 there.
            return try Tensor.where(mx.abs().lt(Float.infinity), mx, Tensor(scalar: 0))
        }
        let s = try (self - m).exp().sum(dim, keepdim: true).log() + m
        return keepdim ? s : try s.squeeze(dim)
    }

    /// log softmax along `dim`.
    public func logSoftmax(_ dim: Int) throws -> Tensor { try self - logsumexp(dim, keepdim: true) }
    /// softmax along `dim`.
    public func softmax(_ dim: Int) throws -> Tensor { try logSoftmax(dim).exp() }
}
