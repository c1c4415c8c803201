/// An n-dimensional array of `Float32` with reverse-mode automatic
/// differentiation.
///
/// A tensor is a view (`shape`, `strides`, `offset`) onto a shared `Storage`;
/// `reshape`, `transpose`, `narrow`, `expand` and friends make new views
/// without copying. It is a reference type because its identity is its
/// place in the autograd graph: an op on tensors that require gradients
/// records a `GradNode` on its result, and `backward()` walks those nodes.
///
/// Dimensions are 0-based; negative dimensions count from the end (-1 is
/// the last). Every operation that can fail on user input throws a
/// `TensorError` with a readable message.
public final class Tensor {
    /// The shared buffer.
    public let storage: Storage
    /// Sizes of the dimensions; `[]` for a scalar.
    public let shape: [Int]
    /// Element strides of the dimensions (0 for expanded dimensions).
    public let strides: [Int]
    /// Element offset of the first element in `storage`.
    public let offset: Int

    /// Whether gradients flow to (and accumulate in) this tensor. Set it on
    /// leaf tensors (parameters); results of ops on such tensors get it
    /// automatically while grad mode is enabled.
    public var requiresGrad: Bool = false
    /// The accumulated gradient after `backward()` (leaf tensors only).
    public var grad: Tensor?
    /// The op that produced this tensor, when it was recorded for autograd.
    var node: GradNode?

    /// A view onto `storage`.
    init(storage: Storage, shape: [Int], strides: [Int], offset: Int) {
        self.storage = storage; self.shape = shape; self.strides = strides; self.offset = offset
    }

    /// A new contiguous tensor with uninitialized contents (internal).
    /// Every tensor buffer is allocated here: the shape is checked
    /// (`Shape.checkedCount`) and the allocation is fallible, so a size
    /// computed from arguments throws "cannot allocate N bytes for …"
    /// instead of trapping or aborting.
    convenience init(uninitialized shape: [Int], for what: String = "tensor") throws {
        try self.init(storage: Storage(count: Shape.checkedCount(shape, op: what), for: what),
                      shape: shape, strides: Shape.contiguousStrides(shape), offset: 0)
    }

    /// A new contiguous tensor with uninitialized contents, for a shape an
    /// existing tensor already has (the result of an elementwise op, a
    /// contiguous copy): such a shape passed `Shape.checkedCount`, which
    /// bounds it by physical memory, so only an exhausted machine can make
    /// this allocation fail, and that is fatal.
    convenience init(existingShape shape: [Int]) {
        do { try self.init(uninitialized: shape) } catch { fatalError("qvlua: \(error)") }
    }


    /// A tensor holding `data` (row-major) with the given shape.
    public convenience init(_ data: [Float], shape: [Int]) throws {
        try Shape.validate(shape, op: "tensor")
        guard Shape.numel(shape) == data.count else {
            throw TensorError("tensor: \(data.count) values do not fill shape \(fmt(shape))")
        }
        try self.init(uninitialized: shape, for: "tensor")
        data.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: data.count) }
    }

    /// A 1-D tensor holding `data`.
    public convenience init(_ data: [Float]) {
        try! self.init(data, shape: [data.count])
    }

    /// A 0-dimensional tensor holding `value`.
    public convenience init(scalar value: Float) {
        self.init(existingShape: [])
        storage.pointer[0] = value
    }

    // MARK: Factories

    /// A contiguous tensor with every element equal to `value`.
    public static func full(_ shape: [Int], _ value: Float, op: String = "full") throws -> Tensor {
        let t = try Tensor(uninitialized: shape, for: op)
        t.storage.pointer.initialize(repeating: value, count: t.count)
        return t
    }
    public static func zeros(_ shape: [Int]) throws -> Tensor { try full(shape, 0, op: "zeros") }
    public static func ones(_ shape: [Int]) throws -> Tensor { try full(shape, 1, op: "ones") }
    public static func zeros(like t: Tensor) -> Tensor { try! full(t.shape, 0) }
    public static func ones(like t: Tensor) -> Tensor { try! full(t.shape, 1) }

    /// `[start, start+step, ...)` up to but excluding `end`.
    public static func arange(_ start: Float, _ end: Float, step: Float = 1) throws -> Tensor {
        guard start.isFinite else { throw TensorError("arange: start must be finite, got \(start)") }
        guard end.isFinite else { throw TensorError("arange: end must be finite, got \(end)") }
        guard step != 0, step.isFinite else { throw TensorError("arange: step must be finite and non-zero, got \(step)") }
        // In Double, and compared before converting: Int(x) traps for x ≥ 2^63.
        let steps = ((Double(end) - Double(start)) / Double(step)).rounded(.up)
        guard steps <= Double(1 << 32) else {
            throw TensorError("arange: [\(start), \(end)) with step \(step) has \(steps) elements, more than 2^32")
        }
        let n = Swift.max(0, Int(steps))
        let t = try Tensor(uninitialized: [n], for: "arange")
        for i in 0..<n { t.storage.pointer[i] = start + Float(i) * step }
        return t
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(_ start: Float, _ end: Float, steps: Int) throws -> Tensor {
        guard steps >= 0, steps <= 1 << 32 else { throw TensorError("linspace: steps must be between 0 and 2^32, got \(steps)") }
        let t = try Tensor(uninitialized: [steps], for: "linspace")
        let d = steps > 1 ? (Double(end) - Double(start)) / Double(steps - 1) : 0
        for i in 0..<steps { t.storage.pointer[i] = Float(Double(start) + Double(i) * d) }
        if steps > 1 { t.storage.pointer[steps - 1] = end }
        return t
    }

    /// The `n`×`m` identity matrix (`m` defaults to `n`).
    public static func eye(_ n: Int, _ m: Int? = nil) throws -> Tensor {
        let m = m ?? n
        let t = try zeros([n, m])
        for i in 0..<Swift.min(n, m) { t.storage.pointer[i * m + i] = 1 }
        return t
    }

    // MARK: Properties

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { Shape.numel(shape) }
    /// Size of dimension `d` (negative counts from the end).
    public func size(_ d: Int) throws -> Int { shape[try Shape.dim(d, rank: rank, op: "size")] }

    /// Whether the elements are laid out row-major without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: rank - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Pointer to the first element (element `[0,0,...]`).
    @inline(__always)
    public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Whether this tensor was produced by a recorded op (not a leaf).
    public var isLeaf: Bool { node == nil }

    /// The single value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else { throw TensorError("item: tensor of shape \(fmt(shape)) has \(count) elements, not 1") }
        return data[0]
    }

    /// The elements in row-major order.
    public func toArray() -> [Float] {
        let c = contiguousData()
        return Array(UnsafeBufferPointer(start: c.data, count: count))
    }

    /// Element at a multi-index (0-based), for tests and printing.
    public func at(_ index: [Int]) throws -> Float {
        guard index.count == rank else { throw TensorError("at: expected \(rank) indices, got \(index.count)") }
        var o = offset
        for (d, i) in index.enumerated() {
            guard i >= 0, i < shape[d] else { throw TensorError("at: index \(i) is out of range for dimension \(d) of size \(shape[d])") }
            o += i * strides[d]
        }
        return storage.pointer[o]
    }

    /// This tensor if it is contiguous, else a contiguous copy; never
    /// recorded for autograd (for kernels).
    func contiguousData() -> Tensor {
        if isContiguous { return self }
        let out = Tensor(existingShape: shape)
        copyStrided(from: self, to: out.data)
        return out
    }

    /// Whether any element is NaN or infinite.
    public var hasNonFinite: Bool {
        let c = contiguousData()
        return Tensor.anyNonFinite(c.data, count: count)
    }

    /// Whether any of `count` floats at `p` is NaN or ±inf: the largest
    /// |bits| (sign cleared) of the block is ≥ the all-ones exponent
    /// 0x7F80_0000 iff some element is. Four 8-lane unsigned maxima per
    /// 32 floats (AVX2 `vpmaxud`), one early exit per 4096 floats; runs
    /// at memory bandwidth (the former scalar-compare loop did ≈ 5 GB/s).
    static func anyNonFinite(_ p: UnsafePointer<Float>, count n: Int) -> Bool {
        let raw = UnsafeRawPointer(p)
        let abs = SIMD8<UInt32>(repeating: 0x7FFF_FFFF)
        var i = 0
        while i < n {
            let end = Swift.min(n, i + 4096)
            var a0 = SIMD8<UInt32>(repeating: 0), a1 = a0, a2 = a0, a3 = a0
            var j = i
            while j + 32 <= end {
                a0 = pointwiseMax(a0, raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<UInt32>.self) & abs)
                a1 = pointwiseMax(a1, raw.loadUnaligned(fromByteOffset: (j + 8) * 4, as: SIMD8<UInt32>.self) & abs)
                a2 = pointwiseMax(a2, raw.loadUnaligned(fromByteOffset: (j + 16) * 4, as: SIMD8<UInt32>.self) & abs)
                a3 = pointwiseMax(a3, raw.loadUnaligned(fromByteOffset: (j + 24) * 4, as: SIMD8<UInt32>.self) & abs)
                j += 32
            }
            var m = pointwiseMax(pointwiseMax(a0, a1), pointwiseMax(a2, a3)).max()
            while j < end {
                m = Swift.max(m, raw.load(fromByteOffset: j * 4, as: UInt32.self) & 0x7FFF_FFFF)
                j += 1
            }
            if m >= 0x7F80_0000 { return true }
            i = end
        }
        return false
    }
}

/// Copies the elements of `src` (any strides) to contiguous `dst`.
func copyStrided(from src: Tensor, to dst: UnsafeMutablePointer<Float>) {
    let n = src.count
    if n == 0 { return }
    if src.isContiguous { dst.update(from: src.data, count: n); return }
    let loop = StridedLoop(shape: src.shape, strides: [Shape.contiguousStrides(src.shape), src.strides])
    let s = src.data
    let si = loop.innerStrides[1]
    loop.run { off, len in
        let o = dst + off[0], a = s + off[1]
        if si == 1 { o.update(from: a, count: len) }
        else if si == 0 { o.update(repeating: a[0], count: len) }
        else { for i in 0..<len { o[i] = a[i * si] } }
    }
}

extension Tensor: CustomStringConvertible {
    /// A readable rendering (abbreviated for large tensors).
    public var description: String {
        let vals = toArray()
        func fmtv(_ v: Float) -> String {
            if v == v.rounded() && Swift.abs(v) < 1e7 { return String(Int(v)) }
            return String(format4: v)
        }
        var s = "tensor("
        if rank == 0 { s += fmtv(vals.first ?? 0) }
        else if count <= 64 {
            func rec(_ d: Int, _ base: Int) -> String {
                if d == rank - 1 { return "[" + (0..<shape[d]).map { fmtv(vals[base + $0]) }.joined(separator: ", ") + "]" }
                let st = Shape.numel(Array(shape[(d + 1)...]))
                return "[" + (0..<shape[d]).map { rec(d + 1, base + $0 * st) }.joined(separator: ",\n" + String(repeating: " ", count: d + 8)) + "]"
            }
            s += rec(0, 0)
        } else {
            s += "[" + vals.prefix(6).map(fmtv).joined(separator: ", ") + ", ...]"
        }
        s += ", shape=\(fmt(shape))"
        if requiresGrad { s += ", requires_grad" }
        return s + ")"
    }
}

extension String {
    /// `%.4g`-style formatting without Foundation.
    init(format4 v: Float) {
        if !v.isFinite { self = v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf"); return }
        let a = Swift.abs(v)
        if a != 0 && (a < 1e-3 || a >= 1e6) { self = "\(v)"; return }
        let scaled = (Double(v) * 10000).rounded() / 10000
        self = "\(scaled)"
    }
}
