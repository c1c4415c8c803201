import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// Graph files in the formats networkx and D-Wave's dwave_networkx read and
/// write: edge lists (`networkx.read_edgelist` / `write_edgelist`) and the
/// JSON node-link format (`networkx.node_link_data` / `node_link_graph`).
/// Nodes are integers 0..<N. Files are untrusted input: every error names
/// the file (and line), nothing is sized before the node count is checked
/// against `Graph.maxNodes`.
extension Graph {
    /// Parses a graph file's text: node-link JSON when it starts with `{`,
    /// else an edge list.
    public static func parse(_ text: String, name: String = "edgelist") throws -> Graph {
        let first = text.utf8.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        return first == UInt8(ascii: "{") ? try parseNodeLink(text, name: name) : try parseEdgeList(text, name: name)
    }

    /// Parses the edge-list text format, networkx's `write_edgelist` output
    /// for integer nodes and qvlua's own:
    ///
    ///     # comment (anywhere; also after data on a line)
    ///     # nodes 288      (the node count, a comment to other readers)
    ///     0 4              (one edge per line: two 0-based node indices,
    ///     0 5 {'weight': 0.5}   then optionally networkx's data dict
    ///     1 4 0.5               or numeric data columns, both ignored)
    ///
    /// Fields are separated by spaces, tabs or commas. `nodes N` without the
    /// `#` (older qvlua files) is the same header. Without a header the node
    /// count is the largest index + 1. Errors name the line. Independent
    /// sets come from a DSatur colouring.
    public static func parseEdgeList(_ text: String, name: String = "edgelist") throws -> Graph {
        var declared: Int? = nil
        var pairs: [(Int, Int)] = []
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let (body, comment) = splitComment(Substring(raw))
            let fields = edgeListFields(body)
            let header = fields.first == "nodes" ? fields : (fields.isEmpty ? headerComment(comment) : nil)
            if let header {
                let n = try nodesHeader(header, raw: raw, at: "\(name):\(lineNo)")
                guard declared == nil, pairs.isEmpty else {
                    throw ModelError("\(name):\(lineNo): the 'nodes' header must come once, before the edges")
                }
                declared = n
                continue
            }
            if fields.isEmpty { continue }
            let (a, b) = try edgeFields(fields, data: body, raw: raw, at: "\(name):\(lineNo)")
            if let n = declared, a >= n || b >= n {
                throw ModelError("\(name):\(lineNo): node \(max(a, b)) outside 0..<\(n) declared by 'nodes'")
            }
            pairs.append((a, b))
        }
        let n = declared ?? ((pairs.map { max($0.0, $0.1) }.max() ?? -1) + 1)
        try requireDistinct(pairs, name: name)
        return try Graph(nodeCount: n, edges: pairs, name: name, family: "edgelist")
    }

    /// Parses networkx's JSON node-link format (`node_link_data`): an
    /// object with `nodes` ([{"id": 0, ...}, ...]) and `links` or, as newer
    /// networkx writes it, `edges` ([{"source": 0, "target": 4, ...}, ...]);
    /// other members and attributes are ignored. Node ids must be integers
    /// 0..<Graph.maxNodes (dwave_networkx's integer labels; relabel others
    /// with `networkx.convert_node_labels_to_integers`); N is the largest id
    /// + 1, and ids not listed are uncoupled nodes. Directed graphs are
    /// refused.
    public static func parseNodeLink(_ text: String, name: String = "graph") throws -> Graph {
        let doc: JSON
        do { doc = try JSON.parse(text) } catch { throw ModelError("\(name): not valid JSON: \(error)") }
        guard case .object = doc else { throw ModelError("\(name): node-link JSON must be an object") }
        if case .bool(true)? = doc["directed"] {
            throw ModelError("\(name): a directed graph (\"directed\": true); qvlua's graphs are undirected")
        }
        guard case .array(let nodes)? = doc["nodes"] else {
            throw ModelError("\(name): node-link JSON needs a \"nodes\" array")
        }
        var listed = Set<Int>()
        for (k, node) in nodes.enumerated() {
            listed.insert(try nodeID(node["id"], at: "\(name): nodes[\(k)].id"))
        }
        let links: [JSON]
        switch (doc["links"], doc["edges"]) {
        case (.array(let l)?, nil), (nil, .array(let l)?): links = l
        case (.some, .some): throw ModelError("\(name): both \"links\" and \"edges\"; a node-link file has one of them")
        default: throw ModelError("\(name): node-link JSON needs a \"links\" (or \"edges\") array")
        }
        var pairs: [(Int, Int)] = []
        pairs.reserveCapacity(links.count)
        for (k, link) in links.enumerated() {
            let a = try nodeID(link["source"], at: "\(name): links[\(k)].source")
            let b = try nodeID(link["target"], at: "\(name): links[\(k)].target")
            guard listed.contains(a), listed.contains(b) else {
                throw ModelError("\(name): links[\(k)] joins node \(listed.contains(a) ? b : a), which \"nodes\" does not list")
            }
            guard a != b else { throw ModelError("\(name): links[\(k)] is a self-loop on node \(a)") }
            pairs.append((a, b))
        }
        try requireDistinct(pairs, name: name)
        return try Graph(nodeCount: (listed.max() ?? -1) + 1, edges: pairs, name: name, family: "edgelist")
    }

    /// The largest graph file `load` reads (256 MiB: some 20 million
    /// edges, far beyond any annealer's graph).
    public static let maxFileBytes = 1 << 28

    /// Reads a graph file (edge list or node-link JSON, see `parse`).
    /// Reading stops with an error past `maxFileBytes`, so an endless file
    /// (/dev/zero, a FIFO whose writer never stops) cannot exhaust memory.
    public static func load(path: String, maxBytes: Int = Graph.maxFileBytes) throws -> Graph {
        guard let f = fopen(path, "rb") else { throw ModelError("cannot open graph file '\(path)'") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            try Interrupt.check()
            let k = fread(&buf, 1, buf.count, f)
            if k <= 0 { break }
            guard bytes.count + k <= maxBytes else {
                throw ModelError("graph file '\(path)' is larger than \(maxBytes) bytes (an endless file or device?)")
            }
            bytes.append(contentsOf: buf[0..<k])
        }
        return try parse(String(decoding: bytes, as: UTF8.self), name: path)
    }

    /// The graph as an edge list that `networkx.read_edgelist(path,
    /// nodetype=int)` and `parseEdgeList` read: the name and `# nodes N`
    /// as comments, then one `u v` line per edge. (networkx's edge lists
    /// cannot hold uncoupled nodes: they are in the `# nodes` count only;
    /// `nodeLinkText` keeps them for networkx too.)
    public func edgeListText() -> String {
        var s = "# \(name.replacingOccurrences(of: "\n", with: " "))\n# nodes \(nodeCount)\n"
        for e in edges { s += "\(e.u) \(e.v)\n" }
        return s
    }

    /// The graph as node-link JSON (`networkx.node_link_graph(data,
    /// edges="links")` reads it; so does `parseNodeLink`): every node,
    /// uncoupled ones included, and the edges under "links".
    public func nodeLinkText() throws -> String {
        let nodes = JSON.array((0..<nodeCount).map { .object([("id", .int($0))]) })
        let links = JSON.array(edges.map { .object([("source", .int($0.u)), ("target", .int($0.v))]) })
        let doc = JSON.object([("directed", .bool(false)), ("multigraph", .bool(false)),
                               ("graph", .object([("name", .string(name)), ("family", .string(family))])),
                               ("nodes", nodes), ("links", links)])
        return try doc.text(spaced: true) + "\n"
    }
}

// MARK: Parsing helpers

/// A line's data part and the text of its `#` comment (nil without one).
private func splitComment(_ line: Substring) -> (Substring, Substring?) {
    guard let h = line.firstIndex(of: "#") else { return (line, nil) }
    return (line[..<h], line[line.index(after: h)...])
}

/// The fields before any `{` (networkx's data dict), split on spaces, tabs,
/// carriage returns and commas.
private func edgeListFields(_ body: Substring) -> [Substring] {
    let head = body.firstIndex(of: "{").map { body[..<$0] } ?? body
    return head.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "," })
}

/// The fields of a `# nodes N` comment (N an integer), or nil for any
/// other comment.
private func headerComment(_ comment: Substring?) -> [Substring]? {
    guard let comment else { return nil }
    let f = comment.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
    return f.count == 2 && f[0] == "nodes" && Int(f[1]) != nil ? f : nil
}

/// N of a `nodes N` header, checked against `Graph.maxNodes`.
private func nodesHeader(_ f: [Substring], raw: Substring, at place: String) throws -> Int {
    guard f.count == 2, let n = Int(f[1]), n >= 0 else {
        throw ModelError("\(place): expected 'nodes N', got '\(raw)'")
    }
    guard n <= Graph.maxNodes else { throw ModelError("\(place): \(n) nodes: at most \(Graph.maxNodes)") }
    return n
}

/// The two node indices of an edge line; what follows them must be a
/// `{...}` data dict or numbers (data columns).
private func edgeFields(_ f: [Substring], data body: Substring, raw: Substring, at place: String) throws -> (Int, Int) {
    guard f.count >= 2, let a = Int(f[0]), let b = Int(f[1]) else {
        throw ModelError("\(place): expected two node indices 'u v' (integers 0..N-1; "
                         + "networkx.convert_node_labels_to_integers relabels other nodes), got '\(raw)'")
    }
    guard f.dropFirst(2).allSatisfy({ Double($0) != nil }) else {
        throw ModelError("\(place): after 'u v' only a {...} data dict or numeric data columns may follow, got '\(raw)'")
    }
    if body.contains("{") {
        guard body.last(where: { $0 != " " && $0 != "\t" && $0 != "\r" }) == "}" else {
            throw ModelError("\(place): unterminated {...} edge data in '\(raw)'")
        }
    }
    guard a >= 0, b >= 0 else { throw ModelError("\(place): negative node index") }
    guard a < Graph.maxNodes, b < Graph.maxNodes else {
        throw ModelError("\(place): node index \(max(a, b)) beyond the \(Graph.maxNodes) nodes a graph may have")
    }
    guard a != b else { throw ModelError("\(place): self-loop on node \(a)") }
    return (a, b)
}

/// A node-link id: an integer in 0..<Graph.maxNodes.
private func nodeID(_ v: JSON?, at place: String) throws -> Int {
    guard case .int(let i)? = v else {
        let shown = v.flatMap { try? $0.text() }.map { $0.count > 40 ? String($0.prefix(40)) + "..." : $0 }
        throw ModelError("\(place) is \(shown ?? "missing"): qvlua's nodes are integers 0..N-1 "
                         + "(relabel with networkx.convert_node_labels_to_integers)")
    }
    guard i >= 0, i < Graph.maxNodes else {
        throw ModelError("\(place) is \(i): node ids must be in 0..<\(Graph.maxNodes)")
    }
    return i
}

/// Throws on the first edge listed twice (either orientation).
private func requireDistinct(_ pairs: [(Int, Int)], name: String) throws {
    var seen = Set<Edge>()
    for p in pairs where !seen.insert(Edge(p.0, p.1)).inserted {
        throw ModelError("\(name): duplicate edge \(Edge(p.0, p.1))")
    }
}
