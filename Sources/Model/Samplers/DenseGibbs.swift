import Runtime
import CModelKernels

/// Block Gibbs for dense bipartite graphs (the full RBM): the two
/// independent sets A and B hold all units and every edge joins them. Each
/// sweep updates A, then B, with fields from register-blocked dense
/// products over the tile (`qvm_dense_bipartite_sweeps`): no neighbour
/// indices, 8 units × 32 chains of accumulators per pass over the other
/// side. Same conditionals, hence the same Markov chain in distribution, as
/// the sparse kernel (`SweepKernel`, which visits the sets in the same
/// order); the random numbers are consumed in another order.
struct DenseBipartiteSweeps {
    let a: [Int32]
    let b: [Int32]
    let lda: Int
    let ldb: Int
    /// wAB[j·lda + i] = W(a_i, b_j); wBA[i·ldb + j] = W(a_i, b_j); zero padding.
    let wAB: [Float]
    let wBA: [Float]
    let bias: [Float]

    /// The dense kernel for `bm`, or nil when its graph is not bipartite
    /// (exactly two independent sets) or fills less than `threshold` of the
    /// |A|·|B| possible couplers.
    init?(_ bm: BoltzmannMachine, threshold: Double) {
        let g = bm.graph
        guard g.edgeCount > 0, g.independentSets.count == 2 else { return nil }
        let sa = g.independentSets[0], sb = g.independentSets[1]
        guard Double(g.edgeCount) >= threshold * Double(sa.count) * Double(sb.count) else { return nil }
        var pos = [Int](repeating: 0, count: g.nodeCount)
        for (i, l) in sa.enumerated() { pos[l] = i }
        for (j, l) in sb.enumerated() { pos[l] = j }
        var side = [Int8](repeating: -1, count: g.nodeCount)
        for l in sa { side[l] = 0 }
        for l in sb { side[l] = 1 }
        let lda = (sa.count + 7) / 8 * 8, ldb = (sb.count + 7) / 8 * 8
        var wAB = [Float](repeating: 0, count: lda * sb.count)
        var wBA = [Float](repeating: 0, count: ldb * sa.count)
        for (k, e) in g.edges.enumerated() {
            // Independent sets: every edge joins the two sides.
            let (u, v) = side[e.u] == 0 ? (e.u, e.v) : (e.v, e.u)
            guard side[u] == 0 && side[v] == 1 else { return nil }
            let i = pos[u], j = pos[v]
            wAB[j * lda + i] += bm.weights[k]
            wBA[i * ldb + j] += bm.weights[k]
        }
        a = sa.map { Int32($0) }; b = sb.map { Int32($0) }
        self.lda = lda; self.ldb = ldb; self.wAB = wAB; self.wBA = wBA; bias = bm.bias
    }

    /// `sweeps` heat-bath sweeps at inverse temperature `beta` on every
    /// tile, in parallel over tiles (one stream per tile), checking for
    /// Ctrl-C between blocks; `eb`/`ew` (paddedChains) receive the final
    /// bias and coupling energies.
    func run(state: ChainState, streams: inout [qvm_rng_t], sweeps total: Int, beta: Float,
             eb: UnsafeMutablePointer<Double>?, ew: UnsafeMutablePointer<Double>?) throws {
        precondition(streams.count == state.tiles && state.units == a.count + b.count)
        let T = ChainState.tileWidth
        try forEachSweepBlock(total: total, perSweep: a.count * b.count * T, updates: 1 << 24) { _, n, last in
            a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
            wAB.withUnsafeBufferPointer { w1 in
            wBA.withUnsafeBufferPointer { w2 in
            bias.withUnsafeBufferPointer { bi in
            streams.withUnsafeMutableBufferPointer { sp in
                Parallel.forEachChunk(count: state.tiles, chunks: state.tiles) { t, _ in
                    let off = t * T
                    qvm_dense_bipartite_sweeps(Int32(ap.count), ap.baseAddress, Int32(bp.count), bp.baseAddress,
                                               w1.baseAddress, Int32(lda), w2.baseAddress, Int32(ldb),
                                               bi.baseAddress, state.tile(t), Int32(T), Int32(n), beta, beta,
                                               last ? eb.map { $0 + off } : nil, last ? ew.map { $0 + off } : nil,
                                               sp.baseAddress! + t)
                }
            } } } } } }
        }
    }
}

extension BlockGibbsSampler {
    /// Runs `sweeps` heat-bath sweeps on the chains `s` with the dense
    /// bipartite kernel when the graph qualifies (`denseThreshold`), else the
    /// sparse kernel; returns the final energies per padded chain.
    /// `tiles: first, of: total`: the chains are tiles first..<first+s.tiles
    /// of a set of `total` tiles, whose streams are drawn for all of them
    /// (so each tile gets the stream it has in the whole set).
    func runSweeps(_ bm: BoltzmannMachine, state s: ChainState, sweeps: Int,
                   generator: inout Generator, tiles first: Int = 0, of total: Int? = nil) throws -> (eb: [Double], ew: [Double]) {
        let all = SweepKernel.makeStreams(tiles: total ?? s.tiles, generator: &generator)
        var streams = Array(all[first..<(first + s.tiles)])
        if s.tiles == 0 { return ([], []) }  // a rank without chains
        var eb = [Double](repeating: 0, count: s.paddedChains)
        var ew = [Double](repeating: 0, count: s.paddedChains)
        let dense = DenseBipartiteSweeps(bm, threshold: BlockGibbsSampler.denseThreshold)
        lastRunDense = dense != nil
        try eb.withUnsafeMutableBufferPointer { e1 in
            try ew.withUnsafeMutableBufferPointer { e2 in
                if let dense {
                    try dense.run(state: s, streams: &streams, sweeps: sweeps, beta: beta,
                                  eb: e1.baseAddress, ew: e2.baseAddress)
                } else {
                    try SweepKernel(bm).run(.heatBath, state: s, streams: &streams,
                                            schedule: .constant(beta: beta, sweeps: sweeps),
                                            eb: e1.baseAddress, ew: e2.baseAddress)
                }
            }
        }
        return (eb, ew)
    }
}
