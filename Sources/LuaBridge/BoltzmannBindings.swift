import CLua
import Model
import Runtime

// Boltzmann machines in Lua (`qv.bm`, `qv.BM`).

/// A Boltzmann machine owned by Lua (mutable: bias, weights, clamp).
final class BMBox {
    var bm: BoltzmannMachine
    let graph: GraphBox
    init(_ bm: BoltzmannMachine, graph: GraphBox? = nil) {
        self.bm = bm
        self.graph = graph ?? GraphBox(bm.graph)
    }

    var summary: String {
        let maxB = bm.bias.reduce(0) { max($0, abs($1)) }
        let maxW = bm.weights.reduce(0) { max($0, abs($1)) }
        return "qv.BM on \(graph.displayName): \(bm.units) units, \(bm.weights.count) weights "
            + "(max |b| \(fmtNum(Double(maxB), "%.3g")), max |W| \(fmtNum(Double(maxW), "%.3g")))"
    }
}

extension BMBox {
    /// Reads a parameter vector given as a Lua value.
    static func parameters(_ v: LuaValue, count: Int, what: String, state: LuaState) throws -> [Float] {
        try LuaArrays.vector(v, count: count, what: what, state: state)
    }
}

/// A range option: a number w means [-w, w]; {lo, hi} is [lo, hi].
func rangeOption(_ args: Arguments, _ o: Options, _ key: String) throws -> ClosedRange<Float>? {
    guard o.has(key) else { return nil }
    let v = o.value(key)
    if let x = v.doubleValue {
        guard x >= 0, x.isFinite else { throw args.optionError(key, "a bound w (meaning [-w, w]) must be finite and >= 0") }
        return Float(-x)...Float(x)
    }
    let (shape, values) = try args.convertingOption(key) { try LuaArrays.read(v, state: args.state) }
    guard shape == [2], values[0].isFinite, values[1].isFinite, values[0] <= values[1] else {
        throw args.optionError(key, "expected a number w or a pair {lo, hi} with lo <= hi")
    }
    return values[0]...values[1]
}

/// The energy of each configuration given (table of rows, one row, qv.Samples).
func energies(of v: LuaValue, _ box: BMBox, _ args: Arguments, _ i: Int) throws -> LuaValue {
    if let z = args.objectIfPresent(i, Tensor.self) { return try energies(ofTensor: z, box, args, i) }
    let r = try args.converting(i, "samples") { try LuaArrays.rows(v, units: box.bm.units, state: args.state) }
    if r.single { return .number(try box.bm.energy(r.values)) }
    if r.rows == 0 { return .array([]) }
    // Double accumulation, row by row (exact for small integers of 0/1 states).
    let n = box.bm.units
    var out: [LuaValue] = []
    out.reserveCapacity(r.rows)
    for s in 0..<r.rows {
        out.append(.number(try box.bm.energy(Array(r.values[s * n..<(s + 1) * n]))))
    }
    return .array(out)
}

/// The energies of a tensor of states: [B, N] gives a [B] tensor, one
/// state [N] a number (accumulated in Double, as for tables).
private func energies(ofTensor z: Tensor, _ box: BMBox, _ args: Arguments, _ i: Int) throws -> LuaValue {
    let n = box.bm.units
    guard (z.rank == 2 && z.shape[1] == n) || (z.rank == 1 && z.shape[0] == n) else {
        throw args.argumentError(i, "samples", "expected a tensor of states [B, \(n)] or one state [\(n)], got a tensor of shape \(z.shape)")
    }
    let values = z.toArray()
    if z.rank == 1 { return .number(try box.bm.energy(values)) }
    let e = try (0..<z.shape[0]).map { s in Float(try box.bm.energy(Array(values[s * n..<(s + 1) * n]))) }
    return .object(try Tensor(e, shape: [z.shape[0]]))
}

let bmClass = LuaClass<BMBox>("qv.BM", doc: """
    qv.BM — a Boltzmann machine p(z) ∝ exp(-H(z)) over z ∈ {0,1}^N on a graph,
    H(z) = Σ_l b_l z_l + Σ_{edges (u,v)} W_uv z_u z_v (qv.bm.new, qv.bm.random).
    bm.bias has one entry per unit (node 1..N), bm.weights one per edge in the order
    of bm.graph:edge_list(). Sample with any qv.sampler: s:sample(bm, n) or bm:sample(n, s).
    """)
    .extraBytes { b in MemoryFootprint.bytes(b.bm) }
    .property("units", doc: "number of units N (also #bm)") { b in .int(b.bm.units) }
    .property("graph", doc: "the qv.Graph") { b in .object(b.graph) }
    .property("bias", doc: "the biases b (a copy, one per unit); assign a table to set them",
              get: { b in .numbers(b.bm.bias) },
              set: { b, args in
                  try args.converting(1, "bias") {
                      try b.bm.setBias(BMBox.parameters(args.value(1), count: b.bm.units, what: "unit", state: args.state))
                  }
              })
    .property("weights", doc: "the weights W (a copy, one per edge in g:edge_list() order); assign a table to set them",
              get: { b in .numbers(b.bm.weights) },
              set: { b, args in
                  try args.converting(1, "weights") {
                      try b.bm.setWeights(BMBox.parameters(args.value(1), count: b.bm.weights.count, what: "edge", state: args.state))
                  }
              })
    .len { b in .int(b.bm.units) }
    .method("energy", doc: """
        bm:energy(samples) -> {H, ...}, Tensor or H
        H(z) of each configuration: samples is a table of rows of N values (0/1 or
        relaxed values in [0, 1]) or a qv.Samples (a table of energies), a tensor [B, N]
        (a [B] tensor of energies), or one row, as a table or a tensor [N] (a number).
        """) { b, args in
        try args.expectAtMost(1)
        guard !args.isNil(1) else { throw args.argumentError(1, "samples", "expected a table of rows, a tensor [B, N] or qv.Samples, got \(args.typeName(1))") }
        return try energies(of: args.value(1), b, args, 1)
    }
    .method("to_ising", doc: """
        bm:to_ising() -> h, J, offset
        The Ising form under z = (1 + s)/2, s ∈ {-1,+1}: E(s) = Σ h_l s_l + Σ J_e s_u s_v
        (D-Wave's convention), with H(z) = E(s) + offset. h has one entry per unit, J one
        per edge (g:edge_list() order).
        """) { b, args in
        try args.expectAtMost(0)
        let m = b.bm.toIsing()
        return .values(.numbers(m.h), .numbers(m.J), .number(m.offset))
    }
    .method("clamp", doc: """
        bm:clamp{weights = w, bias = b} -> bm
        Clips the parameters in place: a number w means [-w, w], a pair {lo, hi} means
        [lo, hi] (the paper's weight clipping). Returns bm.
        """) { b, args in
        try args.expectAtMost(1)
        let o = try args.options(1, allowed: ["weights", "bias"])
        let wr = try rangeOption(args, o, "weights"), br = try rangeOption(args, o, "bias")
        b.bm.clamp(bias: br, weights: wr)
        return .object(b)
    }
    .method("scaled", doc: """
        bm:scaled(beta) -> qv.BM
        A new machine with H scaled by beta (b -> beta b, W -> beta W): p_beta(z) ∝ exp(-beta H(z)).
        """) { b, args in
        try args.expectAtMost(1)
        let beta = try args.number(1, "beta")
        guard beta.isFinite else { throw args.argumentError(1, "beta", "must be finite") }
        return .object(BMBox(try modelOp(args, positions: ["beta": 1]) { try b.bm.scaled(by: Float(beta)) }, graph: b.graph))
    }
    .method("copy", doc: "bm:copy() -> qv.BM\nAn independent copy (same graph).") { b, args in
        try args.expectAtMost(0)
        return .object(BMBox(b.bm, graph: b.graph))
    }
    .method("exact", doc: """
        bm:exact() -> {logZ =, means =, edge_means =, min_energy =, mean_energy =}
        Exact moments by enumerating all 2^N states (N <= 24; about a second at N = 24):
        log Z, <z_l> per unit, <z_u z_v> per edge (edge order), min H and <H>.
        """) { b, args in
        try args.expectAtMost(0)
        try requireExact(b, args)
        let m = try ExactSampler.moments(b.bm, pairs: false)
        return .table(["logZ": .number(m.logZ), "means": .numbers(m.means), "edge_means": .numbers(m.edgeMeans),
                       "min_energy": .number(m.minEnergy), "mean_energy": .number(m.meanEnergy)])
    }
    .method("logz", doc: """
        bm:logz{method = "exact"|"ais"|"pa", ...} -> logZ, error, stats
        log Z of the machine with a one-standard-error bar (0 for exact):
          method            "exact" (N <= 24), "ais" (annealed importance sampling) or "pa"
                            (population annealing); default exact when N <= 20, else ais
          chains            AIS chains (default 1000)
          replicas          PA replicas, all populations together (default 4000)
          populations       PA independent populations, for the error bar (default 4)
          temperatures      annealing steps beta_1 < ... < beta_K = 1 (default 1000)
          sweeps_per_step   block Gibbs sweeps per step (default 1)
          path              "couplings" (base: the biases alone; default) or "full" (uniform base)
          spacing           "linear" (default) or "geometric"
          resampling        PA: "systematic" (default) or "multinomial"
          generator         a qv.Generator (default: the global one, qv.seed)
        stats holds method details (ess, chains, temperatures, ...).
        """) { b, args in
        try args.expectAtMost(1)
        let o = try args.options(1, allowed: ["method", "chains", "replicas", "populations", "temperatures",
                                              "sweeps_per_step", "path", "spacing", "resampling", "generator"])
        let method = try o.optionalString("method") ?? (b.bm.units <= 20 ? "exact" : "ais")
        guard ["exact", "ais", "pa"].contains(method) else {
            throw args.optionError("method", "expected one of 'exact', 'ais', 'pa', got '\(method)'")
        }
        func only(_ keys: Set<String>) throws {
            for k in o.keys.subtracting(keys.union(["method", "generator"])).sorted() {
                throw args.optionError(k, "not used by method '\(method)'")
            }
        }
        let stream = try o.optionalObject("generator", RandomStream.self)
        var g = stream?.generator ?? GlobalRandom.split()
        defer { stream?.generator = g }
        let common = AnnealingOptions.self
        switch method {
        case "exact":
            try only([])
            try requireExact(b, args)
            let z = try ExactSampler.logZ(b.bm)
            return .values(.number(z), .number(0), .table(["method": "exact"]))
        case "ais":
            try only(["chains", "temperatures", "sweeps_per_step", "path", "spacing"])
            let a = try common.read(args, o)
            let chains = try positiveOption(args, o, "chains", default: 1000)
            let ais = try validated(args, AnnealedImportanceSampling(temperatures: a.temperatures, sweepsPerStep: a.sweepsPerStep,
                                                                     spacing: a.spacing, path: a.path))
            let e = try modelOp(args) { try ais.estimateLogZ(b.bm, chains: chains, generator: &g) }
            return .values(.number(e.logZ), .number(e.error), statsTable(e.stats, extra: ["method": "ais"]))
        default:
            try only(["replicas", "populations", "temperatures", "sweeps_per_step", "path", "spacing", "resampling"])
            let a = try common.read(args, o)
            let replicas = try positiveOption(args, o, "replicas", default: 4000)
            let pops = try positiveOption(args, o, "populations", default: 4)
            guard replicas >= pops else { throw args.optionError("replicas", "must be >= populations (\(pops))") }
            let res = try resamplingOption(args, o)
            let pa = try validated(args, PopulationAnnealing(temperatures: a.temperatures, sweepsPerStep: a.sweepsPerStep,
                                                             populations: pops, spacing: a.spacing, path: a.path, resampling: res))
            let e = try modelOp(args) { try pa.estimateLogZ(b.bm, replicas: replicas, generator: &g) }
            return .values(.number(e.logZ), .number(e.error), statsTable(e.stats, extra: ["method": "pa"]))
        }
    }
    .method("sample", doc: """
        bm:sample(n, sampler [, {generator = g}]) -> qv.Samples
        The same as sampler:sample(bm, n [, options]).
        """) { b, args in
        try args.expectAtMost(3)
        let n = try sampleCount(args, 1)
        let s = try args.object(2, SamplerBox.self, "sampler")
        return .object(try s.run(b, count: n, args: args, optionsIndex: 3))
    }
    .tostring { b in b.summary }

func requireExact(_ b: BMBox, _ args: Arguments) throws {
    guard b.bm.units <= ExactSampler.maxUnits else {
        throw args.error("exact enumeration supports at most \(ExactSampler.maxUnits) units, the machine has \(b.bm.units) (use method = \"ais\" or \"pa\")")
    }
}

/// Options shared by the annealing estimators and samplers.
struct AnnealingOptions {
    var temperatures = 1000
    var sweepsPerStep = 1
    var spacing = BetaSpacing.linear
    var path = AnnealingPath.couplings

    /// The options' values; their ranges are the sampler's to check (`Sampler.validate`).
    static func read(_ args: Arguments, _ o: Options) throws -> AnnealingOptions {
        var a = AnnealingOptions()
        a.temperatures = try o.int("temperatures", default: 1000)
        a.sweepsPerStep = try o.int("sweeps_per_step", default: 1)
        if let s = try o.optionalString("spacing") {
            guard let v = BetaSpacing(rawValue: s) else { throw args.optionError("spacing", "expected 'linear' or 'geometric', got '\(s)'") }
            a.spacing = v
        }
        if let s = try o.optionalString("path") {
            guard let v = AnnealingPath(rawValue: s) else { throw args.optionError("path", "expected 'couplings' or 'full', got '\(s)'") }
            a.path = v
        }
        return a
    }
}

/// An integer option >= 1.
func positiveOption(_ args: Arguments, _ o: Options, _ key: String, default d: Int, max: Int = 100_000_000) throws -> Int {
    let v = try o.int(key, default: d)
    guard v >= 1, v <= max else { throw args.optionError(key, "must be in 1..\(max), got \(v)") }
    return v
}

func resamplingOption(_ args: Arguments, _ o: Options) throws -> Resampling {
    guard let s = try o.optionalString("resampling") else { return .systematic }
    guard let r = Resampling(rawValue: s) else {
        throw args.optionError("resampling", "expected 'systematic' or 'multinomial', got '\(s)'")
    }
    return r
}

/// A sample-count argument.
func sampleCount(_ args: Arguments, _ i: Int) throws -> Int {
    let n = try args.int(i, "n")
    guard n >= 1, n <= 100_000_000 else { throw args.argumentError(i, "n", "must be in 1..100000000, got \(n)") }
    return n
}

extension QV {
    static func openMachines(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(bmClass)
        let m = state.module("qv.bm", doc: """
            qv.bm — Boltzmann machines on a qv.Graph: new (given parameters), random,
            from_ising. Units are numbered like the graph's nodes (1..N).
            """)
        m.fn("new", doc: """
            qv.bm.new(graph [, {bias = b, weights = w}]) -> qv.BM
            A Boltzmann machine on graph. bias: N numbers (one per node), weights: one
            number per edge in graph:edge_list() order; either may be a single number
            (every entry) or omitted (zeros).
            """) { args in
            try args.expectAtMost(2)
            let g = try args.object(1, GraphBox.self, "graph")
            let o = try args.options(2, allowed: ["bias", "weights"])
            let b = try o.has("bias") ? args.convertingOption("bias") {
                try BMBox.parameters(o.value("bias"), count: g.graph.nodeCount, what: "unit", state: args.state)
            } : nil
            let w = try o.has("weights") ? args.convertingOption("weights") {
                try BMBox.parameters(o.value("weights"), count: g.graph.edgeCount, what: "edge", state: args.state)
            } : nil
            return .object(BMBox(try BoltzmannMachine(graph: g.graph, bias: b, weights: w), graph: g))
        }
        m.fn("random", doc: """
            qv.bm.random(graph [, {bias_scale = 1, weight_scale = 1, seed = n}]) -> qv.BM
            Random parameters b ~ N(0, bias_scale^2), W ~ N(0, weight_scale^2), drawn from the
            global generator (qv.seed), or from a generator seeded with seed.
            """) { args in
            try args.expectAtMost(2)
            let g = try args.object(1, GraphBox.self, "graph")
            let o = try args.options(2, allowed: ["bias_scale", "weight_scale", "seed"])
            let bs = try o.number("bias_scale", default: 1), ws = try o.number("weight_scale", default: 1)
            guard bs.isFinite, bs >= 0 else { throw args.optionError("bias_scale", "must be finite and >= 0") }
            guard ws.isFinite, ws >= 0 else { throw args.optionError("weight_scale", "must be finite and >= 0") }
            var gen = try o.optionalInt("seed").map { Generator(seed: UInt64(bitPattern: Int64($0))) } ?? GlobalRandom.split()
            return .object(BMBox(try BoltzmannMachine.random(graph: g.graph, biasScale: Float(bs), weightScale: Float(ws),
                                                             generator: &gen), graph: g))
        }
        m.fn("from_ising", doc: """
            qv.bm.from_ising(graph, {h = h, J = J}) -> qv.BM
            The machine of an Ising problem E(s) = Σ h_l s_l + Σ J_e s_u s_v (s = 2z - 1):
            W = 4J, b_l = 2 h_l - 2 Σ_m J_lm. The inverse of bm:to_ising() (up to the offset).
            """) { args in
            try args.expectAtMost(2)
            let g = try args.object(1, GraphBox.self, "graph")
            let o = try args.options(2, allowed: ["h", "J"])
            let h = try o.has("h") ? args.convertingOption("h") {
                try BMBox.parameters(o.value("h"), count: g.graph.nodeCount, what: "node", state: args.state)
            } : [Float](repeating: 0, count: g.graph.nodeCount)
            let J = try o.has("J") ? args.convertingOption("J") {
                try BMBox.parameters(o.value("J"), count: g.graph.edgeCount, what: "edge", state: args.state)
            } : [Float](repeating: 0, count: g.graph.edgeCount)
            let ising = try IsingModel(graph: g.graph, h: h, J: J)
            return .object(BMBox(try BoltzmannMachine(ising: ising), graph: g))
        }
    }
}
