/// Elementwise kernel machinery: a kernel is a small struct with a
/// `callAsFunction`, so generic loops specialize to straight-line code the
/// optimizer vectorizes. Contiguous tensors take a flat (parallel) loop;
/// broadcast and strided operands go through `StridedLoop` with inner
/// loops specialized for strides 1 and 0.

protocol UnaryFn { func callAsFunction(_ x: Float) -> Float }
protocol BinaryFn { func callAsFunction(_ a: Float, _ b: Float) -> Float }
protocol TernaryFn { func callAsFunction(_ a: Float, _ b: Float, _ c: Float) -> Float }

/// Elements above which kernels run on all cores.
let parallelThreshold = 1 << 16

@inline(__always)
func mapUnary<F: UnaryFn>(_ x: Tensor, _ f: F) -> Tensor {
    let out = Tensor(existingShape: x.shape)
    let o = out.data, a = x.data, n = out.count
    if x.isContiguous {
        Parallel.forEachRange(count: n, minimum: parallelThreshold) { r in
            for i in r { o[i] = f(a[i]) }
        }
        return out
    }
    let loop = StridedLoop(shape: x.shape, strides: [out.strides, x.strides])
    let s = loop.innerStrides[1]
    loop.run(parallelMinimum: parallelThreshold) { off, len in
        let op = o + off[0], ap = a + off[1]
        if s == 1 { for i in 0..<len { op[i] = f(ap[i]) } }
        else { for i in 0..<len { op[i] = f(ap[i * s]) } }
    }
    return out
}

@inline(__always)
func mapBinary<F: BinaryFn>(_ x: Tensor, _ y: Tensor, _ f: F, _ op: String) throws -> Tensor {
    let shape = try Shape.broadcast(x.shape, y.shape, op: op)
    let out = try Tensor(uninitialized: shape)
    let o = out.data, a = x.data, b = y.data, n = out.count
    if x.shape == y.shape && x.isContiguous && y.isContiguous {
        Parallel.forEachRange(count: n, minimum: parallelThreshold) { r in
            for i in r { o[i] = f(a[i], b[i]) }
        }
        return out
    }
    if y.count == 1 && x.isContiguous && x.shape == shape {
        let bv = b[0]
        Parallel.forEachRange(count: n, minimum: parallelThreshold) { r in
            for i in r { o[i] = f(a[i], bv) }
        }
        return out
    }
    if x.count == 1 && y.isContiguous && y.shape == shape {
        let av = a[0]
        Parallel.forEachRange(count: n, minimum: parallelThreshold) { r in
            for i in r { o[i] = f(av, b[i]) }
        }
        return out
    }
    let loop = StridedLoop(shape: shape, strides: [
        out.strides,
        Shape.broadcastStrides(shape: x.shape, strides: x.strides, to: shape),
        Shape.broadcastStrides(shape: y.shape, strides: y.strides, to: shape)])
    let sa = loop.innerStrides[1], sb = loop.innerStrides[2]
    loop.run(parallelMinimum: parallelThreshold) { off, len in
        let op = o + off[0], ap = a + off[1], bp = b + off[2]
        if sa == 1 && sb == 1 { for i in 0..<len { op[i] = f(ap[i], bp[i]) } }
        else if sa == 1 && sb == 0 { let bv = bp[0]; for i in 0..<len { op[i] = f(ap[i], bv) } }
        else if sa == 0 && sb == 1 { let av = ap[0]; for i in 0..<len { op[i] = f(av, bp[i]) } }
        else { for i in 0..<len { op[i] = f(ap[i * sa], bp[i * sb]) } }
    }
    return out
}

@inline(__always)
func mapTernary<F: TernaryFn>(_ x: Tensor, _ y: Tensor, _ z: Tensor, _ f: F, _ op: String) throws -> Tensor {
    let shape = try Shape.broadcast(Shape.broadcast(x.shape, y.shape, op: op), z.shape, op: op)
    let out = try Tensor(uninitialized: shape)
    let o = out.data, a = x.data, b = y.data, c = z.data
    if x.shape == shape && y.shape == shape && z.shape == shape && x.isContiguous && y.isContiguous && z.isContiguous {
        Parallel.forEachRange(count: out.count, minimum: parallelThreshold) { r in
            for i in r { o[i] = f(a[i], b[i], c[i]) }
        }
        return out
    }
    let loop = StridedLoop(shape: shape, strides: [
        out.strides,
        Shape.broadcastStrides(shape: x.shape, strides: x.strides, to: shape),
        Shape.broadcastStrides(shape: y.shape, strides: y.strides, to: shape),
        Shape.broadcastStrides(shape: z.shape, strides: z.strides, to: shape)])
    let sa = loop.innerStrides[1], sb = loop.innerStrides[2], sc = loop.innerStrides[3]
    loop.run(parallelMinimum: parallelThreshold) { off, len in
        let op = o + off[0], ap = a + off[1], bp = b + off[2], cp = c + off[3]
        for i in 0..<len { op[i] = f(ap[i * sa], bp[i * sb], cp[i * sc]) }
    }
    return out
}

/// Writes `f(dst[i])` into `dst` in place (any strides; expanded
/// dimensions are rejected by callers).
@inline(__always)
func updateInPlace<F: UnaryFn>(_ dst: Tensor, _ f: F) {
    let o = dst.data
    if dst.isContiguous {
        Parallel.forEachRange(count: dst.count, minimum: parallelThreshold) { r in
            for i in r { o[i] = f(o[i]) }
        }
        return
    }
    let loop = StridedLoop(shape: dst.shape, strides: [dst.strides])
    let s = loop.innerStrides[0]
    loop.run(parallelMinimum: parallelThreshold) { off, len in
        let op = o + off[0]
        for i in 0..<len { op[i * s] = f(op[i * s]) }
    }
}

/// Writes `f(dst[i], src[i])` into `dst` in place, `src` broadcast to dst's shape.
@inline(__always)
func updateInPlace<F: BinaryFn>(_ dst: Tensor, _ src: Tensor, _ f: F, _ op: String) throws {
    let shape = try Shape.broadcast(dst.shape, src.shape, op: op)
    guard shape == dst.shape else {
        throw TensorError("\(op): shape \(fmt(src.shape)) cannot be broadcast to the in-place target's shape \(fmt(dst.shape))")
    }
    // A source that shares memory with the destination in any other
    // layout (`s:add_(s:t())`, a shifted narrow) would read elements this
    // loop has already overwritten: read it from a copy. The very same
    // view (`a:add_(a)`) is safe, element i reading only element i.
    let src = dst.mayAlias(src) && !dst.isSameView(as: src) ? src.clone0() : src
    let o = dst.data, b = src.data
    if dst.isContiguous && src.isContiguous && src.shape == dst.shape {
        Parallel.forEachRange(count: dst.count, minimum: parallelThreshold) { r in
            for i in r { o[i] = f(o[i], b[i]) }
        }
        return
    }
    let loop = StridedLoop(shape: shape, strides: [
        dst.strides, Shape.broadcastStrides(shape: src.shape, strides: src.strides, to: shape)])
    let so = loop.innerStrides[0], sb = loop.innerStrides[1]
    loop.run(parallelMinimum: parallelThreshold) { off, len in
        let op = o + off[0], bp = b + off[1]
        for i in 0..<len { op[i * so] = f(op[i * so], bp[i * sb]) }
    }
}
