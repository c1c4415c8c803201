/// Concatenation, splitting, and integer indexing. Index tensors hold
/// 0-based integer values in Float32 (exact up to 2^24).
extension Tensor {
    /// Concatenates tensors along `dim`; all other sizes must agree.
    public static func cat(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError("cat: expects a non-empty list of tensors") }
        let r = first.rank
        guard r > 0 else { throw TensorError("cat: zero-dimensional tensors cannot be concatenated") }
        let d = try Shape.dim(dim, rank: r, op: "cat")
        var total = 0
        for (i, t) in tensors.enumerated() {
            guard t.rank == r else { throw TensorError("cat: tensor \(i) has \(t.rank) dimensions, expected \(r)") }
            for k in 0..<r where k != d && t.shape[k] != first.shape[k] {
                throw TensorError("cat: sizes must match except in dimension \(dim); tensor \(i) has shape \(fmt(t.shape)), tensor 0 has \(fmt(first.shape))")
            }
            total = try Shape.sum(total, t.shape[d], op: "cat", what: "the concatenated size")
        }
        var s = first.shape; s[d] = total
        let out = try Tensor(uninitialized: s)
        var off = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(off)
            let v = Tensor(storage: out.storage, shape: t.shape, strides: out.strides, offset: off * out.strides[d])
            try updateInPlace(v, t, KCopy(), "cat")
            off += t.shape[d]
        }
        let sizes = tensors.map { $0.shape[d] }
        return record(out, "cat", tensors) { g in
            try zip(offsets, sizes).map { try g.narrow(d, start: $0.0, length: $0.1) }
        }
    }

    /// Stacks same-shaped tensors along a new dimension `dim`.
    public static func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError("stack: expects a non-empty list of tensors") }
        let d = try Shape.dim(dim, rank: first.rank + 1, op: "stack")
        for (i, t) in tensors.enumerated() where t.shape != first.shape {
            throw TensorError("stack: tensor \(i) has shape \(fmt(t.shape)), tensor 0 has \(fmt(first.shape))")
        }
        return try cat(tensors.map { try $0.unsqueeze(d) }, dim: d)
    }

    /// Splits into pieces of `size` along `dim` (the last may be smaller); views.
    public func split(_ size: Int, dim: Int = 0) throws -> [Tensor] {
        let d = try Shape.dim(dim, rank: rank, op: "split")
        guard size > 0 else { throw TensorError("split: size must be positive, got \(size)") }
        return try stride(from: 0, to: Swift.max(shape[d], 1), by: size).map {
            try narrow(d, start: $0, length: Swift.min(size, shape[d] - $0))
        }
    }

    /// Splits into pieces with the given sizes along `dim`; views.
    public func split(sizes: [Int], dim: Int = 0) throws -> [Tensor] {
        let d = try Shape.dim(dim, rank: rank, op: "split")
        var total = 0, overflow = false
        for s in sizes where s >= 0 && !overflow { (total, overflow) = total.addingReportingOverflow(s) }
        guard sizes.allSatisfy({ $0 >= 0 }), !overflow, total == shape[d] else {
            throw TensorError("split: sizes \(fmt(sizes)) do not sum to \(shape[d]), the size of dimension \(dim)")
        }
        var start = 0
        return try sizes.map { s in defer { start += s }; return try narrow(d, start: start, length: s) }
    }

    /// Splits into `chunks` nearly equal pieces along `dim` (as `torch.chunk`).
    public func chunk(_ chunks: Int, dim: Int = 0) throws -> [Tensor] {
        guard chunks > 0 else { throw TensorError("chunk: number of chunks must be positive, got \(chunks)") }
        let d = try Shape.dim(dim, rank: rank, op: "chunk")
        return try split(shape[d] == 0 ? 1 : (shape[d] - 1) / chunks + 1, dim: d)   // ceil without overflow
    }

    /// Validates an index tensor's values against `n`, returning them as Ints.
    private static func indices(_ index: Tensor, _ n: Int, _ op: String) throws -> [Int] {
        let v = index.toArray()
        var out = [Int](repeating: 0, count: v.count)
        for (i, f) in v.enumerated() {
            guard f == f.rounded(.towardZero), f >= 0, f < Float(n) else {
                throw TensorError("\(op): index \(f) is out of range for a dimension of size \(n)")
            }
            out[i] = Int(f)
        }
        return out
    }

    /// Selects entries `index` (1-D, 0-based) along `dim`.
    public func indexSelect(_ dim: Int, _ index: Tensor) throws -> Tensor {
        guard index.rank <= 1 else { throw TensorError("indexSelect: index must be 1-D, got \(fmt(index.shape))") }
        let d = try Shape.dim(dim, rank: rank, op: "indexSelect")
        guard rank > 0 else { throw TensorError("indexSelect: cannot index a 0-dimensional tensor") }
        let idx = try Tensor.indices(index, shape[d], "indexSelect")
        let x = contiguousData()
        let outer = Shape.numel(Array(shape[..<d])), n = shape[d], inner = Shape.numel(Array(shape[(d + 1)...]))
        var s = shape; s[d] = idx.count
        let out = try Tensor(uninitialized: s)
        let src = x.data, dst = out.data, m = idx.count
        for o in 0..<outer { for (k, i) in idx.enumerated() {
            (dst + (o * m + k) * inner).update(from: src + (o * n + i) * inner, count: inner)
        } }
        let inShape = shape
        return Tensor.record(out, "indexSelect", [self]) { g in
            let gx = try Tensor.zeros(inShape), gc = g.contiguousData()
            let gp = gc.data, xp = gx.data
            for o in 0..<outer { for (k, i) in idx.enumerated() {
                let a = xp + (o * n + i) * inner, b = gp + (o * m + k) * inner
                for j in 0..<inner { a[j] += b[j] }
            } }
            return [gx]
        }
    }

    /// `out[..., j, ...] = self[..., index[..., j, ...], ...]` along `dim`.
    /// `index` has self's rank and self's sizes in every other dimension.
    public func gather(_ dim: Int, _ index: Tensor) throws -> Tensor {
        let d = try Shape.dim(dim, rank: rank, op: "gather")
        guard index.rank == rank, (0..<rank).allSatisfy({ $0 == d || index.shape[$0] == shape[$0] }) else {
            throw TensorError("gather: index shape \(fmt(index.shape)) must match input shape \(fmt(shape)) except in dimension \(dim)")
        }
        let idx = try Tensor.indices(index, shape[d], "gather")
        let x = contiguousData()
        let outer = Shape.numel(Array(shape[..<d])), n = shape[d], inner = Shape.numel(Array(shape[(d + 1)...]))
        let m = index.shape[d]
        let out = try Tensor(uninitialized: index.shape)
        let src = x.data, dst = out.data
        for o in 0..<outer { for k in 0..<m { for j in 0..<inner {
            let p = (o * m + k) * inner + j
            dst[p] = src[(o * n + idx[p]) * inner + j]
        } } }
        let inShape = shape
        return Tensor.record(out, "gather", [self]) { g in
            let gx = try Tensor.zeros(inShape), gc = g.contiguousData()
            let gp = gc.data, xp = gx.data
            for o in 0..<outer { for k in 0..<m { for j in 0..<inner {
                let p = (o * m + k) * inner + j
                xp[(o * n + idx[p]) * inner + j] += gp[p]
            } } }
            return [gx]
        }
    }

    /// One-hot encoding of integer values in `0..<classes` (appends a dimension).
    public func oneHot(_ classes: Int) throws -> Tensor {
        let idx = try Tensor.indices(self, classes, "oneHot")
        let out = try Tensor.zeros(shape + [classes])
        for (i, c) in idx.enumerated() { out.data[i * classes + c] = 1 }
        return out
    }
}
