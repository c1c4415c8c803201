import Runtime

extension Graph {
    /// Chimera C(m, n, t) with dwave_networkx's conventions: node (i, j, u, k)
    /// — cell row i < m, cell column j < n, shore u (0 vertical, 1
    /// horizontal), index k < t — has linear index ((i·n + j)·2 + u)·t + k.
    /// Couplers: inside a cell every (u=0, k) to every (u=1, k'); vertical
    /// qubits to the same k in the next row; horizontal ones to the same k in
    /// the next column. Independent sets: the checkerboard (i + j + u) mod 2
    /// (dwave_networkx.chimera_two_color). Groupings: "bipartite" = those
    /// two sides, "chains" = the shores (u = 0 vertical, u = 1 horizontal).
    public static func chimera(m: Int, n: Int? = nil, t: Int = 4) throws -> Graph {
        let n = n ?? m
        try require(m >= 1 && n >= 1 && t >= 1, "chimera: m, n, t must be >= 1 (got \(m), \(n), \(t))")
        try require(m * n * 2 * t <= 10_000_000, "chimera: graph too large")
        func idx(_ i: Int, _ j: Int, _ u: Int, _ k: Int) -> Int { ((i * n + j) * 2 + u) * t + k }
        var edges: [Edge] = []
        var coords: [[Int]] = []
        for i in 0..<m { for j in 0..<n { for u in 0..<2 { for k in 0..<t { coords.append([i, j, u, k]) } } } }
        for i in 0..<m {
            for j in 0..<n {
                for k in 0..<t { for k2 in 0..<t { edges.append(Edge(idx(i, j, 0, k), idx(i, j, 1, k2))) } }
                if i + 1 < m { for k in 0..<t { edges.append(Edge(idx(i, j, 0, k), idx(i + 1, j, 0, k))) } }
                if j + 1 < n { for k in 0..<t { edges.append(Edge(idx(i, j, 1, k), idx(i, j + 1, 1, k))) } }
            }
        }
        edges.sort()
        let count = m * n * 2 * t
        var sides: [[Int]] = [[], []], shores: [[Int]] = [[], []]
        for l in 0..<count {
            let c = coords[l]
            sides[(c[0] ^ c[1] ^ c[2]) & 1].append(l)
            shores[c[2]].append(l)
        }
        return try Graph(validated: count, edges, name: "chimera(\(m),\(n),\(t))", family: "chimera",
                         independentSets: sides, groupings: ["bipartite": sides, "chains": shores],
                         coordinates: coords, shape: ["m": m, "n": n, "t": t], isActive: nil)
    }

    /// Pegasus P(m), all nodes (dwave_networkx pegasus_graph(m,
    /// fabric_only=False), offsets_index 0): 24 m (m − 1) nodes; node
    /// (u, w, k, z) has linear index ((u·m + w)·12 + k)·(m − 1) + z.
    /// Independent sets: dwave_networkx.pegasus_four_color, colour
    /// 2u + ((k ⊕ z) & 1) (4 sets of 6 m (m − 1), i.e. 72 at P(4)).
    /// Groupings: "chains" = orientation u (vertical vs horizontal qubits);
    /// "bipartite" = colour parity (k ⊕ z) & 1 (Pegasus is not bipartite:
    /// both halves keep internal couplers).
    public static func pegasus(m: Int) throws -> Graph {
        try require(m >= 2, "pegasus: m must be >= 2 (got \(m))")
        try require(m <= 100, "pegasus: m too large")
        let m1 = m - 1
        func idx(_ u: Int, _ w: Int, _ k: Int, _ z: Int) -> Int { ((u * m + w) * 12 + k) * m1 + z }
        let off0 = [2, 2, 2, 2, 10, 10, 10, 10, 6, 6, 6, 6]
        let off1 = [6, 6, 6, 6, 2, 2, 2, 2, 10, 10, 10, 10]
        var set = Set<Edge>()
        for u in 0..<2 { for w in 0..<m { for k in 0..<12 { for z in 0..<(m1 - 1) {
            set.insert(Edge(idx(u, w, k, z), idx(u, w, k, z + 1)))          // external
        } } } }
        for u in 0..<2 { for w in 0..<m { for k in stride(from: 0, to: 12, by: 2) { for z in 0..<m1 {
            set.insert(Edge(idx(u, w, k, z), idx(u, w, k + 1, z)))          // odd
        } } } }
        for w in 0..<m {                                                     // internal
            for kk in 0..<12 {
                let lo = w > 0 ? 0 : off1[kk], hi = w < m1 ? 12 : off1[kk]
                guard lo < hi else { continue }
                for k in lo..<hi {
                    for z in 0..<m1 {
                        let a = idx(0, w, k, z)
                        let b = idx(1, z + (kk < off0[k] ? 1 : 0), kk, w - (k < off1[kk] ? 1 : 0))
                        set.insert(Edge(a, b))
                    }
                }
            }
        }
        let count = 24 * m * m1
        var coords = [[Int]](repeating: [], count: count)
        var colours: [[Int]] = [[], [], [], []], parity: [[Int]] = [[], []], orient: [[Int]] = [[], []]
        for u in 0..<2 { for w in 0..<m { for k in 0..<12 { for z in 0..<m1 {
            let l = idx(u, w, k, z)
            coords[l] = [u, w, k, z]
        } } } }
        for l in 0..<count {
            let c = coords[l]
            colours[2 * c[0] + ((c[2] ^ c[3]) & 1)].append(l)
            parity[(c[2] ^ c[3]) & 1].append(l)
            orient[c[0]].append(l)
        }
        return try Graph(validated: count, set.sorted(), name: "pegasus(\(m))", family: "pegasus",
                         independentSets: colours, groupings: ["bipartite": parity, "chains": orient],
                         coordinates: coords, shape: ["m": m], isActive: nil)
    }

    /// Complete bipartite K(a, b): nodes 0..<a on one side, a..<a+b on the
    /// other (the "full" RBM prior). Groupings "bipartite" = the two sides.
    public static func fullBipartite(_ a: Int, _ b: Int) throws -> Graph {
        try require(a >= 1 && b >= 1, "fullBipartite: sides must be >= 1 (got \(a), \(b))")
        try require(a * b <= 50_000_000, "fullBipartite: graph too large")
        var edges: [Edge] = []
        edges.reserveCapacity(a * b)
        for i in 0..<a { for j in 0..<b { edges.append(Edge(i, a + j)) } }
        let sides = [Array(0..<a), Array(a..<(a + b))]
        return try Graph(validated: a + b, edges, name: "bipartite(\(a),\(b))", family: "bipartite",
                         independentSets: sides, groupings: ["bipartite": sides],
                         coordinates: [], shape: ["a": a, "b": b], isActive: nil)
    }

    /// The complete graph K(n). Independent sets are single nodes
    /// (sequential Gibbs); "bipartite" = first half vs second half.
    public static func complete(_ n: Int) throws -> Graph {
        try require(n >= 1, "complete: n must be >= 1 (got \(n))")
        try require(n <= 10_000, "complete: graph too large")
        var edges: [Edge] = []
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { edges.append(Edge(i, j)) } }
        let half = [Array(0..<(n / 2)), Array((n / 2)..<n)].filter { !$0.isEmpty }
        return try Graph(validated: n, edges, name: "complete(\(n))", family: "complete",
                         independentSets: (0..<n).map { [$0] }, groupings: ["bipartite": half],
                         coordinates: [], shape: ["n": n], isActive: nil)
    }

    /// No couplers ("Bernoulli" prior): one independent set.
    public static func bernoulli(_ n: Int) throws -> Graph {
        try require(n >= 1 && n <= Graph.maxNodes, "bernoulli: n must be in 1...\(Graph.maxNodes) (got \(n))")
        let half = [Array(0..<(n / 2)), Array((n / 2)..<n)].filter { !$0.isEmpty }
        return try Graph(validated: n, [], name: "bernoulli(\(n))", family: "bernoulli",
                         independentSets: [Array(0..<n)], groupings: ["bipartite": half],
                         coordinates: [], shape: ["n": n], isActive: nil)
    }
}
