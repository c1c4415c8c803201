import Runtime

/// One pass over an `ImageSet` in batches: the order (shuffled once, at
/// creation, or the set's own), the position, and how pixels are binarized.
/// Each `next` returns the following batch until the set is exhausted (the
/// short last batch is skipped when `dropLast`).
public final class BatchIterator {
    public let batcher: Batcher
    /// Example indices in visiting order.
    public let order: [Int]
    public let dropLast: Bool
    /// Examples handed out so far.
    public private(set) var position = 0

    /// A pass of batches of `batchSize` (field `batchSize`, ≥ 1); with
    /// `shuffle`, a random order drawn from `generator` now.
    public init(_ set: ImageSet, batchSize: Int, binarization: Binarization, shuffle: Bool, dropLast: Bool,
                generator: inout Generator) throws {
        try require(batchSize >= 1, field: "batchSize", "must be >= 1, got \(batchSize)")
        batcher = try Batcher(set, batchSize: batchSize, binarization: binarization)
        order = shuffle ? batcher.shuffledOrder(&generator) : Array(0..<set.count)
        self.dropLast = dropLast
    }

    /// The next batch: images [b, pixels] (binarized; "dynamic" draws from
    /// `generator`) and their 0-based labels, or nil at the end.
    public func next(generator: inout Generator) throws -> (images: Tensor, labels: [UInt8])? {
        let n = order.count, b = batcher.batchSize
        guard position < n, !(dropLast && position + b > n) else { return nil }
        let idx = order[position..<Swift.min(n, position + b)]
        position += idx.count
        let x = batcher.batch(idx, &generator)
        return (try Tensor(x, shape: [idx.count, batcher.set.pixels]), idx.map { batcher.set.labels[$0] })
    }
}
