import XCTest
import Runtime
@testable import Model

/// PCD chains split over ranks (`ChainShard`): the blocks and the
/// equivalence of split and whole chain sets.
final class ChainShardTests: XCTestCase {
    /// Blocks are contiguous, cover every chain once, start on tile
    /// boundaries, and their tile counts differ by at most one, larger first.
    func testBlocksPartitionTheChainsInWholeTiles() {
        let T = ChainState.tileWidth
        for total in [1, 31, 32, 33, 40, 70, 100, 1000, 1001] {
            for size in 1...7 {
                var next = 0
                var tiles: [Int] = []
                for rank in 0..<size {
                    let b = ChainShard.chains(of: total, rank: rank, size: size)
                    XCTAssertEqual(b.lowerBound, next, "C = \(total), N = \(size), rank \(rank)")
                    XCTAssertTrue(b.isEmpty || b.lowerBound % T == 0)
                    tiles.append((b.count + T - 1) / T)
                    next = b.upperBound
                }
                XCTAssertEqual(next, total, "C = \(total), N = \(size)")
                XCTAssertEqual(tiles.reduce(0, +), (total + T - 1) / T)
                XCTAssertLessThanOrEqual(tiles.max()! - tiles.min()!, 1)
                XCTAssertEqual(tiles, tiles.sorted(by: >), "the remainder goes to the first ranks")
            }
        }
    }

    /// Each rank's block, advanced with a copy of the same stream, holds
    /// exactly the chains of the whole set, step after step (burn-in
    /// included), and leaves the stream where the whole set leaves it.
    func testBlocksFollowTheWholeSetsChains() throws {
        let bm = try Instances.chimera()
        let total = 70, size = 3, steps = 4
        let whole = BlockGibbsSampler(sweeps: 3, burnIn: 5)
        var gw = Generator(seed: 21)
        let parts = (0..<size).map { _ in BlockGibbsSampler(sweeps: 3, burnIn: 5) }
        var gs = [Generator](repeating: Generator(seed: 21), count: size)
        for _ in 0..<steps {
            let (all, sumAll) = try whole.advance(bm, count: total, generator: &gw, block: 0..<total)
            let chains = all.extract()
            var sum = 0.0
            for r in 0..<size {
                let block = ChainShard.chains(of: total, rank: r, size: size)
                let (s, e) = try parts[r].advance(bm, count: total, generator: &gs[r], block: block)
                XCTAssertEqual(s.extract(), Array(chains[(block.lowerBound * bm.units)..<(block.upperBound * bm.units)]))
                XCTAssertEqual(gs[r].state, gw.state, "rank \(r)'s stream")
                sum += e
            }
            XCTAssertEqual(sum, sumAll, accuracy: 1e-9 * max(1, abs(sumAll)))
        }
    }
}
