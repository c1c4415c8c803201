import Foundation
import Runtime

/// How the posterior's hierarchical groups map onto the prior's units:
/// group g (sampled g-th, conditioned on the groups before it) holds the
/// units `groups[g]`, in that order. Built from a graph's named grouping
/// ("bipartite": the two sides of the bipartition, "chains": Chimera's
/// shores) or from explicit lists that partition 0..<N.
public struct LatentGrouping {
    /// "bipartite", "chains", another grouping name of the graph, or "custom".
    public let name: String
    public let groups: [[Int]]
    public let units: Int
    /// position of unit u in the concatenation groups[0] ++ groups[1] ++ ...
    let unitToPosition: [Int]
    let isIdentity: Bool
    let positions: Tensor

    public var sizes: [Int] { groups.map(\.count) }

    public init(name: String = "custom", groups: [[Int]], units: Int) throws {
        try require(!groups.isEmpty && groups.allSatisfy({ !$0.isEmpty }), field: "grouping", "every group must be non-empty")
        var pos = [Int](repeating: -1, count: units)
        var k = 0
        for g in groups {
            for u in g {
                try require(u >= 0 && u < units, field: "grouping", "unit \(u) outside 0..<\(units)")
                try require(pos[u] < 0, field: "grouping", "unit \(u) is in two groups")
                pos[u] = k; k += 1
            }
        }
        try require(k == units, field: "grouping", "the groups cover \(k) of \(units) units")
        self.name = name; self.groups = groups; self.units = units
        unitToPosition = pos
        isIdentity = pos.enumerated().allSatisfy { $0.offset == $0.element }
        positions = Tensor(pos.map(Float.init))
    }

    /// The default grouping of `graph`: "chains" where the graph has it (the
    /// paper's better mapping), else "bipartite".
    public init(defaultFor graph: Graph) throws {
        try self.init(graph: graph, name: graph.groupings["chains"] != nil ? "chains" : "bipartite")
    }

    /// The graph's grouping `name` (e.g. "bipartite", "chains").
    public init(graph: Graph, name: String) throws {
        guard let g = graph.groupings[name] else {
            throw ModelError(field: "grouping", "\(graph.name) has no grouping \"\(name)\" (it has \(graph.groupings.keys.sorted().joined(separator: ", ")))")
        }
        try self.init(name: name, groups: g, units: graph.nodeCount)
    }

    /// Latents in group order [R, N] (groups concatenated) → unit order.
    public func toUnits(_ grouped: Tensor) throws -> Tensor {
        isIdentity ? grouped : try grouped.indexSelect(1, positions)
    }

    /// Latents in unit order [R, N] → the per-group pieces.
    public func fromUnits(_ z: Tensor) throws -> [Tensor] {
        try groups.map { try z.indexSelect(1, Tensor($0.map(Float.init))) }
    }

    /// A compact text form: a grouping name, or "custom:0,1,2;3,4,5".
    public var descriptionString: String {
        name != "custom" ? name : "custom:" + groups.map { $0.map(String.init).joined(separator: ",") }.joined(separator: ";")
    }

    /// Parses `descriptionString` against `graph`.
    public init(parsing s: String, graph: Graph) throws {
        if s.hasPrefix("custom:") {
            let groups = try s.dropFirst(7).split(separator: ";").map { part in
                try part.split(separator: ",").map { t -> Int in
                    guard let v = Int(t.trimmingCharacters(in: .whitespaces)) else { throw ModelError(field: "grouping", "bad unit index '\(t)'") }
                    return v
                }
            }
            try self.init(name: "custom", groups: groups, units: graph.nodeCount)
        } else {
            try self.init(graph: graph, name: s)
        }
    }
}
