import Runtime

/// A Boltzmann machine over units z ∈ {0,1}^N on a graph:
/// p(z) ∝ exp(−H(z)),  H(z) = Σ_l b_l z_l + Σ_{edges e=(u,v)} W_e z_u z_v.
///
/// `bias` has one entry per unit, `weights` one per edge in the graph's
/// edge order (`graph.edges`). All batch APIs take row-major buffers of
/// `batch × units` floats (one configuration per row); values need not be
/// binary (relaxed ζ ∈ [0,1] work the same way). Work is sparse: O(N + E)
/// per row.
public struct BoltzmannMachine: Sendable {
    public let graph: Graph
    /// One bias per unit; finite (set with `setBias`, which checks).
    public internal(set) var bias: [Float]
    /// One weight per edge; finite (set with `setWeights`, which checks).
    public internal(set) var weights: [Float]

    public var units: Int { graph.nodeCount }

    /// Zero parameters unless given; throws on size mismatch.
    public init(graph: Graph, bias: [Float]? = nil, weights: [Float]? = nil) throws {
        self.graph = graph
        self.bias = bias ?? [Float](repeating: 0, count: graph.nodeCount)
        self.weights = weights ?? [Float](repeating: 0, count: graph.edges.count)
        try require(self.bias.count == graph.nodeCount,
                    "BoltzmannMachine: bias has \(self.bias.count) entries, graph has \(graph.nodeCount) units")
        try require(self.weights.count == graph.edges.count,
                    "BoltzmannMachine: weights has \(self.weights.count) entries, graph has \(graph.edges.count) edges")
        try require(self.bias.allSatisfy { $0.isFinite } && self.weights.allSatisfy { $0.isFinite },
                    "BoltzmannMachine: parameters must be finite")
    }

    /// Replaces the biases; throws on a wrong count or a NaN/infinite
    /// value (which would make every energy, sample and log Z NaN).
    public mutating func setBias(_ b: [Float]) throws {
        try require(b.count == units, "BoltzmannMachine: bias has \(b.count) entries, graph has \(units) units")
        if let i = b.firstIndex(where: { !$0.isFinite }) {
            throw ModelError("BoltzmannMachine: bias must be finite, got \(b[i]) for unit \(i + 1)")
        }
        bias = b
    }

    /// Replaces the weights; throws on a wrong count or a NaN/infinite value.
    public mutating func setWeights(_ w: [Float]) throws {
        try require(w.count == graph.edges.count, "BoltzmannMachine: weights has \(w.count) entries, graph has \(graph.edges.count) edges")
        if let i = w.firstIndex(where: { !$0.isFinite }) {
            throw ModelError("BoltzmannMachine: weights must be finite, got \(w[i]) for edge \(i + 1)")
        }
        weights = w
    }

    /// Random parameters: b ~ N(0, biasScale²), W ~ N(0, weightScale²).
    public static func random(graph: Graph, biasScale: Float = 1, weightScale: Float = 1,
                              generator: inout Generator) throws -> BoltzmannMachine {
        let b = (0..<graph.nodeCount).map { _ in biasScale * generator.normal() }
        let w = (0..<graph.edges.count).map { _ in weightScale * generator.normal() }
        return try BoltzmannMachine(graph: graph, bias: b, weights: w)
    }

    func checkBatch(_ count: Int, _ batch: Int, _ what: String) throws {
        try require(batch >= 0, "\(what): batch must be >= 0, got \(batch)")
        try require(count == batch * units,
                    "\(what): expected \(batch) × \(units) = \(batch * units) values, got \(count)")
    }

    // MARK: energies

    /// H(z) for each row of z (batch × units) into `out` (batch).
    public func energies(_ z: UnsafeBufferPointer<Float>, batch: Int,
                         into out: UnsafeMutableBufferPointer<Float>) throws {
        try checkBatch(z.count, batch, "energies")
        try require(out.count >= batch, "energies: output has \(out.count) slots, need \(batch)")
        let n = units
        let edges = graph.edges
        bias.withUnsafeBufferPointer { b in
            weights.withUnsafeBufferPointer { w in
                Parallel.forEachRange(count: batch, minimum: 256) { r in
                    for s in r {
                        let row = z.baseAddress! + s * n
                        var e: Float = 0
                        for l in 0..<n { e += b[l] * row[l] }
                        for (k, ed) in edges.enumerated() { e += w[k] * row[ed.u] * row[ed.v] }
                        out[s] = e
                    }
                }
            }
        }
    }

    /// H(z) for each row.
    public func energies(_ z: [Float], batch: Int) throws -> [Float] {
        try checkBatch(z.count, batch, "energies")
        var out = [Float](repeating: 0, count: batch)
        try z.withUnsafeBufferPointer { zp in
            try out.withUnsafeMutableBufferPointer { try energies(zp, batch: batch, into: $0) }
        }
        return out
    }

    /// H(z) of one configuration (Double accumulation).
    public func energy(_ z: [Float]) throws -> Double {
        try checkBatch(z.count, 1, "energy")
        var e = 0.0
        for l in 0..<units { e += Double(bias[l]) * Double(z[l]) }
        for (k, ed) in graph.edges.enumerated() { e += Double(weights[k]) * Double(z[ed.u]) * Double(z[ed.v]) }
        return e
    }

    // MARK: derivatives

    /// ∂H/∂z for each row: b_l + Σ_m W_lm z_m (the local fields), batch × units.
    public func dHdz(_ z: UnsafeBufferPointer<Float>, batch: Int,
                     into out: UnsafeMutableBufferPointer<Float>) throws {
        try checkBatch(z.count, batch, "dHdz")
        try require(out.count >= batch * units, "dHdz: output too small")
        let n = units
        let rs = graph.rowStart, nb = graph.neighbors, ne = graph.neighborEdge
        bias.withUnsafeBufferPointer { b in
            weights.withUnsafeBufferPointer { w in
                Parallel.forEachRange(count: batch, minimum: 256) { r in
                    for s in r {
                        let row = z.baseAddress! + s * n
                        let o = out.baseAddress! + s * n
                        for l in 0..<n {
                            var f = b[l]
                            for k in Int(rs[l])..<Int(rs[l + 1]) { f += w[Int(ne[k])] * row[Int(nb[k])] }
                            o[l] = f
                        }
                    }
                }
            }
        }
    }

    public func dHdz(_ z: [Float], batch: Int) throws -> [Float] {
        try checkBatch(z.count, batch, "dHdz")
        var out = [Float](repeating: 0, count: batch * units)
        try z.withUnsafeBufferPointer { zp in
            try out.withUnsafeMutableBufferPointer { try dHdz(zp, batch: batch, into: $0) }
        }
        return out
    }

    /// Parameter gradients of Σ_s c_s H(z_s): ∂/∂b_l = Σ_s c_s z_sl and
    /// ∂/∂W_e = Σ_s c_s z_su z_sv. With `scale == nil`, c_s = 1/batch:
    /// the mean statistics ⟨z_l⟩ and ⟨z_u z_v⟩ per edge (the positive or
    /// negative phase). With `scale` (batch entries) it is a backward pass
    /// for per-sample upstream gradients.
    public func parameterGradients(_ z: UnsafeBufferPointer<Float>, batch: Int,
                                   scale: UnsafeBufferPointer<Float>? = nil) throws -> (db: [Float], dW: [Float]) {
        try checkBatch(z.count, batch, "parameterGradients")
        if let c = scale { try require(c.count == batch, "parameterGradients: scale has \(c.count) entries, batch is \(batch)") }
        let n = units, edges = graph.edges
        let chunks = batch >= 512 ? 2 * Parallel.threads : 1
        var partB = [[Double]](repeating: [], count: chunks)
        var partW = [[Double]](repeating: [], count: chunks)
        let inv = batch > 0 ? 1.0 / Double(batch) : 0
        partB.withUnsafeMutableBufferPointer { pb in
            partW.withUnsafeMutableBufferPointer { pw in
                Parallel.forEachChunk(count: batch, chunks: chunks) { c, r in
                    var db = [Double](repeating: 0, count: n)
                    var dw = [Double](repeating: 0, count: edges.count)
                    for s in r {
                        let row = z.baseAddress! + s * n
                        let cs = scale.map { Double($0[s]) } ?? inv
                        for l in 0..<n { db[l] += cs * Double(row[l]) }
                        for (k, e) in edges.enumerated() { dw[k] += cs * Double(row[e.u] * row[e.v]) }
                    }
                    pb[c] = db; pw[c] = dw
                }
            }
        }
        var db = [Float](repeating: 0, count: n), dw = [Float](repeating: 0, count: edges.count)
        for l in 0..<n { db[l] = Float(partB.reduce(0) { $0 + ($1.isEmpty ? 0 : $1[l]) }) }
        for k in 0..<edges.count { dw[k] = Float(partW.reduce(0) { $0 + ($1.isEmpty ? 0 : $1[k]) }) }
        return (db, dw)
    }

    public func parameterGradients(_ z: [Float], batch: Int, scale: [Float]? = nil) throws -> (db: [Float], dW: [Float]) {
        try z.withUnsafeBufferPointer { zp in
            if let s = scale {
                return try s.withUnsafeBufferPointer { try parameterGradients(zp, batch: batch, scale: $0) }
            }
            return try parameterGradients(zp, batch: batch, scale: nil)
        }
    }

    /// p(z_l = 1 | all other units) = σ(−(b_l + Σ_m W_lm z_m)) for every unit
    /// of every row (the block-update conditionals; within an independent
    /// set they are jointly the block's conditional distribution).
    public func conditionalProbabilities(_ z: [Float], batch: Int) throws -> [Float] {
        var f = try dHdz(z, batch: batch)
        for i in f.indices { f[i] = 1 / (1 + expf(f[i])) }
        return f
    }

    // MARK: parameters

    /// Clips the parameters into the given ranges (the paper's weight
    /// clipping). `nil` leaves that group unchanged.
    public mutating func clamp(bias biasRange: ClosedRange<Float>? = nil,
                               weights weightRange: ClosedRange<Float>? = nil) {
        if let r = biasRange { for i in bias.indices { bias[i] = min(max(bias[i], r.lowerBound), r.upperBound) } }
        if let r = weightRange { for i in weights.indices { weights[i] = min(max(weights[i], r.lowerBound), r.upperBound) } }
    }

    /// The machine with H scaled by β (b → βb, W → βW).
    /// Throws when a scaled parameter is not finite (β·b overflowing Float,
    /// or a non-finite β): the machine would give NaN energies and log Z.
    public func scaled(by beta: Float) throws -> BoltzmannMachine {
        var m = self
        for i in m.bias.indices { m.bias[i] *= beta }
        for i in m.weights.indices { m.weights[i] *= beta }
        try require(m.bias.allSatisfy { $0.isFinite } && m.weights.allSatisfy { $0.isFinite },
                    field: "beta", "scaling by \(beta) makes the parameters non-finite")
        return m
    }

    /// Σ_l log(1 + e^{−b_l}): the exact log Z when all weights are zero
    /// (the Bernoulli prior), nil otherwise.
    public var exactLogZIfUncoupled: Double? {
        weights.allSatisfy { $0 == 0 } ? BoltzmannMachine.softplusSum(bias) : nil
    }

    /// Σ_l softplus(−b_l) = Σ log(1 + e^{−b_l}), computed stably in Double.
    public static func softplusSum(_ b: [Float]) -> Double {
        var s = 0.0
        for x in b {
            let t = -Double(x)
            s += t > 0 ? t + log1p(exp(-t)) : log1p(exp(t))
        }
        return s
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
