import Runtime

/// Mapping the VAE's latent groups onto the prior's units.
///
/// The prior's unit l is graph node l (for Chimera, dwave_networkx's linear
/// index). A hierarchical posterior produces its groups ζ1, ζ2, … in its own
/// order; which nodes each group occupies is a graph grouping:
/// "bipartite" (Chimera: the checkerboard (i + j + u) mod 2, so p(z2|z1)
/// factorizes) or "chains" (the shores). `assemble` places the groups on
/// the units; `disassemble` takes a unit-ordered batch (e.g. prior samples
/// for decoding) back to the groups.
extension BoltzmannPrior {
    /// Node lists of grouping `name` (e.g. two lists of 144 on Chimera-288).
    public func groups(_ name: String = "bipartite") throws -> [[Int]] {
        guard let g = graph.groupings[name] else {
            throw ModelError("prior: graph \(graph.name) has no grouping '\(name)' (has \(graph.groupings.keys.sorted()))")
        }
        return g
    }

    /// Sizes of the groups of grouping `name`.
    public func groupSizes(_ name: String = "bipartite") throws -> [Int] { try groups(name).map(\.count) }

    /// [B, N] in unit order from the groups (each [B, |group k|]):
    /// column j of group k becomes unit groups(name)[k][j]. Differentiable.
    public func assemble(_ parts: [Tensor], grouping name: String = "bipartite") throws -> Tensor {
        let gs = try groups(name)
        guard parts.count == gs.count else {
            throw ModelError("prior assemble: grouping '\(name)' has \(gs.count) groups, got \(parts.count) tensors")
        }
        for (k, p) in parts.enumerated() where p.rank != 2 || p.shape[1] != gs[k].count {
            throw ModelError("prior assemble: group \(k) must be [batch, \(gs[k].count)], got \(p.shape)")
        }
        let cat = try Tensor.cat(parts, dim: 1)
        let order = gs.flatMap { $0 }
        if order == Array(0..<units) { return cat }
        var inverse = [Float](repeating: 0, count: units)
        for (i, l) in order.enumerated() { inverse[l] = Float(i) }
        return try cat.indexSelect(1, Tensor(inverse))
    }

    /// The groups of a unit-ordered [B, N] batch (inverse of `assemble`).
    public func disassemble(_ z: Tensor, grouping name: String = "bipartite") throws -> [Tensor] {
        let gs = try groups(name)
        guard z.rank == 2, z.shape[1] == units else {
            throw ModelError("prior disassemble: expected [batch, \(units)], got \(z.shape)")
        }
        let order = gs.flatMap { $0 }
        let ordered = order == Array(0..<units) ? z : try z.indexSelect(1, Tensor(order.map { Float($0) }))
        return try ordered.split(sizes: gs.map(\.count), dim: 1)
    }
}
