import CBLAS

/// A matrix operand for `cblas_sgemm`: row-major with leading dimension
/// `ld`, possibly transposed, so transposed views need no copy.
struct GemmOperand {
    let pointer: UnsafeMutablePointer<Float>
    let trans: Bool
    let ld: Int
    let keep: Tensor  // keeps a temporary copy alive

    init(_ t: Tensor) {
        let r = t.shape[0], c = t.shape[1]
        let s0 = r == 1 ? Swift.max(c, 1) : t.strides[0]
        let s1 = c == 1 ? 1 : t.strides[1]
        if s1 == 1 && s0 >= Swift.max(c, 1) { pointer = t.data; trans = false; ld = s0; keep = t; return }
        let s0t = r == 1 ? 1 : t.strides[0]
        let s1t = c == 1 ? Swift.max(r, 1) : t.strides[1]
        if s0t == 1 && s1t >= Swift.max(r, 1) { pointer = t.data; trans = true; ld = s1t; keep = t; return }
        let cc = t.clone0()
        pointer = cc.data; trans = false; ld = Swift.max(c, 1); keep = cc
    }
}

/// C[M,N] = alpha * A[M,K] B[K,N] + beta * C, for 2-D views (C contiguous rows, ldc).
func gemm(_ a: Tensor, _ b: Tensor, into c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float = 1, beta: Float = 0) {
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        else { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
        return
    }
    let A = GemmOperand(a), B = GemmOperand(b)
    cblas_sgemm(CblasRowMajor, A.trans ? CblasTrans : CblasNoTrans, B.trans ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, A.pointer, Int32(A.ld), B.pointer, Int32(B.ld),
                beta, c, Int32(ldc))
    withExtendedLifetime((A, B)) {}
}

extension Tensor {
    /// Matrix product of two 2-D tensors.
    public func mm(_ other: Tensor) throws -> Tensor {
        guard rank == 2, other.rank == 2 else {
            throw TensorError("mm: expects 2-D tensors, got shapes \(fmt(shape)) and \(fmt(other.shape))")
        }
        guard shape[1] == other.shape[0] else {
            throw TensorError("matmul: shapes \(fmt(shape)) and \(fmt(other.shape)) are not aligned")
        }
        let out = try Tensor(uninitialized: [shape[0], other.shape[1]])
        gemm(self, other, into: out.data, ldc: other.shape[1])
        let a = detach(), b = other.detach(), ra = requiresGrad, rb = other.requiresGrad
        return Tensor.record(out, "mm", [self, other]) { g in
            [ra ? try g.mm(b.t()) : nil, rb ? try a.t().mm(g) : nil]
        }
    }

    /// Batched matrix product: [B,M,K] × [B,K,N] → [B,M,N].
    public func bmm(_ other: Tensor) throws -> Tensor {
        guard rank == 3, other.rank == 3 else {
            throw TensorError("bmm: expects 3-D tensors, got shapes \(fmt(shape)) and \(fmt(other.shape))")
        }
        guard shape[0] == other.shape[0] else {
            throw TensorError("bmm: batch sizes differ in shapes \(fmt(shape)) and \(fmt(other.shape))")
        }
        guard shape[2] == other.shape[1] else {
            throw TensorError("matmul: shapes \(fmt(shape)) and \(fmt(other.shape)) are not aligned")
        }
        let B = shape[0], M = shape[1], N = other.shape[2]
        let out = try Tensor(uninitialized: [B, M, N])
        for i in 0..<B {
            let ai = Tensor(storage: storage, shape: [M, shape[2]], strides: [strides[1], strides[2]], offset: offset + i * strides[0])
            let bi = Tensor(storage: other.storage, shape: [other.shape[1], N], strides: [other.strides[1], other.strides[2]], offset: other.offset + i * other.strides[0])
            gemm(ai, bi, into: out.data + i * M * N, ldc: N)
        }
        let a = detach(), b = other.detach(), ra = requiresGrad, rb = other.requiresGrad
        return Tensor.record(out, "bmm", [self, other]) { g in
            [ra ? try g.bmm(b.transpose(1, 2)) : nil, rb ? try a.transpose(1, 2).bmm(g) : nil]
        }
    }

    /// Matrix product with NumPy/PyTorch semantics: 1-D operands are
    /// promoted and squeezed back, leading (batch) dimensions broadcast.
    public func matmul(_ other: Tensor) throws -> Tensor {
        let ra = rank, rb = other.rank
        guard ra >= 1, rb >= 1 else { throw TensorError("matmul: both arguments must have at least 1 dimension, got \(fmt(shape)) and \(fmt(other.shape))") }
        guard shape[ra - 1] == other.shape[Swift.max(rb - 2, 0)] else {
            throw TensorError("matmul: shapes \(fmt(shape)) and \(fmt(other.shape)) are not aligned")
        }
        if ra == 1 && rb == 1 { return try unsqueeze(0).mm(other.unsqueeze(1)).reshape([]) }
        if ra == 2 && rb == 1 { return try mm(other.unsqueeze(1)).squeeze(1) }
        if ra == 1 && rb == 2 { return try unsqueeze(0).mm(other).squeeze(0) }
        if ra == 2 && rb == 2 { return try mm(other) }
        if rb <= 2 {
            // [..., M, K] × [K, N]: one GEMM over the flattened rows.
            let b2 = rb == 1 ? try other.unsqueeze(1) : other
            let lead = Array(shape.dropLast())
            let r = try reshape([-1, shape[ra - 1]]).mm(b2)
            return try r.reshape(lead + (rb == 1 ? [] : [b2.shape[1]]))
        }
        // General batched case.
        let a2 = ra == 1 ? try unsqueeze(0) : self
        let M = a2.shape[a2.rank - 2], K = a2.shape[a2.rank - 1], N = other.shape[rb - 1]
        let batchA = Array(a2.shape.dropLast(2)), batchB = Array(other.shape.dropLast(2))
        let batch = try Shape.broadcast(batchA, batchB, op: "matmul")
        let nb = Shape.numel(batch)
        let ae = try a2.expand(batch + [M, K]).reshape([nb, M, K])
        let be = try other.expand(batch + [K, N]).reshape([nb, K, N])
        var r = try ae.bmm(be).reshape(batch + [M, N])
        if ra == 1 { r = try r.squeeze(-2) }
        return r
    }

    /// Fully connected layer: x[..., in] · weightᵀ + bias, with weight
    /// [out, in] and bias [out] (PyTorch's `nn.Linear` layout). One GEMM
    /// accumulating onto the broadcast bias.
    public static func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) throws -> Tensor {
        guard weight.rank == 2 else { throw TensorError("linear: weight must be 2-D [out, in], got \(fmt(weight.shape))") }
        let nin = weight.shape[1], nout = weight.shape[0]
        guard x.rank >= 1, x.shape[x.rank - 1] == nin else {
            throw TensorError("linear: input \(fmt(x.shape)) does not match weight \(fmt(weight.shape)) (expected last dimension \(nin))")
        }
        if let bias, bias.shape != [nout] {
            throw TensorError("linear: bias has shape \(fmt(bias.shape)), expected [\(nout)]")
        }
        let lead = Array(x.shape.dropLast())
        let x2 = try noGrad { try x.reshape([-1, nin]) }
        let rows = x2.shape[0]
        let out = try Tensor(uninitialized: lead + [nout])
        let o = out.data
        if let bias {
            let bc = bias.contiguousData()
            for i in 0..<rows { (o + i * nout).update(from: bc.data, count: nout) }
        }
        let wt = Tensor(storage: weight.storage, shape: [nin, nout], strides: [weight.strides[1], weight.strides[0]], offset: weight.offset)
        gemm(x2, wt, into: o, ldc: nout, beta: bias == nil ? 0 : 1)
        let xs = x2.detach(), w = weight.detach(), xShape = x.shape
        let rx = x.requiresGrad, rw = weight.requiresGrad, rbias = bias?.requiresGrad ?? false
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return record(out, "linear", inputs) { g in
            let g2 = try g.reshape([-1, nout])
            let gx = rx ? try g2.mm(w).reshape(xShape) : nil
            let gw = rw ? try g2.t().mm(xs) : nil
            let gb = rbias ? try g2.sum(0) : nil
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }
}
