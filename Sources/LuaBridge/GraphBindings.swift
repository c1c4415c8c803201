import CLua
import Model
import Runtime
#if canImport(Glibc)
import Glibc
#endif

// Graphs in Lua (`qv.graph`, `qv.Graph`).
//
// Lua is 1-based: nodes are 1..N everywhere in Lua (edge lists, neighbours,
// independent sets, groupings, masks), node l in Lua is node l − 1 of the
// Model (and of dwave_networkx). Edge-list *files* (`qv.graph.load`,
// `g:save`) keep the Model's 0-based format, as do Chimera/Pegasus
// coordinates, which are D-Wave's coordinate values rather than indices.

/// A graph owned by Lua.
final class GraphBox {
    let graph: Graph
    init(_ g: Graph) { graph = g }

    /// "Chimera C(6,6,4)", "Pegasus P(4)", "Bipartite K(4,4)", ...
    var displayName: String { GraphBox.displayName(graph) }

    static func displayName(_ g: Graph) -> String {
        let s = g.shape
        var base: String
        switch g.family {
        case "chimera": base = "Chimera C(\(s["m"] ?? 0),\(s["n"] ?? 0),\(s["t"] ?? 0))"
        case "pegasus": base = "Pegasus P(\(s["m"] ?? 0))"
        case "bipartite": base = "Bipartite K(\(s["a"] ?? 0),\(s["b"] ?? 0))"
        case "complete": base = "Complete K(\(s["n"] ?? 0))"
        case "bernoulli": base = "Bernoulli(\(s["n"] ?? 0))"
        default:
            base = g.name.hasSuffix(" (working graph)") ? String(g.name.dropLast(16)) : g.name
        }
        if g.name.hasSuffix("(working graph)") || g.isActive.contains(false) {
            let dead = g.isActive.filter { !$0 }.count
            base += dead > 0 ? " working graph (\(dead) dead node\(dead == 1 ? "" : "s"))" : " working graph"
        }
        return base
    }

    var summary: String {
        let k = graph.independentSets.count
        return "\(displayName): \(graph.nodeCount) nodes, \(graph.edgeCount) edges, \(k) independent set\(k == 1 ? "" : "s")"
    }
}

// MARK: numeric data from Lua

/// Lua data as Float arrays: Lua tables (a sequence of numbers, or a
/// sequence of equally long sequences) and objects of classes that
/// register an adapter (so a `qv.Tensor`, or anything else, can be passed
/// wherever these bindings take numbers):
///
///     LuaArrays.register(TensorBox.self) { t in (t.tensor.shape, t.tensor.floats) }
public enum LuaArrays {
    public typealias Adapter = (AnyObject) throws -> (shape: [Int], values: [Float])?
    nonisolated(unsafe) static var adapters: [ObjectIdentifier: Adapter] = [:]

    /// Lets objects of type T be read as numbers (shape and row-major values).
    public static func register<T: AnyObject>(_ type: T.Type, _ read: @escaping (T) throws -> (shape: [Int], values: [Float])) {
        adapters[ObjectIdentifier(type)] = { o in try (o as? T).map(read) }
    }

    /// A failed conversion: the detail goes into the caller's message.
    struct Bad: Error { let detail: String }

    /// Shape and values of a Lua value.
    static func read(_ v: LuaValue, state: LuaState) throws -> (shape: [Int], values: [Float]) {
        switch v {
        case .ref(let r) where r.typeName == "table":
            let L = state.currentL
            let top = lua_gettop(L)
            defer { lua_settop(L, top) }
            guard lua_checkstack(L, 4) != 0 else { throw Bad(detail: "stack overflow") }
            r.push(L)
            return try readTable(L, lua_gettop(L), state: state)
        case .object(let o):
            if let s = o as? SamplesBox { return ([s.set.count, s.set.units], s.set.samples) }
            for a in adapters.values { if let r = try a(o) { return r } }
            throw Bad(detail: "expected a table of numbers, got \(state.luaTypeName(of: type(of: o)))")
        case .int, .number:
            return ([], [Float(v.doubleValue!)])
        default:
            throw Bad(detail: "expected a table of numbers, got \(v.typeName)")
        }
    }

    /// A sequence of numbers ([n]) or a sequence of sequences ([rows, cols]).
    static func readTable(_ L: OpaquePointer, _ idx: Int32, state: LuaState) throws -> (shape: [Int], values: [Float]) {
        let n = Int(lua_rawlen(L, idx))
        if n == 0 { return ([0], []) }
        let firstType = lua_rawgeti(L, idx, 1)
        lua_settop(L, -2)
        var values: [Float] = []
        if firstType == LUA_TTABLE {
            var cols = -1
            for r in 1...n {
                guard lua_rawgeti(L, idx, lua_Integer(r)) == LUA_TTABLE else {
                    let t = state.typeName(at: -1, L)
                    lua_settop(L, -2)
                    throw Bad(detail: "row \(r) is a \(t), expected a table of numbers")
                }
                let m = Int(lua_rawlen(L, -1))
                if cols < 0 { cols = m; values.reserveCapacity(n * m) }
                guard m == cols else {
                    lua_settop(L, -2)
                    throw Bad(detail: "row \(r) has \(m) values, row 1 has \(cols)")
                }
                for c in 0..<m {
                    let t = lua_rawgeti(L, -1, lua_Integer(c + 1))
                    guard t == LUA_TNUMBER else {
                        let tn = state.typeName(at: -1, L)
                        lua_settop(L, -3)
                        throw Bad(detail: "row \(r), value \(c + 1): expected number, got \(tn)")
                    }
                    values.append(Float(lua_tonumberx(L, -1, nil)))
                    lua_settop(L, -2)
                }
                lua_settop(L, -2)
            }
            return ([n, max(cols, 0)], values)
        }
        values.reserveCapacity(n)
        for k in 1...n {
            let t = lua_rawgeti(L, idx, lua_Integer(k))
            guard t == LUA_TNUMBER else {
                let tn = state.typeName(at: -1, L)
                lua_settop(L, -2)
                throw Bad(detail: "value \(k): expected number, got \(tn)")
            }
            values.append(Float(lua_tonumberx(L, -1, nil)))
            lua_settop(L, -2)
        }
        return ([n], values)
    }

    /// A vector of exactly `count` finite values (a number fills it).
    static func vector(_ v: LuaValue, count: Int, what: String, state: LuaState) throws -> [Float] {
        let (shape, values) = try read(v, state: state)
        if shape.isEmpty { return [Float](repeating: values[0], count: count) }
        guard shape.count == 1 || (shape.count == 2 && (shape[0] == 1 || shape[1] == 1)) else {
            throw Bad(detail: "expected \(count) numbers (one per \(what)), got a table of shape \(shape)")
        }
        guard values.count == count else {
            throw Bad(detail: "expected \(count) numbers (one per \(what)), got \(values.count)")
        }
        if let k = values.firstIndex(where: { !$0.isFinite }) {
            throw Bad(detail: "value \(k + 1) is not finite")
        }
        return values
    }

    /// Rows of `units` values: a table of rows, one row (a flat table), a
    /// `qv.Samples`. `single` tells whether a single flat row was given.
    static func rows(_ v: LuaValue, units: Int, state: LuaState) throws -> (values: [Float], rows: Int, single: Bool) {
        let (shape, values) = try read(v, state: state)
        switch shape.count {
        case 1 where shape[0] == units:
            return (values, 1, true)
        case 1 where shape[0] == 0:
            return ([], 0, false)
        case 2 where shape[1] == units || shape[0] == 0:
            return (values, shape[0], false)
        case 2:
            throw Bad(detail: "rows have \(shape[1]) values, the machine has \(units) units")
        default:
            throw Bad(detail: "expected \(units) values (one configuration) or a table of such rows, got \(shape.isEmpty ? "a number" : "\(shape[0]) values")")
        }
    }
}

extension Arguments {
    /// An error about option `key`, formatted as the Options helpers do.
    func optionError(_ key: String, _ detail: String) -> ArgumentError {
        ArgumentError("bad option '\(key)' to '\(function)' (\(detail))")
    }

    /// Runs a conversion, turning `LuaArrays.Bad` into an error about argument i.
    func converting<T>(_ i: Int, _ name: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let b as LuaArrays.Bad { throw argumentError(i, name, b.detail) }
    }

    /// Runs a conversion, turning `LuaArrays.Bad` into an error about option `key`.
    func convertingOption<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let b as LuaArrays.Bad { throw optionError(key, b.detail) }
    }

    /// A 1-based node argument, returned 0-based.
    func node(_ i: Int, _ name: String, in g: Graph) throws -> Int {
        let l = try int(i, name)
        guard l >= 1, l <= g.nodeCount else {
            throw argumentError(i, name, "node \(l) outside 1..\(g.nodeCount)")
        }
        return l - 1
    }
}

/// 1-based {u, v} pairs from a Lua value (a table of pairs), returned 0-based.
func readEdgePairs(_ v: LuaValue, nodes: Int, state: LuaState) throws -> [(Int, Int)] {
    let (shape, values) = try LuaArrays.read(v, state: state)
    if shape == [0] { return [] }
    guard shape.count == 2, shape[1] == 2 else {
        throw LuaArrays.Bad(detail: "expected a table of {u, v} pairs")
    }
    var out: [(Int, Int)] = []
    out.reserveCapacity(shape[0])
    for k in 0..<shape[0] {
        let a = values[2 * k], b = values[2 * k + 1]
        guard a == a.rounded(), b == b.rounded() else {
            throw LuaArrays.Bad(detail: "edge \(k + 1): node numbers must be integers")
        }
        let u = Int(a), w = Int(b)
        guard u >= 1, u <= nodes, w >= 1, w <= nodes else {
            throw LuaArrays.Bad(detail: "edge \(k + 1) {\(u), \(w)}: node outside 1..\(nodes)")
        }
        out.append((u - 1, w - 1))
    }
    return out
}

/// 1-based node lists as a Lua table.
func nodeLists(_ sets: [[Int]]) -> LuaValue { .array(sets.map { .ints($0.map { $0 + 1 }) }) }

/// printf-style formatting of one number ("%.4g").
func fmtNum(_ x: Double, _ spec: String = "%.6g") -> String {
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, 64, spec, $0) }
    return String(cString: buf)
}

// MARK: the class and the module

let graphClass = LuaClass<GraphBox>("qv.Graph", doc: """
    qv.Graph — the connectivity of a Boltzmann machine (qv.graph.chimera, ...).
    Nodes are numbered 1..#g in Lua (node l is dwave_networkx's linear index l-1);
    edges are sorted pairs {u, v} with u < v, in the order of a machine's weights.
    """)
    .extraBytes { g in MemoryFootprint.bytes(g.graph) }
    .property("nodes", doc: "number of nodes (also #g)") { b in .int(b.graph.nodeCount) }
    .property("edges", doc: "number of edges (g:edge_list() lists them)") { b in .int(b.graph.edgeCount) }
    .property("name", doc: "readable name, e.g. \"Chimera C(6,6,4)\"") { b in .string(b.displayName) }
    .property("family", doc: "\"chimera\", \"pegasus\", \"bipartite\", \"complete\", \"bernoulli\" or \"edgelist\"") { b in
        .string(b.graph.family)
    }
    .property("shape", doc: "shape parameters, e.g. {m = 6, n = 6, t = 4}") { b in
        .table(b.graph.shape.mapValues { .int($0) })
    }
    .property("density", doc: "edge density 2E / (N (N - 1))") { b in .number(b.graph.density) }
    .property("groupings", doc: "names of the node groupings (for g:grouping)") { b in
        .strings(b.graph.groupings.keys.sorted())
    }
    .len { b in .int(b.graph.nodeCount) }
    .method("edge_list", doc: """
        g:edge_list() -> {{u, v}, ...}
        Every edge as a 1-based pair {u, v} (u < v), in the graph's edge order: edge k
        carries weight k of a machine on this graph.
        """) { b, args in
        try args.expectAtMost(0)
        return .array(b.graph.edges.map { .ints([$0.u + 1, $0.v + 1]) })
    }
    .method("neighbors", doc: "g:neighbors(i) -> {j, ...}\nThe neighbours of node i (1-based), sorted.") { b, args in
        try args.expectAtMost(1)
        let l = try args.node(1, "i", in: b.graph)
        return .ints(b.graph.neighbors(of: l).map { $0 + 1 })
    }
    .method("degree", doc: "g:degree(i) -> number\nThe number of neighbours of node i (1-based).") { b, args in
        try args.expectAtMost(1)
        return .int(b.graph.degree(of: try args.node(1, "i", in: b.graph)))
    }
    .method("edge_index", doc: """
        g:edge_index(u, v) -> k or nil
        The position of edge {u, v} (1-based nodes, either order) in the edge order
        (so bm.weights[k] is its weight), or nil when u and v are not adjacent.
        """) { b, args in
        try args.expectAtMost(2)
        let u = try args.node(1, "u", in: b.graph), v = try args.node(2, "v", in: b.graph)
        return b.graph.edgeIndex(u, v).map { .int($0 + 1) } ?? .nil
    }
    .method("has_edge", doc: "g:has_edge(u, v) -> boolean\nWhether nodes u and v (1-based) are coupled.") { b, args in
        try args.expectAtMost(2)
        let u = try args.node(1, "u", in: b.graph), v = try args.node(2, "v", in: b.graph)
        return .bool(b.graph.edgeIndex(u, v) != nil)
    }
    .method("independent_sets", doc: """
        g:independent_sets() -> {{i, ...}, ...}
        The partition of the nodes into independent sets (no edge inside a set) that
        block Gibbs updates: Chimera's two checkerboard colours, Pegasus's four colours,
        a DSatur colouring for edge lists. 1-based node numbers.
        """) { b, args in
        try args.expectAtMost(0)
        return nodeLists(b.graph.independentSets)
    }
    .method("grouping", doc: """
        g:grouping(name) -> {{i, ...}, ...}
        A named partition of the nodes (1-based): "bipartite" (two sides) on every graph,
        "chains" on Chimera (the vertical and horizontal shores) and Pegasus
        (orientations). g.groupings lists the names.
        """) { b, args in
        try args.expectAtMost(1)
        let names = b.graph.groupings.keys.sorted()
        let name = try args.choice(1, "name", names)
        return nodeLists(b.graph.groupings[name]!)
    }
    .method("coordinates", doc: """
        g:coordinates(i) -> {i, j, u, k} (Chimera) or {u, w, k, z} (Pegasus)
        D-Wave's coordinates of node i (1-based). The coordinates are dwave_networkx's
        values (0-based), not Lua indices.
        """) { b, args in
        try args.expectAtMost(1)
        let l = try args.node(1, "i", in: b.graph)
        guard !b.graph.coordinates.isEmpty else {
            throw args.error("\(b.displayName) has no coordinates (only Chimera and Pegasus do)")
        }
        return .ints(b.graph.coordinates[l])
    }
    .method("node", doc: """
        g:node(i, j, u, k) or g:node{i, j, u, k} -> node
        The node (1-based) at D-Wave coordinates (Chimera (i, j, u, k), Pegasus
        (u, w, k, z)); the inverse of g:coordinates. nil when there is no such node.
        """) { b, args in
        let c = try args.intList(from: 1, "coordinates")
        guard !b.graph.coordinates.isEmpty else {
            throw args.error("\(b.displayName) has no coordinates (only Chimera and Pegasus do)")
        }
        guard c.count == b.graph.coordinates[0].count else {
            throw args.argumentError(1, "coordinates", "expected \(b.graph.coordinates[0].count) coordinates, got \(c.count)")
        }
        return b.graph.coordinates.firstIndex(of: c).map { .int($0 + 1) } ?? .nil
    }
    .method("active", doc: """
        g:active(i) -> boolean
        false for a dead node of a working graph (g:mask), true otherwise.
        """) { b, args in
        try args.expectAtMost(1)
        return .bool(b.graph.isActive[try args.node(1, "i", in: b.graph)])
    }
    .method("mask", doc: """
        g:mask{dead_nodes = {i, ...}, dead_edges = {{u, v}, ...}} -> qv.Graph
        The working graph of a device with dead qubits and couplers (1-based). Node
        numbering is unchanged: a dead node stays as an uncoupled unit (g:active(i) is
        false); its couplers and the dead couplers are removed.
        """) { b, args in
        try args.expectAtMost(1)
        let o = try args.options(1, allowed: ["dead_nodes", "dead_edges"])
        let n = b.graph.nodeCount
        var deadNodes: [Int] = []
        if o.has("dead_nodes") {
            let (shape, values) = try args.convertingOption("dead_nodes") { try LuaArrays.read(o.value("dead_nodes"), state: args.state) }
            guard shape.count == 1 else { throw args.optionError("dead_nodes", "expected a table of node numbers") }
            for (k, x) in values.enumerated() {
                guard x == x.rounded(), x >= 1, x <= Float(n) else {
                    throw args.optionError("dead_nodes", "value \(k + 1): node \(fmtNum(Double(x))) outside 1..\(n)")
                }
                deadNodes.append(Int(x) - 1)
            }
        }
        var deadEdges: [(Int, Int)] = []
        if o.has("dead_edges") {
            deadEdges = try args.convertingOption("dead_edges") { try readEdgePairs(o.value("dead_edges"), nodes: n, state: args.state) }
            for (k, e) in deadEdges.enumerated() where b.graph.edgeIndex(e.0, e.1) == nil {
                throw args.optionError("dead_edges", "edge \(k + 1) {\(e.0 + 1), \(e.1 + 1)} is not an edge of \(b.displayName)")
            }
        }
        return .object(GraphBox(try b.graph.masked(deadNodes: deadNodes, deadEdges: deadEdges)))
    }
    .method("dead_nodes", doc: "g:dead_nodes() -> {i, ...}\nThe dead nodes of a working graph (1-based); {} otherwise.") { b, args in
        try args.expectAtMost(0)
        return .ints(b.graph.isActive.indices.filter { !b.graph.isActive[$0] }.map { $0 + 1 })
    }
    .method("save", doc: """
        g:save(path [, format])
        Writes the graph to a file that qv.graph.load and networkx read, atomically. format
        "edgelist" (the default, unless path ends in .json): '# nodes N', then one 0-based
        'u v' line per edge, what networkx.read_edgelist(path, nodetype=int) reads (its edge
        lists cannot hold uncoupled nodes: they are in the '# nodes' count only). format
        "json" (the default for a .json path): networkx's node-link JSON with every node
        (networkx.node_link_graph(json.load(f), edges="links")).
        """) { b, args in
        try args.expectAtMost(2)
        let path = try args.string(1, "path")
        let format = try args.string(2, "format", default: path.lowercased().hasSuffix(".json") ? "json" : "edgelist")
        let text: String
        switch format {
        case "edgelist": text = b.graph.edgeListText()
        case "json": text = try b.graph.nodeLinkText()
        default: throw args.argumentError(2, "format", "expected \"edgelist\" or \"json\", got '\(format)'")
        }
        do { try AtomicFile.write(text, to: path) } catch { throw args.error("\(error)") }
        return .none
    }
    .tostring { b in b.summary }

extension QV {
    static func openGraphs(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(graphClass)
        let m = state.module("qv.graph", doc: """
            qv.graph — graphs for Boltzmann machines: chimera, pegasus, full_bipartite, complete,
            bernoulli, edges (from a Lua table), load (an edge-list or node-link JSON file). Nodes are
            1..N in Lua.
            """)
        func positive(_ args: Arguments, _ i: Int, _ name: String, max: Int = 1_000_000) throws -> Int {
            let v = try args.int(i, name)
            guard v >= 1, v <= max else { throw args.argumentError(i, name, "must be in 1..\(max), got \(v)") }
            return v
        }
        m.fn("chimera", doc: """
            qv.graph.chimera(m [, n [, t]]) -> qv.Graph
            Chimera C(m, n, t) as dwave_networkx.chimera_graph (n defaults to m, t to 4):
            m x n cells of two shores of t qubits. C(16,16,4) is the D-Wave 2000Q graph;
            C(6,6,4) has 288 nodes and 816 edges. Node (i, j, u, k) is node
            ((i*n + j)*2 + u)*t + k + 1 in Lua (g:coordinates, g:node).
            """) { args in
            try args.expectAtMost(3)
            let mm = try positive(args, 1, "m", max: 1000)
            let n = try args.isNil(2) ? mm : positive(args, 2, "n", max: 1000)
            let t = try args.isNil(3) ? 4 : positive(args, 3, "t", max: 1000)
            return .object(GraphBox(try Graph.chimera(m: mm, n: n, t: t)))
        }
        m.fn("pegasus", doc: """
            qv.graph.pegasus(m) -> qv.Graph
            Pegasus P(m), all 24 m (m-1) nodes (dwave_networkx.pegasus_graph(m,
            fabric_only=False)); P(4) has 288 nodes and 1632 edges, P(16) is Advantage.
            Four independent sets.
            """) { args in
            try args.expectAtMost(1)
            let mm = try args.int(1, "m")
            guard mm >= 2, mm <= 100 else { throw args.argumentError(1, "m", "must be in 2..100, got \(mm)") }
            return .object(GraphBox(try Graph.pegasus(m: mm)))
        }
        m.fn("full_bipartite", doc: """
            qv.graph.full_bipartite(a, b) -> qv.Graph
            The complete bipartite graph K(a, b) (a fully connected RBM): nodes 1..a on one
            side, a+1..a+b on the other.
            """) { args in
            try args.expectAtMost(2)
            let a = try positive(args, 1, "a", max: 100_000), b = try positive(args, 2, "b", max: 100_000)
            guard a * b <= 50_000_000 else { throw args.error("K(\(a), \(b)) is too large") }
            return .object(GraphBox(try Graph.fullBipartite(a, b)))
        }
        m.fn("complete", doc: """
            qv.graph.complete(n) -> qv.Graph
            The complete graph K(n) (a fully connected Boltzmann machine); each node is
            its own independent set.
            """) { args in
            try args.expectAtMost(1)
            return .object(GraphBox(try Graph.complete(try positive(args, 1, "n", max: 10_000))))
        }
        m.fn("bernoulli", doc: """
            qv.graph.bernoulli(n) -> qv.Graph
            n nodes and no edges (the independent-Bernoulli prior).
            """) { args in
            try args.expectAtMost(1)
            return .object(GraphBox(try Graph.bernoulli(try positive(args, 1, "n", max: 10_000_000))))
        }
        m.fn("edges", doc: """
            qv.graph.edges(n, {{u, v}, ...} [, name]) -> qv.Graph
            A graph on nodes 1..n with the given edges (1-based pairs, either order; no
            self-loops or duplicates). Independent sets come from a DSatur colouring.
            """) { args in
            try args.expectAtMost(3)
            let n = try args.int(1, "n")
            guard n >= 1, n <= 10_000_000 else { throw args.argumentError(1, "n", "must be in 1..10000000, got \(n)") }
            let pairs = try args.converting(2, "edges") { try readEdgePairs(args.value(2), nodes: n, state: args.state) }
            var seen = Set<Edge>()
            for (k, p) in pairs.enumerated() {
                guard p.0 != p.1 else { throw args.argumentError(2, "edges", "edge \(k + 1) is a self-loop on node \(p.0 + 1)") }
                guard seen.insert(Edge(p.0, p.1)).inserted else {
                    throw args.argumentError(2, "edges", "edge \(k + 1) {\(p.0 + 1), \(p.1 + 1)} appears twice")
                }
            }
            let name = try args.optionalString(3, "name")
            return .object(GraphBox(try Graph(nodeCount: n, edges: pairs, name: name ?? "graph(\(n))")))
        }
        m.fn("load", doc: """
            qv.graph.load(path) -> qv.Graph
            Reads a graph file: networkx's node-link JSON (a file starting with '{': "nodes" with
            integer "id"s, "links" or "edges" with "source" and "target"; ids not listed are
            uncoupled nodes) or an edge list: '#' comments, an optional '# nodes N' header, then
            one edge per line as two 0-based node indices 'u v', optionally followed by
            networkx's {...} data dict or numeric data columns (ignored). These are what
            networkx.write_edgelist / node_link_data write for integer nodes (dwave_networkx's
            chimera_graph, pegasus_graph), and what g:save writes. Non-integer node labels are
            refused (networkx.convert_node_labels_to_integers relabels them). In Lua the nodes
            are then 1..N as everywhere else.
            """) { args in
            try args.expectAtMost(1)
            return .object(GraphBox(try Graph.load(path: try args.string(1, "path"))))
        }
        m.fn("parse", doc: """
            qv.graph.parse(text [, name]) -> qv.Graph
            Like qv.graph.load, from a string (node-link JSON or an edge list, 0-based indices).
            """) { args in
            try args.expectAtMost(2)
            let text = try args.string(1, "text")
            return .object(GraphBox(try Graph.parse(text, name: try args.string(2, "name", default: "edgelist"))))
        }
    }
}
