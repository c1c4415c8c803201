import Runtime

/// An undirected edge between two distinct nodes, stored with `u < v`.
public struct Edge: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let u: Int
    public let v: Int
    /// Makes an edge; the endpoints are ordered so that `u < v`.
    public init(_ a: Int, _ b: Int) { u = min(a, b); v = max(a, b) }
    public static func < (a: Edge, b: Edge) -> Bool { a.u != b.u ? a.u < b.u : a.v < b.v }
    public var description: String { "(\(u), \(v))" }
}

/// The connectivity of a Boltzmann machine: nodes `0..<nodeCount` (unit l is
/// node l), edges sorted by (u, v) — the order of `BoltzmannMachine.weights` —,
/// a partition of the nodes into independent sets (block Gibbs blocks) and
/// named node groupings.
///
/// For Chimera and Pegasus, node indices are dwave_networkx's linear
/// indices and `coordinates[l]` are its (i, j, u, k) / (u, w, k, z)
/// coordinates. A working-graph mask (`masked`) keeps the node indexing and
/// removes dead qubits' couplers: dead units stay in the model as
/// uncoupled units (`isActive[l] == false`).
public struct Graph: Sendable, CustomStringConvertible {
    /// "chimera", "pegasus", "bipartite", "complete", "bernoulli", "edgelist".
    public let family: String
    /// A readable name such as "chimera(6,6,4)".
    public let name: String
    public let nodeCount: Int
    /// Sorted, unique, u < v. The graph's edge order.
    public let edges: [Edge]
    /// Disjoint independent sets covering all nodes, each sorted.
    public let independentSets: [[Int]]
    /// Named node groupings, e.g. "bipartite" and "chains" (each a list of
    /// disjoint sorted node lists covering all nodes).
    public let groupings: [String: [[Int]]]
    /// Per-node coordinates (Chimera (i,j,u,k), Pegasus (u,w,k,z)), or empty.
    public let coordinates: [[Int]]
    /// Shape parameters, e.g. ["m": 6, "n": 6, "t": 4].
    public let shape: [String: Int]
    /// false for dead qubits of a working-graph mask.
    public let isActive: [Bool]

    // CSR adjacency: neighbours of l are neighbors[rowStart[l] ..< rowStart[l+1]]
    // (sorted), with the index of the joining edge in neighborEdge.
    public let rowStart: [Int32]
    public let neighbors: [Int32]
    public let neighborEdge: [Int32]

    public var edgeCount: Int { edges.count }
    public var description: String { "\(name): \(nodeCount) nodes, \(edges.count) edges, \(independentSets.count) independent sets" }

    /// Builds a graph from node count and edge list. Throws on out-of-range
    /// nodes, self-loops and duplicate edges. When `independentSets` is nil,
    /// a colouring is computed (DSatur); given sets are checked.
    /// The most nodes a graph may have (16,777,216: four orders of magnitude
    /// beyond any annealer's); per-node tables are sized by the node count,
    /// so a file that declares more is refused before anything is allocated.
    public static let maxNodes = 1 << 24

    public init(nodeCount: Int, edges: [(Int, Int)], name: String? = nil, family: String = "edgelist",
                independentSets: [[Int]]? = nil, groupings: [String: [[Int]]] = [:],
                coordinates: [[Int]] = [], shape: [String: Int] = [:], isActive: [Bool]? = nil) throws {
        try require(nodeCount >= 0, "graph: node count must be >= 0, got \(nodeCount)")
        try require(nodeCount <= Graph.maxNodes, "graph: at most \(Graph.maxNodes) nodes, got \(nodeCount)")
        var list: [Edge] = []
        list.reserveCapacity(edges.count)
        for (a, b) in edges {
            try require(a >= 0 && a < nodeCount && b >= 0 && b < nodeCount,
                        "graph: edge (\(a), \(b)) has a node outside 0..<\(nodeCount)")
            try require(a != b, "graph: self-loop on node \(a)")
            list.append(Edge(a, b))
        }
        list.sort()
        for i in 1..<max(1, list.count) where list[i] == list[i - 1] {
            throw ModelError("graph: duplicate edge \(list[i])")
        }
        try self.init(validated: nodeCount, list, name: name ?? "graph(\(nodeCount))", family: family,
                      independentSets: independentSets, groupings: groupings,
                      coordinates: coordinates, shape: shape, isActive: isActive)
    }

    init(validated n: Int, _ list: [Edge], name: String, family: String,
         independentSets: [[Int]]?, groupings: [String: [[Int]]],
         coordinates: [[Int]], shape: [String: Int], isActive: [Bool]?) throws {
        try require(n >= 0 && n <= Graph.maxNodes, "graph: at most \(Graph.maxNodes) nodes, got \(n)")
        self.nodeCount = n
        self.edges = list
        self.name = name
        self.family = family
        self.coordinates = coordinates
        self.shape = shape
        self.isActive = isActive ?? [Bool](repeating: true, count: n)
        try require(self.isActive.count == n, "graph: isActive has \(self.isActive.count) entries, expected \(n)")
        try require(coordinates.isEmpty || coordinates.count == n, "graph: coordinates count mismatch")
        // CSR
        var degree = [Int32](repeating: 0, count: n + 1)
        for e in list { degree[e.u] += 1; degree[e.v] += 1 }
        var start = [Int32](repeating: 0, count: n + 1)
        for l in 0..<n { start[l + 1] = start[l] + degree[l] }
        var fill = start
        var nbr = [Int32](repeating: 0, count: 2 * list.count)
        var nedge = [Int32](repeating: 0, count: 2 * list.count)
        for (i, e) in list.enumerated() {
            nbr[Int(fill[e.u])] = Int32(e.v); nedge[Int(fill[e.u])] = Int32(i); fill[e.u] += 1
            nbr[Int(fill[e.v])] = Int32(e.u); nedge[Int(fill[e.v])] = Int32(i); fill[e.v] += 1
        }
        // Sort each row by neighbour index.
        for l in 0..<n {
            let r = Int(start[l])..<Int(start[l + 1])
            let pairs = r.map { (nbr[$0], nedge[$0]) }.sorted { $0.0 < $1.0 }
            for (k, p) in zip(r, pairs) { nbr[k] = p.0; nedge[k] = p.1 }
        }
        self.rowStart = start
        self.neighbors = nbr
        self.neighborEdge = nedge
        let sets = independentSets ?? Graph.colouring(n: n, rowStart: start, neighbors: nbr)
        self.independentSets = sets.map { $0.sorted() }.filter { !$0.isEmpty }
        var groups = groupings
        if groups["bipartite"] == nil {
            groups["bipartite"] = Graph.twoSides(n: n, sets: self.independentSets)
        }
        self.groupings = groups
        try validatePartition(self.independentSets, what: "independent sets")
        for (k, g) in self.groupings { try validatePartition(g, what: "grouping \"\(k)\"") }
        try require(isIndependent(), "graph: the given sets are not independent")
    }

    private func validatePartition(_ sets: [[Int]], what: String) throws {
        var seen = [Bool](repeating: false, count: nodeCount)
        for s in sets {
            for l in s {
                try require(l >= 0 && l < nodeCount, "graph: \(what) name node \(l) outside 0..<\(nodeCount)")
                try require(!seen[l], "graph: node \(l) appears twice in \(what)")
                seen[l] = true
            }
        }
        try require(!seen.contains(false), "graph: \(what) do not cover every node")
    }

    /// Whether every independent set has no internal edge.
    public func isIndependent() -> Bool {
        var colour = [Int](repeating: -1, count: nodeCount)
        for (c, s) in independentSets.enumerated() { for l in s { colour[l] = c } }
        return edges.allSatisfy { colour[$0.u] != colour[$0.v] }
    }

    /// Neighbours of node l.
    public func neighbors(of l: Int) -> [Int] {
        (Int(rowStart[l])..<Int(rowStart[l + 1])).map { Int(neighbors[$0]) }
    }

    public func degree(of l: Int) -> Int { Int(rowStart[l + 1] - rowStart[l]) }

    /// Index of edge (a, b) in `edges`, or nil.
    public func edgeIndex(_ a: Int, _ b: Int) -> Int? {
        guard a >= 0, a < nodeCount, b >= 0, b < nodeCount else { return nil }
        for k in Int(rowStart[a])..<Int(rowStart[a + 1]) where Int(neighbors[k]) == b { return Int(neighborEdge[k]) }
        return nil
    }

    /// Edge density 2E / (N (N-1)).
    public var density: Double {
        nodeCount < 2 ? 0 : 2 * Double(edges.count) / (Double(nodeCount) * Double(nodeCount - 1))
    }

    /// DSatur greedy colouring; returns colour classes.
    static func colouring(n: Int, rowStart: [Int32], neighbors: [Int32]) -> [[Int]] {
        if n == 0 { return [] }
        var colour = [Int](repeating: -1, count: n)
        var satSets = [Set<Int>](repeating: [], count: n)
        var maxColour = -1
        for _ in 0..<n {
            var best = -1
            for l in 0..<n where colour[l] < 0 {
                if best < 0 || satSets[l].count > satSets[best].count ||
                    (satSets[l].count == satSets[best].count &&
                     rowStart[l + 1] - rowStart[l] > rowStart[best + 1] - rowStart[best]) { best = l }
            }
            var c = 0
            while satSets[best].contains(c) { c += 1 }
            colour[best] = c
            maxColour = max(maxColour, c)
            for k in Int(rowStart[best])..<Int(rowStart[best + 1]) { satSets[Int(neighbors[k])].insert(c) }
        }
        var sets = [[Int]](repeating: [], count: maxColour + 1)
        for l in 0..<n { sets[colour[l]].append(l) }
        return sets
    }

    /// Two sides: the two colour classes of a bipartite colouring, otherwise
    /// the even-indexed colour classes against the odd-indexed ones.
    static func twoSides(n: Int, sets: [[Int]]) -> [[Int]] {
        var a: [Int] = [], b: [Int] = []
        for (i, s) in sets.enumerated() { if i % 2 == 0 { a += s } else { b += s } }
        return [a.sorted(), b.sorted()].filter { !$0.isEmpty }
    }

    /// The working graph: the same nodes (indexing unchanged) without the
    /// given dead qubits' couplers and without the dead couplers. Dead nodes
    /// become uncoupled units with `isActive == false`.
    public func masked(deadNodes: [Int] = [], deadEdges: [(Int, Int)] = []) throws -> Graph {
        var active = isActive
        for l in deadNodes {
            try require(l >= 0 && l < nodeCount, "mask: dead node \(l) outside 0..<\(nodeCount)")
            active[l] = false
        }
        var dead = Set<Edge>()
        for (a, b) in deadEdges {
            try require(edgeIndex(a, b) != nil, "mask: (\(a), \(b)) is not an edge of \(name)")
            dead.insert(Edge(a, b))
        }
        let kept = edges.filter { active[$0.u] && active[$0.v] && !dead.contains($0) }
        return try Graph(validated: nodeCount, kept, name: name + " (working graph)", family: family,
                         independentSets: independentSets, groupings: groupings,
                         coordinates: coordinates, shape: shape, isActive: active)
    }

    /// The subgraph induced by `nodes`, relabelled 0..<nodes.count in the
    /// given order; independent sets, groupings and coordinates are
    /// restricted to it.
    public func induced(nodes: [Int]) throws -> Graph {
        var index = [Int](repeating: -1, count: nodeCount)
        for (i, l) in nodes.enumerated() {
            try require(l >= 0 && l < nodeCount, "induced: node \(l) outside 0..<\(nodeCount)")
            try require(index[l] < 0, "induced: node \(l) listed twice")
            index[l] = i
        }
        let kept = edges.compactMap { e -> Edge? in
            index[e.u] >= 0 && index[e.v] >= 0 ? Edge(index[e.u], index[e.v]) : nil
        }.sorted()
        func restrict(_ sets: [[Int]]) -> [[Int]] { sets.map { $0.compactMap { index[$0] >= 0 ? index[$0] : nil } }.filter { !$0.isEmpty } }
        return try Graph(validated: nodes.count, kept, name: "\(name)[\(nodes.count) nodes]", family: family,
                         independentSets: restrict(independentSets), groupings: groupings.mapValues(restrict),
                         coordinates: coordinates.isEmpty ? [] : nodes.map { coordinates[$0] },
                         shape: shape, isActive: nodes.map { isActive[$0] })
    }

    /// Indices (into this graph's edge order) of `sub`'s edges, for mapping
    /// weights between a graph and its working graph.
    public func edgeIndices(of sub: Graph) throws -> [Int] {
        try sub.edges.map { e in
            guard let i = edgeIndex(e.u, e.v) else { throw ModelError("graph: edge \(e) is not in \(name)") }
            return i
        }
    }
}
