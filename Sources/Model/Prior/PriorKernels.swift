import Runtime
import CModelKernels

/// How a prior's energy H(ζ) = b·ζ + Σ_e W_e ζ_u ζ_v is evaluated.
///
/// * Sparse (any graph): ζ is transposed to unit-major [N, B] so that every
///   per-edge and per-unit loop runs over the batch with unit stride
///   (vectorizes); O(B (N + E)) work, no allocation beyond the transpose.
/// * Dense bipartite (graphs whose edges all join the two sides of the
///   "bipartite" grouping and fill at least `denseThreshold` of the
///   |A|×|B| block, e.g. the full 144×144 RBM): W is a matrix and the
///   coupling term is ζ_A W ζ_Bᵀ row by row, computed with sgemm (three
///   GEMMs forward + backward).
struct EnergyLayout {
    let units: Int
    let eu: [Int32]
    let ev: [Int32]
    let rowStart: [Int32]
    let neighbors: [Int32]
    let neighborEdge: [Int32]
    let dense: DenseBipartite?

    init(graph: Graph, denseThreshold: Double) {
        units = graph.nodeCount
        eu = graph.edges.map { Int32($0.u) }
        ev = graph.edges.map { Int32($0.v) }
        rowStart = graph.rowStart
        neighbors = graph.neighbors
        neighborEdge = graph.neighborEdge
        dense = DenseBipartite(graph: graph, threshold: denseThreshold)
    }
}

/// A bipartite edge set laid out as an |A| × |B| matrix (cell i·|B| + j for
/// the edge joining A[i] and B[j]).
struct DenseBipartite {
    let a: [Int]
    let b: [Int]
    /// The side as a contiguous node range, when it is one (no gather).
    let aRange: Range<Int>?
    let bRange: Range<Int>?
    /// Matrix cell of each edge; nil when edge e is cell e (full K(a,b) in
    /// the canonical order: weights are the matrix, row-major).
    let cellOfEdge: [Int32]?

    init?(graph: Graph, threshold: Double) {
        guard graph.edgeCount > 0, let sides = graph.groupings["bipartite"], sides.count == 2 else { return nil }
        let a = sides[0], b = sides[1]
        guard Double(graph.edgeCount) >= threshold * Double(a.count) * Double(b.count) else { return nil }
        var posA = [Int](repeating: -1, count: graph.nodeCount), posB = posA
        for (i, l) in a.enumerated() { posA[l] = i }
        for (j, l) in b.enumerated() { posB[l] = j }
        var cells = [Int32](repeating: 0, count: graph.edgeCount)
        var identity = true
        for (k, e) in graph.edges.enumerated() {
            let c: Int
            if posA[e.u] >= 0 && posB[e.v] >= 0 { c = posA[e.u] * b.count + posB[e.v] }
            else if posA[e.v] >= 0 && posB[e.u] >= 0 { c = posA[e.v] * b.count + posB[e.u] }
            else { return nil }   // an edge inside one side
            cells[k] = Int32(c)
            if c != k { identity = false }
        }
        self.a = a; self.b = b
        func range(_ s: [Int]) -> Range<Int>? {
            guard let f = s.first, s.last! - f + 1 == s.count else { return nil }
            return f..<(f + s.count)
        }
        aRange = range(a); bRange = range(b)
        cellOfEdge = identity && graph.edgeCount == a.count * b.count ? nil : cells
    }

    /// Columns `side` of a [B, N] matrix as a [B, |side|] matrix (a view
    /// when the side is a contiguous range).
    func columns(_ z: Tensor, _ side: [Int], _ range: Range<Int>?) throws -> Tensor {
        if let r = range { return try z.narrow(1, start: r.lowerBound, length: r.count) }
        let rows = z.shape[0], n = z.shape[1], m = side.count
        let out = try Tensor.zeros([rows, m])
        let src = z.data, dst = out.data
        for s in 0..<rows { for (j, l) in side.enumerated() { dst[s * m + j] = src[s * n + l] } }
        return out
    }

    /// The weights as the |A| × |B| matrix.
    func matrix(_ weights: Tensor) throws -> Tensor {
        guard let cells = cellOfEdge else { return try weights.view([a.count, b.count]) }
        let m = try Tensor.zeros([a.count, b.count])
        let w = weights.data, d = m.data
        for (k, c) in cells.enumerated() { d[Int(c)] = w[k] }
        return m
    }

    /// Per-edge values from a matrix [|A|, |B|] (contiguous).
    func edgeValues(_ m: Tensor, scale: Float) -> [Float] {
        let p = m.data
        guard let cells = cellOfEdge else { return (0..<(a.count * b.count)).map { scale * p[$0] } }
        return cells.map { scale * p[Int($0)] }
    }
}

// MARK: sparse kernels on unit-major batches

enum PriorKernels {
    /// zT[l, s] = z[s, l] for a contiguous [rows, n] buffer.
    static func transpose(_ z: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        // Blocks of 16 × 16 keep both sides in cache.
        let bs = 16
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + bs)
            var c0 = 0
            while c0 < cols {
                let c1 = min(cols, c0 + bs)
                for r in r0..<r1 { for c in c0..<c1 { out[c * rows + r] = z[r * cols + c] } }
                c0 = c1
            }
            r0 = r1
        }
    }

    /// H of every column s of the unit-major zT [n, B]: out[s].
    static func energies(_ L: EnergyLayout, zT: UnsafePointer<Float>, batch B: Int,
                         bias: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                         out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: B)
        for l in 0..<L.units {
            let bl = bias[l], row = zT + l * B
            for s in 0..<B { out[s] += bl * row[s] }
        }
        L.eu.withUnsafeBufferPointer { eu in
            L.ev.withUnsafeBufferPointer { ev in
                for k in 0..<eu.count {
                    let wk = weights[k], ru = zT + Int(eu[k]) * B, rv = zT + Int(ev[k]) * B
                    for s in 0..<B { out[s] += wk * ru[s] * rv[s] }
                }
            }
        }
    }

    /// dζ[s, l] = scale · g_s · (b_l + Σ_m W_lm ζ_sm), written row-major [B, n].
    static func zetaGradient(_ L: EnergyLayout, zT: UnsafePointer<Float>, batch B: Int,
                             bias: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                             g: UnsafePointer<Float>, scale: Float, out: UnsafeMutablePointer<Float>) {
        let n = L.units
        L.rowStart.withUnsafeBufferPointer { rs in
            L.neighbors.withUnsafeBufferPointer { nb in
                L.neighborEdge.withUnsafeBufferPointer { ne in
                    Parallel.forEachRange(count: n, minimum: B * (L.eu.count + n) > 400_000 ? 2 : Int.max) { r in
                        var f = [Float](repeating: 0, count: B)
                        f.withUnsafeMutableBufferPointer { fp in
                            let f = fp.baseAddress!
                            for l in r {
                                let bl = bias[l]
                                for s in 0..<B { f[s] = bl }
                                for k in Int(rs[l])..<Int(rs[l + 1]) {
                                    let wk = weights[Int(ne[k])], row = zT + Int(nb[k]) * B
                                    for s in 0..<B { f[s] += wk * row[s] }
                                }
                                for s in 0..<B { out[s * n + l] = scale * g[s] * f[s] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// db_l = Σ_s g_s ζ_sl and dW_e = Σ_s g_s ζ_su ζ_sv (either may be skipped).
    static func parameterGradients(_ L: EnergyLayout, zT: UnsafePointer<Float>, batch B: Int,
                                   g: UnsafePointer<Float>?, db: UnsafeMutablePointer<Float>?,
                                   dW: UnsafeMutablePointer<Float>?) {
        let n = L.units
        // G = g ⊙ ζ (unit-major); with g == nil, G = ζ.
        let G = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * B))
        defer { G.deallocate() }
        for l in 0..<n {
            let src = zT + l * B, dst = G + l * B
            if let g { for s in 0..<B { dst[s] = g[s] * src[s] } } else { dst.update(from: src, count: B) }
        }
        if let db {
            for l in 0..<n {
                let row = G + l * B
                var acc: Float = 0
                for s in 0..<B { acc += row[s] }
                db[l] = acc
            }
        }
        if let dW {
            L.eu.withUnsafeBufferPointer { eu in
                L.ev.withUnsafeBufferPointer { ev in
                    Parallel.forEachRange(count: eu.count, minimum: B * eu.count > 400_000 ? 2 : Int.max) { r in
                        for k in r {
                            let ru = G + Int(eu[k]) * B, rv = zT + Int(ev[k]) * B
                            var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                            var s = 0
                            while s + 4 <= B {
                                a0 += ru[s] * rv[s]; a1 += ru[s + 1] * rv[s + 1]
                                a2 += ru[s + 2] * rv[s + 2]; a3 += ru[s + 3] * rv[s + 3]
                                s += 4
                            }
                            while s < B { a0 += ru[s] * rv[s]; s += 1 }
                            dW[k] = (a0 + a1) + (a2 + a3)
                        }
                    }
                }
            }
        }
    }
}

// MARK: persistent chains without copies

extension BlockGibbsSampler {
    /// Advances the chains exactly as `sample` does (same random stream
    /// use, same chain (re)initialization), but returns the chain state
    /// itself and the mean energy instead of copying samples out.
    func advance(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> (ChainState, Double) {
        let (state, sum) = try advance(bm, count: count, generator: &generator, block: 0..<count)
        return (state, sum / Double(count))
    }

    /// Same for the chains `block` of `count` (one rank's, `ChainShard`):
    /// their state and the sum of their energies.
    func advance(_ bm: BoltzmannMachine, count: Int, generator: inout Generator, block: Range<Int>) throws
        -> (state: ChainState, energySum: Double) {
        let r = try step(bm, count: count, generator: &generator, block: block)
        var sum = 0.0
        for c in 0..<block.count { sum += r.eb[c] + r.ew[c] }
        return (r.state, sum)
    }
}

extension ChainState {
    /// The first `chains` chains unit-major: out[l · chains + c].
    func unitMajor(into out: UnsafeMutablePointer<Float>) {
        let T = ChainState.tileWidth
        for t in 0..<tiles {
            let lanes = min(T, chains - t * T)
            let tp = tile(t)
            for l in 0..<units { (out + l * chains + t * T).update(from: tp + l * T, count: lanes) }
        }
    }
}

/// ⟨z_l⟩ and ⟨z_u z_v⟩ per edge from unit-major samples U [n, C].
func sampleMoments(_ L: EnergyLayout, unitMajor U: Tensor) throws -> (means: [Float], edgeMeans: [Float]) {
    let n = U.shape[0], C = U.shape[1]
    let inv = 1 / Float(max(1, C))
    let p = U.data
    var means = [Float](repeating: 0, count: n)
    for l in 0..<n {
        let row = p + l * C
        var acc: Float = 0
        for c in 0..<C { acc += row[c] }
        means[l] = acc * inv
    }
    var edge = [Float](repeating: 0, count: L.eu.count)
    if let d = L.dense {
        let ua = try d.aRange.map { try U.narrow(0, start: $0.lowerBound, length: $0.count) } ?? rowsOf(U, d.a)
        let ub = try d.bRange.map { try U.narrow(0, start: $0.lowerBound, length: $0.count) } ?? rowsOf(U, d.b)
        let m = try ua.mm(ub.t())
        edge = d.edgeValues(m, scale: inv)
    } else {
        edge.withUnsafeMutableBufferPointer { ep in
            PriorKernels.parameterGradients(L, zT: p, batch: C, g: nil, db: nil, dW: ep.baseAddress)
        }
        for k in edge.indices { edge[k] *= inv }
    }
    return (means, edge)
}

private func rowsOf(_ U: Tensor, _ rows: [Int]) throws -> Tensor {
    let C = U.shape[1]
    let out = try Tensor.zeros([rows.count, C])
    for (i, l) in rows.enumerated() { (out.data + i * C).update(from: U.data + l * C, count: C) }
    return out
}
