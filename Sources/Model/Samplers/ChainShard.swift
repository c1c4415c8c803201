import Runtime

/// One process's share of a set of persistent chains split over the ranks
/// of a data-parallel run (`BoltzmannPrior.shardChains`).
///
/// The chains are dealt in whole tiles of `ChainState.tileWidth` (32)
/// chains, in contiguous blocks: with T = ⌈C/32⌉ tiles and `size` ranks,
/// rank r holds ⌊T/size⌋ tiles, one more when r < T mod size (the
/// remainder on the first ranks), starting after the tiles of the ranks
/// before it; the last tile may be partial. Each tile's random stream is
/// the one the unsplit set would give it (every rank draws the seeds of
/// all T tiles and uses its own), so every chain follows the same path as
/// in one process, whatever the number of ranks. A rank may hold no chain
/// (C ≤ 32·(size − 1)).
///
/// `sum` adds numbers over all ranks in place (MPI allreduce); every rank
/// must call it at the same points with the same count, as the prior does.
public struct ChainShard {
    /// This process's rank, 0..<size.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    /// Sums `count` doubles over all ranks in place (a collective).
    public let sum: (_ values: UnsafeMutablePointer<Double>, _ count: Int) throws -> Void

    public init(rank: Int, size: Int, sum: @escaping (UnsafeMutablePointer<Double>, Int) throws -> Void) throws {
        try require(size >= 1, field: "size", "must be >= 1, got \(size)")
        try require(rank >= 0 && rank < size, field: "rank", "must be in 0..<\(size), got \(rank)")
        self.rank = rank; self.size = size; self.sum = sum
    }

    /// The global chain indices held by `rank` out of `total` chains.
    public static func chains(of total: Int, rank: Int, size: Int) -> Range<Int> {
        let T = ChainState.tileWidth
        let tiles = (total + T - 1) / T
        let q = tiles / size, rem = tiles % size
        let first = rank * q + min(rank, rem)
        let count = q + (rank < rem ? 1 : 0)
        return min(total, first * T)..<min(total, (first + count) * T)
    }

    /// The global chain indices this rank holds out of `total` chains.
    public func chains(of total: Int) -> Range<Int> { ChainShard.chains(of: total, rank: rank, size: size) }

    /// Sums an array over all ranks.
    func summed(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { p in
            if let base = p.baseAddress { try sum(base, p.count) }
        }
        return v
    }
}
