/// Views: new shapes/strides over the same storage, no copy (except
/// `reshape` of a non-viewable layout, and `contiguous`/`clone`).
extension Tensor {
    private func makeView(_ shape: [Int], _ strides: [Int], _ offset: Int) -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    /// Resolves one `-1` in a requested shape.
    private func inferShape(_ req: [Int], op: String) throws -> [Int] {
        var s = req
        let neg = s.indices.filter { s[$0] == -1 }
        guard neg.count <= 1 else { throw TensorError("\(op): only one dimension can be -1 in \(fmt(req))") }
        guard s.allSatisfy({ $0 >= -1 }) else { throw TensorError("\(op): invalid shape \(fmt(req))") }
        if let i = neg.first {
            var rest = 1, overflow = false
            for (k, d) in s.enumerated() where k != i && !overflow { (rest, overflow) = rest.multipliedReportingOverflow(by: d) }
            guard !overflow, rest > 0, count % rest == 0 else {
                throw TensorError("\(op): shape \(fmt(req)) is invalid for a tensor of \(count) elements")
            }
            s[i] = count / rest
        }
        try Shape.validate(s, op: op)
        guard Shape.numel(s) == count else {
            throw TensorError("\(op): shape \(fmt(req)) is invalid for a tensor of \(count) elements (shape \(fmt(shape)))")
        }
        return s
    }

    /// Strides for viewing this tensor with `newShape` without copying, if possible.
    private func viewStrides(_ newShape: [Int]) -> [Int]? {
        if isContiguous { return Shape.contiguousStrides(newShape) }
        // General case (PyTorch's computeStride): match chunks of dims.
        let old = zip(shape, strides).filter { $0.0 != 1 }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var oi = 0, ni = 0
        while ni < newShape.count || oi < old.count {
            // Skip size-1 new dims.
            if ni < newShape.count && newShape[ni] == 1 { newStrides[ni] = 1; ni += 1; continue }
            guard oi < old.count, ni < newShape.count else { return nil }
            // Collect a run of old dims that are contiguous with each other.
            var oSize = old[oi].0; var oj = oi
            var nSize = newShape[ni]; var nj = ni
            while oSize != nSize {
                if oSize < nSize {
                    oj += 1
                    guard oj < old.count, old[oj - 1].1 == old[oj].1 * old[oj].0 else { return nil }
                    oSize *= old[oj].0
                } else {
                    nj += 1
                    guard nj < newShape.count else { return nil }
                    nSize *= newShape[nj]
                }
            }
            // Assign strides to new dims ni...nj from the innermost old stride.
            var st = old[oj].1
            for k in stride(from: nj, through: ni, by: -1) { newStrides[k] = st; st *= newShape[k] }
            oi = oj + 1; ni = nj + 1
        }
        return newStrides
    }

    /// A view with a new shape (one dimension may be -1); throws if the
    /// layout cannot be viewed that way (use `reshape`).
    public func view(_ newShape: [Int]) throws -> Tensor {
        let s = try inferShape(newShape, op: "view")
        guard let st = viewStrides(s) else {
            throw TensorError("view: shape \(fmt(newShape)) cannot view a non-contiguous tensor of shape \(fmt(shape)); use reshape")
        }
        let oldShape = shape
        return Tensor.record(makeView(s, st, offset), "view", [self]) { g in [try g.reshape(oldShape)] }
    }

    /// Like `view`, but copies when the layout requires it.
    public func reshape(_ newShape: [Int]) throws -> Tensor {
        let s = try inferShape(newShape, op: "reshape")
        if s == shape { return self }
        if viewStrides(s) != nil { return try view(s) }
        return try contiguous().view(s)
    }

    /// Flattens dimensions `start...end` into one.
    public func flatten(start: Int = 0, end: Int = -1) throws -> Tensor {
        if rank == 0 { return try reshape([1]) }
        let a = try Shape.dim(start, rank: rank, op: "flatten"), b = try Shape.dim(end, rank: rank, op: "flatten")
        guard a <= b else { throw TensorError("flatten: start dimension \(start) is after end dimension \(end)") }
        let s = Array(shape[..<a]) + [Shape.numel(Array(shape[a...b]))] + Array(shape[(b + 1)...])
        return try reshape(s)
    }

    /// Inserts a size-1 dimension at `dim` (`-1` appends).
    public func unsqueeze(_ dim: Int) throws -> Tensor {
        let d = try Shape.dim(dim, rank: rank + 1, op: "unsqueeze")
        var s = shape; s.insert(1, at: d)
        var st = strides; st.insert(d < rank ? strides[d] * shape[d] : 1, at: d)
        let old = shape
        return Tensor.record(makeView(s, st, offset), "unsqueeze", [self]) { g in [try g.reshape(old)] }
    }

    /// Removes dimension `dim` if it has size 1, or all size-1 dims when nil.
    public func squeeze(_ dim: Int? = nil) throws -> Tensor {
        var keep = Array(0..<rank).filter { shape[$0] != 1 }
        if let dim {
            if rank == 0 { return self }
            let d = try Shape.dim(dim, rank: rank, op: "squeeze")
            keep = Array(0..<rank).filter { $0 != d || shape[$0] != 1 }
        }
        let old = shape
        return Tensor.record(makeView(keep.map { shape[$0] }, keep.map { strides[$0] }, offset), "squeeze", [self]) { g in [try g.reshape(old)] }
    }

    /// Swaps two dimensions.
    public func transpose(_ d0: Int, _ d1: Int) throws -> Tensor {
        let a = try Shape.dim(d0, rank: rank, op: "transpose"), b = try Shape.dim(d1, rank: rank, op: "transpose")
        var p = Array(0..<rank); p.swapAt(a, b)
        return try permute(p)
    }

    /// The transpose of a matrix (rank ≤ 2).
    public func t() throws -> Tensor {
        guard rank <= 2 else { throw TensorError("t: expects a tensor with at most 2 dimensions, got \(fmt(shape)); use transpose") }
        return rank < 2 ? self : try transpose(0, 1)
    }

    /// Reorders dimensions: result dim i is input dim `order[i]`.
    public func permute(_ order: [Int]) throws -> Tensor {
        guard order.count == rank else { throw TensorError("permute: expected \(rank) dimensions, got \(order.count)") }
        let p = try order.map { try Shape.dim($0, rank: rank, op: "permute") }
        guard Set(p).count == rank else { throw TensorError("permute: repeated dimension in \(fmt(order))") }
        var inv = [Int](repeating: 0, count: rank)
        for (i, d) in p.enumerated() { inv[d] = i }
        return Tensor.record(makeView(p.map { shape[$0] }, p.map { strides[$0] }, offset), "permute", [self]) { g in [try g.permute(inv)] }
    }

    /// Elements `start..<start+length` of dimension `dim`.
    public func narrow(_ dim: Int, start: Int, length: Int) throws -> Tensor {
        let d = try Shape.dim(dim, rank: rank, op: "narrow")
        let s0 = start < 0 ? start &+ shape[d] : start
        guard s0 >= 0, s0 <= shape[d], length >= 0, length <= shape[d] - s0 else {   // no overflow for huge start/length
            throw TensorError("narrow: range start \(start), length \(length) is out of bounds for dimension \(dim) of size \(shape[d])")
        }
        var s = shape; s[d] = length
        let old = shape
        return Tensor.record(makeView(s, strides, offset + s0 * strides[d]), "narrow", [self]) { g in
            let full = try Tensor.zeros(old)
            try full.narrow(d, start: s0, length: length).copy_(g)
            return [full]
        }
    }

    /// The slice at `index` of dimension `dim`, with that dimension removed.
    public func select(_ dim: Int, _ index: Int) throws -> Tensor {
        let d = try Shape.dim(dim, rank: rank, op: "select")
        guard rank > 0 else { throw TensorError("select: cannot select from a 0-dimensional tensor") }
        let i = index < 0 ? index + shape[d] : index
        guard i >= 0 && i < shape[d] else { throw TensorError("select: index \(index) is out of range for dimension \(dim) of size \(shape[d])") }
        return try narrow(d, start: i, length: 1).squeeze(d)
    }

    /// Broadcasts to `newShape` without copying (size-1 dims stretch; -1
    /// keeps a size; new leading dims may be added).
    public func expand(_ newShape: [Int]) throws -> Tensor {
        guard newShape.count >= rank else { throw TensorError("expand: target \(fmt(newShape)) has fewer dimensions than \(fmt(shape))") }
        let lead = newShape.count - rank
        var s = newShape, st = [Int](repeating: 0, count: newShape.count)
        for i in 0..<newShape.count {
            if i < lead {
                guard newShape[i] >= 0 else { throw TensorError("expand: invalid size -1 for a new leading dimension") }
                continue
            }
            let o = shape[i - lead]
            if newShape[i] == -1 || newShape[i] == o { s[i] = o; st[i] = strides[i - lead] }
            else if o == 1 && newShape[i] >= 0 { st[i] = 0 }
            else { throw TensorError("expand: cannot expand \(fmt(shape)) to \(fmt(newShape))") }
        }
        try Shape.validate(s, op: "expand")   // the view's element count must fit, as any tensor's
        let old = shape
        return Tensor.record(makeView(s, st, offset), "expand", [self]) { g in [try g.sumTo(old)] }
    }

    /// `expand(other.shape)`.
    public func expandAs(_ other: Tensor) throws -> Tensor { try expand(other.shape) }

    /// Self if contiguous, else a contiguous copy (differentiable).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return clone()
    }

    /// A contiguous copy (differentiable).
    public func clone() -> Tensor {
        Tensor.record(clone0(), "clone", [self]) { g in [g] }
    }
}
