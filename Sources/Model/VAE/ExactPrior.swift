import Foundation
import Runtime

/// A Boltzmann-machine prior H(z) = Σ b_l z_l + Σ_e W_e z_u z_v over a
/// `Graph`, with everything exact: log Z by enumerating all 2^N states
/// with tensor ops (log-sum-exp of −H over the enumeration, so autograd
/// gives the exact negative phase), and exact sampling from the same
/// enumeration. For N ≤ `maxEnumeratedUnits`; a graph without edges (the
/// "Bernoulli" prior) is exact at any size: log Z = Σ softplus(−b_l) and
/// the units are independent with p(z_l = 1) = σ(−b_l).
///
/// Parameters "bias" [N] and "weights" [E] (in `graph.edges` order), the
/// names and layout of the sampled `BoltzmannPrior`.
public final class ExactPrior: LatentPrior {
    public static let maxEnumeratedUnits = 20

    public let graph: Graph
    public let bias: Tensor
    public let weights: Tensor
    public var betaEff: Float = 1
    public var training = true
    private let edgeU: Tensor, edgeV: Tensor
    private var statesCache: Tensor?

    /// Parameters start at b ~ N(0, biasScale²), W ~ N(0, weightScale²)
    /// (zeros by default).
    public init(graph: Graph, biasScale: Float = 0, weightScale: Float = 0, generator: inout Generator) throws {
        let n = graph.nodeCount
        try require(n > 0, field: "graph", "the graph has no units")
        try require(biasScale.isFinite && biasScale >= 0, field: "biasScale", "must be finite and >= 0, got \(numberText(biasScale))")
        try require(weightScale.isFinite && weightScale >= 0, field: "weightScale", "must be finite and >= 0, got \(numberText(weightScale))")
        try require(graph.edgeCount == 0 || n <= ExactPrior.maxEnumeratedUnits, field: "graph",
                    " \(graph.name) has \(n) units; exact enumeration needs ≤ \(ExactPrior.maxEnumeratedUnits) (or no couplers)")
        self.graph = graph
        bias = try Tensor.randn([n], generator: &generator).mul(biasScale).requiringGrad()
        weights = try Tensor.randn([graph.edgeCount], generator: &generator).mul(weightScale).requiringGrad()
        edgeU = Tensor(graph.edges.map { Float($0.u) })
        edgeV = Tensor(graph.edges.map { Float($0.v) })
    }

    public convenience init(graph: Graph, biasScale: Float = 0, weightScale: Float = 0) throws {
        try self.init(graph: graph, biasScale: biasScale, weightScale: weightScale, generator: &GlobalRandom.generator)
    }

    public var units: Int { graph.nodeCount }
    public var localParameters: [(String, Tensor)] { [("bias", bias), ("weights", weights)] }

    public func energy(_ zeta: Tensor) throws -> Tensor {
        guard zeta.rank == 2, zeta.shape[1] == units else {
            throw ModelError("energy: expected [B, \(units)] latents, got \(zeta.shape)")
        }
        let linear = try zeta.matmul(bias)
        guard graph.edgeCount > 0 else { return linear }
        let pairs = try zeta.indexSelect(1, edgeU) * zeta.indexSelect(1, edgeV)
        return try linear + pairs.matmul(weights)
    }

    /// All 2^N states [2^N, N], state s having unit l = bit l of s.
    private func states() -> Tensor {
        if let s = statesCache { return s }
        let n = units, count = 1 << n
        var v = [Float](repeating: 0, count: count * n)
        for s in 0..<count { for l in 0..<n where (s >> l) & 1 == 1 { v[s * n + l] = 1 } }
        let t = try! Tensor(v, shape: [count, n])
        statesCache = t
        return t
    }

    /// Its log Z gradient is exact (autograd through the enumeration).
    public var negativePhaseIsSampled: Bool { false }

    /// The exact moments (nothing is sampled, no state changes; β_eff is
    /// not tracked, so `betaEffRate` is ignored).
    public func drawNegativePhase(betaEffRate: Float?) throws -> NegativePhase {
        try exactNegativePhase()
    }

    /// Exact log Z by enumeration (Σ softplus(−b) without couplers), its
    /// gradient by autograd; `negativePhase` is not needed (checked for
    /// shape when given).
    public func logZ(negativePhase: NegativePhase?) throws -> Tensor {
        try negativePhase?.check(units: units, edges: graph.edgeCount)
        if graph.edgeCount == 0 { return try bias.neg().softplus().sum() }
        return try energy(states()).neg().logsumexp(0)
    }

    /// p(z) over the enumeration (coupled graphs only).
    private func probabilities() throws -> [Double] {
        try Tensor.noGrad {
            let e = try energy(states()).toArray()
            let m = e.min() ?? 0
            var p = e.map { Foundation.exp(-Double($0 - m)) }
            let s = p.reduce(0, +)
            for i in p.indices { p[i] /= s }
            return p
        }
    }

    /// Exact samples from the enumeration, or `sampler`'s (equally weighted).
    public func sample(_ n: Int, using sampler: (any Sampler)?, generator: inout Generator) throws -> Tensor {
        try require(n >= 0, field: "n", "must be >= 0, got \(n)")
        if let sampler {
            return try Tensor(try samples(of: try checkedMachine("sample"), n, sampler: sampler, generator: &generator).samples,
                              shape: [n, units])
        }
        let N = units
        if graph.edgeCount == 0 {
            let p = Tensor.noGrad { bias.neg().sigmoid() }
            return try Tensor.noGrad { try p.unsqueeze(0).expand([n, N]).contiguous().bernoulli(generator: &generator) }
        }
        let p = try probabilities()
        var cdf = [Double](repeating: 0, count: p.count)
        var acc = 0.0
        for i in p.indices { acc += p[i]; cdf[i] = acc }
        var out = [Float](repeating: 0, count: n * N)
        for r in 0..<n {
            let u = generator.uniformDouble() * acc
            var lo = 0, hi = cdf.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if cdf[mid] < u { lo = mid + 1 } else { hi = mid } }
            for l in 0..<N where (lo >> l) & 1 == 1 { out[r * N + l] = 1 }
        }
        return try Tensor(out, shape: [n, N])
    }

    public func estimateLogZ(generator: inout Generator) throws -> (logZ: Double, error: Double) {
        if graph.edgeCount == 0 {
            return (Tensor.noGrad { bias.toArray().reduce(0.0) { $0 + softplusD(-Double($1)) } }, 0)
        }
        let e = try Tensor.noGrad { try energy(states()).toArray() }
        let m = Double(e.min() ?? 0)
        let s = e.reduce(0.0) { $0 + Foundation.exp(-(Double($1) - m)) }
        return (-m + Foundation.log(s), 0)
    }

    /// Exact log p(z) for every state (coupled graphs; for tests).
    public func enumerate() throws -> (states: Tensor, logProbability: [Double]) {
        let z = graph.edgeCount == 0 && units > ExactPrior.maxEnumeratedUnits ? nil : states()
        guard let z else { throw ModelError("enumerate: too many units (\(units))") }
        let lz = try estimateLogZ(generator: &GlobalRandom.generator).logZ
        let e = try Tensor.noGrad { try energy(z).toArray() }
        return (z, e.map { -Double($0) - lz })
    }
}

@inline(__always) func softplusD(_ x: Double) -> Double { x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x)) }
