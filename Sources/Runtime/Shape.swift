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

    /// Validates a user-given shape: sizes must be non-negative and the
    /// element count must fit comfortably in memory arithmetic.
    static func validate(_ s: [Int], op: String) throws {
        var n = 1
        for d in s {
            guard d >= 0 else { throw TensorError("\(op): negative size in shape \(fmt(s))") }
            let (m, o) = n.multipliedReportingOverflow(by: d)
            guard !o, m <= (1 << 40) else { throw TensorError("\(op): shape \(fmt(s)) is too large") }
            n = m
        }
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

    /// Converts a possibly negative dimension to `0..<rank`, or throws.
    static func dim(_ d: Int, rank: Int, op: String) throws -> Int {
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
