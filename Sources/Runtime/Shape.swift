/// Shape arithmetic: element counts, strides, broadcasting, dimension checks.
enum Shape {
    /// The product of the sizes (1 for a scalar shape `[]`).
    @inline(__always)
    static func numel(_ s: [Int]) -> Int { s.reduce(1, *) }

    /// Row-major strides for a contiguous tensor of shape `s`.
    static func contiguousStrides(_ s: [Int]) -> [Int] {
        var st = [Int](repeating: 1, count: s.count)
        var acc = 1
        for i in stride(from: s.count - 1, through: 0, by: -1) { st[i] = acc; acc *= max(s[i], 1) }
        return st
    }

    /// The largest element count (and the largest product of the sizes
    /// with zero sizes counted as 1, which bounds every stride and offset)
    /// a shape may have: 2^40, so that sizes, strides, offsets and byte
    /// counts can never overflow an `Int`.
    public static let maxElements = 1 << 40

    /// The element count of a user-given or computed shape, checked: every
    /// size must be non-negative, and the product of the sizes — with zero
    /// sizes counted as 1, so that the contiguous strides of a shape with a
    /// zero dimension beside huge ones fit too — must not exceed
    /// `maxElements`. This is the one place where shapes are multiplied
    /// out; `Shape.numel` is then safe on any shape that passed it.
    @discardableResult
    static func checkedCount(_ s: [Int], op: String) throws -> Int {
        var n = 1, span = 1
        for d in s {
            guard d >= 0 else { throw TensorError("\(op): negative size in shape \(fmt(s))") }
            let (m, o) = span.multipliedReportingOverflow(by: Swift.max(d, 1))
            guard !o, m <= maxElements else {
                throw TensorError("\(op): shape \(fmt(s)) is too large (more than 2^40 elements or element strides)")
            }
            span = m
            n = d == 0 ? 0 : n &* d
        }
        let (bytes, o) = n.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !o, bytes <= Storage.maxBytes else {
            throw TensorError("\(op): cannot allocate \(bytes) bytes for a tensor of shape \(fmt(s)) (more than the machine's physical memory of \(Storage.maxBytes) bytes)")
        }
        return n
    }

    /// Validates a user-given shape (see `checkedCount`).
    static func validate(_ s: [Int], op: String) throws { try checkedCount(s, op: op) }

    /// The product of sizes computed from arguments (buffer sizes, output
    /// sizes), checked against overflow and `maxElements`; `what` names the
    /// quantity in the error.
    static func product(_ xs: Int..., op: String, what: String) throws -> Int {
        var n = 1
        for x in xs {
            guard x >= 0 else { throw TensorError("\(op): \(what) would be negative") }
            let (m, o) = n.multipliedReportingOverflow(by: x)
            guard !o, m <= maxElements else { throw TensorError("\(op): \(what) is too large (more than 2^40 elements)") }
            n = m
        }
        return n
    }

    /// `a + b` for sizes computed from arguments, checked against overflow.
    static func sum(_ xs: Int..., op: String, what: String) throws -> Int {
        var n = 0
        for x in xs {
            let (m, o) = n.addingReportingOverflow(x)
            guard !o, m <= maxElements, m >= -maxElements else { throw TensorError("\(op): \(what) is too large") }
            n = m
        }
        return n
    }

    /// NumPy/PyTorch broadcasting of two shapes.
    static func broadcast(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        if a == b { return a }
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else {
                throw TensorError("\(op): shapes \(fmt(a)) and \(fmt(b)) cannot be broadcast together")
            }
        }
        try validate(out, op: op)   // [N,1] and [1,M] may broadcast to a shape too large
        return out
    }

    /// Strides that read a tensor of `shape`/`strides` as if it had the
    /// (broadcast) shape `to`: broadcast dimensions get stride 0.
    static func broadcastStrides(shape: [Int], strides: [Int], to: [Int]) -> [Int] {
        let lead = to.count - shape.count
        var out = [Int](repeating: 0, count: to.count)
        for i in 0..<shape.count where shape[i] != 1 || to[lead + i] == 1 {
            out[lead + i] = shape[i] == 1 ? 0 : strides[i]
        }
        return out
    }

    /// Converts a possibly negative dimension to `0..<rank`, or throws. A
    /// 0-d tensor has no dimension to index, so it throws for rank 0 unless
    /// the caller handles scalars itself (`scalar: true`, as reductions do:
    /// then 0 and -1 name the scalar's only "dimension", as in PyTorch).
    static func dim(_ d: Int, rank: Int, op: String, scalar: Bool = false) throws -> Int {
        if rank == 0 && !scalar {
            throw TensorError("\(op): dimension \(d) is out of range for a 0-dimensional tensor")
        }
        let r = max(rank, 1)
        let x = d < 0 ? d + r : d
        guard x >= 0, x < r else {
            throw TensorError("\(op): dimension \(d) is out of range for a tensor with \(rank) dimension\(rank == 1 ? "" : "s")")
        }
        return x
    }
}

/// A loop over a (broadcast) shape for several operands, each with its own
/// strides. Adjacent dimensions that are contiguous for every operand are
/// merged, so most loops become a single long inner loop; the inner loop is
/// what kernels specialize (stride 1 or 0 for each operand).
struct StridedLoop {
    /// Sizes of the outer dimensions (coalesced), without the inner one.
    let outer: [Int]
    /// Outer strides per operand: `outerStrides[k][d]`.
    let outerStrides: [[Int]]
    /// Length of the inner dimension.
    let inner: Int
    /// Inner stride per operand.
    let innerStrides: [Int]
    /// Number of rows (product of `outer`).
    let rows: Int

    init(shape: [Int], strides: [[Int]]) {
        // Drop size-1 dimensions, then merge mergeable neighbours.
        var dims: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for i in 0..<shape.count where shape[i] != 1 {
            dims.append(shape[i])
            for k in 0..<strides.count { st[k].append(strides[k][i]) }
        }
        if dims.isEmpty { dims = [shape.contains(0) ? 0 : 1]; for k in 0..<st.count { st[k] = [1] } }
        var mDims = [dims[0]]
        var mSt = st.map { [$0[0]] }
        for i in 1..<dims.count {
            let last = mDims.count - 1
            var ok = true
            for k in 0..<st.count where mSt[k][last] != st[k][i] * dims[i] { ok = false; break }
            if ok {
                mDims[last] *= dims[i]
                for k in 0..<st.count { mSt[k][last] = st[k][i] }
            } else {
                mDims.append(dims[i])
                for k in 0..<st.count { mSt[k].append(st[k][i]) }
            }
        }
        inner = mDims.removeLast()
        innerStrides = mSt.map { $0.last! }
        outer = mDims
        outerStrides = mSt.map { Array($0.dropLast()) }
        rows = Shape.numel(outer)
    }

    /// Calls `body(offsets, n)` for pieces of the iteration space: `offsets[k]`
    /// is operand k's element offset (relative to its base) of the first of
    /// `n` consecutive inner elements. Runs on several threads when the total
    /// is at least `parallelMinimum` elements.
    func run(parallelMinimum: Int = 1 << 16,
             _ body: (_ offsets: UnsafeMutablePointer<Int>, _ n: Int) -> Void) {
        let nops = innerStrides.count
        let total = rows * inner
        if total == 0 { return }
        let threads = total >= parallelMinimum ? Parallel.threads : 1
        if rows == 1 {
            // One long inner loop: split it.
            Parallel.forEachRange(count: inner, minimum: threads > 1 ? 0 : Int.max) { r in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: nops) { off in
                    for k in 0..<nops { off[k] = r.lowerBound * innerStrides[k] }
                    body(off.baseAddress!, r.count)
                }
            }
            return
        }
        Parallel.forEachRange(count: rows, minimum: threads > 1 ? 0 : Int.max) { r in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: nops + outer.count) { buf in
                let off = buf.baseAddress!, idx = buf.baseAddress! + nops
                // Multi-index of the first row.
                var rem = r.lowerBound
                for d in stride(from: outer.count - 1, through: 0, by: -1) { idx[d] = rem % outer[d]; rem /= outer[d] }
                for k in 0..<nops {
                    var o = 0
                    for d in 0..<outer.count { o += idx[d] * outerStrides[k][d] }
                    off[k] = o
                }
                for _ in r {
                    body(off, inner)
                    // Advance the multi-index by one row.
                    var d = outer.count - 1
                    while d >= 0 {
                        idx[d] += 1
                        for k in 0..<nops { off[k] += outerStrides[k][d] }
                        if idx[d] < outer[d] { break }
                        for k in 0..<nops { off[k] -= outerStrides[k][d] * outer[d] }
                        idx[d] = 0
                        d -= 1
                    }
                }
            }
        }
    }
}
