import Runtime

/// An Ising problem over spins s ∈ {−1,+1}^N on a graph:
/// E(s) = Σ_l h_l s_l + Σ_e J_e s_u s_v (D-Wave's convention), J in the
/// graph's edge order. `offset` relates it to a Boltzmann machine:
/// H(z) = E(2z − 1) + offset exactly.
public struct IsingModel: Sendable {
    public let graph: Graph
    public var h: [Float]
    public var J: [Float]
    public var offset: Double

    public init(graph: Graph, h: [Float], J: [Float], offset: Double = 0) throws {
        try require(h.count == graph.nodeCount, "Ising: h has \(h.count) entries, graph has \(graph.nodeCount) nodes")
        try require(J.count == graph.edges.count, "Ising: J has \(J.count) entries, graph has \(graph.edges.count) edges")
        self.graph = graph; self.h = h; self.J = J; self.offset = offset
    }

    /// E(s) + offset for each row of spins (batch × N), in Double.
    public func energies(spins s: [Float], batch: Int) throws -> [Double] {
        let n = graph.nodeCount
        try require(s.count == batch * n, "Ising energies: expected \(batch * n) values, got \(s.count)")
        return (0..<batch).map { b in
            var e = offset
            for l in 0..<n { e += Double(h[l]) * Double(s[b * n + l]) }
            for (k, ed) in graph.edges.enumerated() { e += Double(J[k]) * Double(s[b * n + ed.u]) * Double(s[b * n + ed.v]) }
            return e
        }
    }

    /// Applies a spin-reversal (gauge) transform g ∈ {±1}^N:
    /// h_l → g_l h_l, J_uv → g_u g_v J_uv. Samples s' of the result map back
    /// to the original problem as s = g ⊙ s'.
    public func gauged(_ g: [Float]) throws -> IsingModel {
        try require(g.count == graph.nodeCount, "gauge: \(g.count) signs for \(graph.nodeCount) spins")
        var m = self
        for l in h.indices { m.h[l] = g[l] * h[l] }
        for (k, e) in graph.edges.enumerated() { m.J[k] = g[e.u] * g[e.v] * J[k] }
        return m
    }
}

extension BoltzmannMachine {
    /// The Ising form under z = (1 + s)/2:
    /// h_l = b_l/2 + Σ_m W_lm/4, J_e = W_e/4, offset = Σ b/2 + Σ W/4,
    /// so that H(z) = E(s) + offset.
    public func toIsing() -> IsingModel {
        var h = [Double](repeating: 0, count: units)
        for l in 0..<units { h[l] = Double(bias[l]) / 2 }
        for (k, e) in graph.edges.enumerated() {
            h[e.u] += Double(weights[k]) / 4; h[e.v] += Double(weights[k]) / 4
        }
        let off = bias.reduce(0.0) { $0 + Double($1) / 2 } + weights.reduce(0.0) { $0 + Double($1) / 4 }
        // Sizes match by construction.
        return try! IsingModel(graph: graph, h: h.map { Float($0) }, J: weights.map { $0 / 4 }, offset: off)
    }

    /// The Boltzmann machine of an Ising problem: W = 4J,
    /// b_l = 2 h_l − 2 Σ_m J_lm. The Ising offset is dropped (p(z) is
    /// unchanged). Throws on non-finite parameters.
    public init(ising: IsingModel) throws {
        var b = [Double](repeating: 0, count: ising.graph.nodeCount)
        for l in b.indices { b[l] = 2 * Double(ising.h[l]) }
        for (k, e) in ising.graph.edges.enumerated() {
            b[e.u] -= 2 * Double(ising.J[k]); b[e.v] -= 2 * Double(ising.J[k])
        }
        try self.init(graph: ising.graph, bias: b.map { Float($0) }, weights: ising.J.map { 4 * $0 })
    }
}
