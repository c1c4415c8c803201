import CRuntimeKernels

/// Which elements a dropout keeps: one byte per element (1 = kept), and
/// the factor 1/(1 − p) the kept ones are scaled by. A quarter of the
/// memory of a float mask, and applied inside the op that uses it
/// (`Tensor.dropout(_:)`, `Tensor.gatedBatchNorm`) instead of as a
/// separate product.
public struct DropoutMask: @unchecked Sendable {
    /// Number of elements the mask covers.
    public let count: Int
    /// 1/(1 − p): the factor of a kept element.
    public let scale: Float
    private let storage: Storage

    /// Draws a mask of `count` elements, each kept with probability 1 − p.
    /// Uses `generator` exactly as `Tensor.bernoulli([count], p: 1 − p,
    /// generator:)` does (same blocks, same split streams, one uniform
    /// per element), so a mask and that float mask are the same draws.
    public static func draw(count: Int, p: Float, generator: inout Generator) throws -> DropoutMask {
        guard p >= 0, p < 1 else { throw TensorError("dropout: rate must be in [0, 1), got \(p)") }
        guard count >= 0 else { throw TensorError("dropout: negative element count \(count)") }
        let keep = 1 - p
        let storage = try Storage(count: (count + 3) / 4, for: "a dropout mask")
        let bytes = UnsafeMutableRawPointer(storage.pointer).assumingMemoryBound(to: UInt8.self)
        // uniform() < keep ⇔ (next() >> 40) < keep·2^24 ⇔ … < ⌈keep·2^24⌉ (the uniform is k·2^-24).
        let threshold = UInt64((keep * 0x1p24).rounded(.up))
        // fillBlocks' blocks and streams, eight blocks at a time in the C kernel's lanes.
        let k = Tensor.blocks(count)
        let gens = (0..<k).map { _ in generator.split() }
        let groups = (k + 7) / 8
        Parallel.forEachChunk(count: groups, chunks: groups, minimum: count >= 1 << 15 ? 1 : Int.max) { gi, _ in
            let lanes = (8 * gi)..<Swift.min(8 * gi + 8, k)
            if lanes.count == 8 {
                var state = [UInt64](repeating: 0, count: 32), start = [Int](repeating: 0, count: 8), len = start
                for (l, b) in lanes.enumerated() {
                    for (i, w) in gens[b].state.enumerated() { state[8 * i + l] = w }
                    let r = Parallel.chunkRange(b, count: count, chunks: k)
                    start[l] = r.lowerBound; len[l] = r.count
                }
                qvr_keep_mask8(&state, bytes, start, len, threshold)
            } else {
                for b in lanes {
                    var g = gens[b]
                    for i in Parallel.chunkRange(b, count: count, chunks: k) { bytes[i] = (g.next() >> 40) < threshold ? 1 : 0 }
                }
            }
        }
        return DropoutMask(count: count, scale: 1 / keep, storage: storage)
    }

    /// The mask's bytes (1 = kept), valid while the mask is alive.
    public var kept: UnsafePointer<UInt8> {
        UnsafeRawPointer(storage.pointer).assumingMemoryBound(to: UInt8.self)
    }

    /// The factor of element i: `scale` if kept, else 0.
    @inline(__always)
    func factor(_ i: Int) -> Float { kept[i] != 0 ? scale : 0 }
}

extension Tensor {
    /// Dropout with a drawn mask: x·scale where kept, x·0 elsewhere (the
    /// product with the float mask `bernoulli·scale`, bit for bit).
    /// Differentiable in x: dx = dy·scale where kept, dy·0 elsewhere.
    public func dropout(_ mask: DropoutMask) throws -> Tensor {
        guard mask.count == count else {
            throw TensorError("dropout: mask of \(mask.count) elements for a tensor of \(count) (\(fmt(shape)))")
        }
        let xc = contiguousData()
        let out = try Tensor(uninitialized: shape)
        Tensor.applyDropout(mask, xc.data, out.data)
        return Tensor.record(out, "dropout", [self]) { g in
            let gc = g.contiguousData()
            let gx = try Tensor(uninitialized: gc.shape)
            Tensor.applyDropout(mask, gc.data, gx.data)
            return [gx]
        }
    }

    /// o[i] = x[i]·factor(i), in parallel ranges.
    static func applyDropout(_ mask: DropoutMask, _ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>) {
        Parallel.forEachRange(count: mask.count, minimum: 1 << 16) { r in
            for i in r { o[i] = x[i] * mask.factor(i) }
        }
    }
}
