#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime
import CModelKernels

/// A QBM prepared for the path-integral kernel (`qvm_pimc_sweeps`): the
/// classical part in CSR form, the update order and K⊥ per site.
///
/// The Suzuki–Trotter path weight of M slices z^0..z^{M−1} (periodic) is
/// Π_l C_l^M · exp(−λ Σ_k H_cl(z^k)/M + Σ_{k,l} K⊥_l s_l^k s_l^{k+1}), s = 2z − 1,
/// K⊥_l = −½ ln tanh(Γ_l/M), C_l² = ½ sinh(2Γ_l/M); its slice-0 marginal
/// is p(z) of Eq. 13 up to O(1/M²) (λ = 1). The chains of M slices are
/// stored as `ChainState`s of N·M units, unit l of slice k at k·N + l.
struct PathIntegralKernel {
    let units: Int
    let slices: Int
    let order: [Int32]
    let rowStart: [Int32]
    let neighbors: [Int32]
    let w: [Float]
    let bias: [Float]
    let kperp: [Float]

    init(_ q: QuantumBoltzmannMachine, slices: Int) {
        let g = q.graph
        units = g.nodeCount
        self.slices = slices
        order = g.independentSets.flatMap { $0 }.map { Int32($0) }
        rowStart = g.rowStart
        neighbors = g.neighbors
        w = g.neighborEdge.map { q.machine.weights[Int($0)] }
        bias = q.machine.bias
        kperp = q.imaginaryTimeCoupling(slices: slices).map { Float($0) }
    }

    /// Runs one sweep per entry of `scale` (the classical scale λ/M of
    /// that sweep) on every tile, in parallel over tiles, checking for
    /// Ctrl-C between blocks. `logw` (paddedChains) accumulates
    /// −cscale[s]·Σ_k H_cl(z^k) before sweep s (AIS); `ecl` (paddedChains)
    /// receives (1/M) Σ_k H_cl(z^k) at the end.
    func run(state: ChainState, streams: inout [qvm_rng_t], scale: [Float], cscale: [Float]? = nil,
             logw: UnsafeMutablePointer<Double>? = nil, ecl: UnsafeMutablePointer<Double>? = nil) throws {
        precondition(streams.count == state.tiles && state.units == units * slices)
        let T = ChainState.tileWidth
        // about 2^22 spin updates (local + cluster) per tile between interrupt checks
        try forEachSweepBlock(total: scale.count, perSweep: 2 * units * slices * T, updates: 1 << 22) { start, n, last in
            order.withUnsafeBufferPointer { op in
            rowStart.withUnsafeBufferPointer { rp in
            neighbors.withUnsafeBufferPointer { np in
            w.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in
            kperp.withUnsafeBufferPointer { kp in
            scale.withUnsafeBufferPointer { sp in
            (cscale ?? []).withUnsafeBufferPointer { cp in
            streams.withUnsafeMutableBufferPointer { rng in
                Parallel.forEachChunk(count: state.tiles, chunks: state.tiles) { t, _ in
                    let off = t * T
                    qvm_pimc_sweeps(Int32(units), Int32(slices), op.baseAddress, rp.baseAddress, np.baseAddress,
                                    wp.baseAddress, bp.baseAddress, kp.baseAddress, state.tile(t), Int32(T), Int32(n),
                                    sp.baseAddress.map { $0 + start },
                                    logw == nil ? nil : cp.baseAddress.map { $0 + start },
                                    logw.map { $0 + off },
                                    last ? ecl.map { $0 + off } : nil,
                                    rng.baseAddress! + t)
                }
            } } } } } } } } }
        }
    }

    /// Sets every chain to a world line constant in imaginary time: one
    /// uniformly random classical state copied to all slices (a valid
    /// start for any Γ, the only one for Γ = 0).
    func fillConstantWorldLines(_ s: ChainState, generator: inout Generator) {
        var bits = [Float](repeating: 0, count: s.paddedChains * units)
        for i in bits.indices { bits[i] = Float(generator.next() >> 63) }
        s.fill { c, u in bits[c * units + u % units] }
    }

    /// Sets every chain to an exact sample of the λ = 0 path weight:
    /// independent Ising rings of M spins with coupling K⊥_l (s^0 uniform,
    /// each link flipped with probability 1/(1 + e^{2K}), conditioned by
    /// rejection on an even number of flips).
    func fillFreeRings(_ s: ChainState, generator: inout Generator) {
        let m = slices
        let q = kperp.map { $0.isFinite ? 1 / (1 + exp(2 * Double($0))) : 0 }
        var ring = [Float](repeating: 0, count: m)
        var values = [Float](repeating: 0, count: s.paddedChains * units * m)
        for c in 0..<s.paddedChains {
            for l in 0..<units {
                var z: Float = Float(generator.next() >> 63)
                while true {
                    var flips = 0
                    z = Float(generator.next() >> 63)
                    for k in 0..<m {
                        ring[k] = z
                        if generator.uniformDouble() < q[l] { z = 1 - z; flips += 1 }
                    }
                    if flips % 2 == 0 { break }
                }
                for k in 0..<m { values[(c * m + k) * units + l] = ring[k] }
            }
        }
        s.fill { c, u in values[c * units * m + u] }
    }
}

/// A sampler of the quantum Boltzmann machine that a classical machine
/// and this sampler's Γ define (PIMC, continuous-time PIMC): as a
/// `Sampler` of a `BoltzmannMachine` it returns the QBM's samples, so it
/// can serve as a prior's negative-phase sampler.
public protocol TransverseFieldSampler: Sampler {
    /// Γ: one value for every unit, or one per unit.
    var gamma: [Float] { get }
    /// `count` samples of the QBM `q` with the ⟨σx⟩ estimate.
    func sample(_ q: QuantumBoltzmannMachine, count: Int, generator: inout Generator) throws -> PathIntegralResult
}

extension TransverseFieldSampler {
    /// The QBM this sampler samples for a classical machine.
    public func quantumMachine(_ bm: BoltzmannMachine) throws -> QuantumBoltzmannMachine {
        if gamma.count == 1 { return try QuantumBoltzmannMachine(machine: bm, gamma: gamma[0]) }
        return try QuantumBoltzmannMachine(machine: bm, gamma: gamma)
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try sample(try quantumMachine(bm), count: count, generator: &generator).samples
    }
}

/// Path-integral chains hold N·M floats each: refuse more than 2^30 spins
/// in all (4 GiB), and paths whose few copies (the chains' tiles, the
/// extracted paths, the returned rows: 3 × 4 bytes a spin) exceed the
/// machine's physical memory, instead of failing to allocate.
func checkPathSize(units: Int, slices: Int, chains: Int, _ who: String) throws {
    let width = units.multipliedReportingOverflow(by: slices)
    let spins = width.partialValue.multipliedReportingOverflow(by: chains)
    try require(!width.overflow && !spins.overflow && spins.partialValue <= 1 << 30,
                "\(who): \(chains) chains × \(slices) slices × \(units) units is too many spins (at most 2^30)")
    let bytes = spins.partialValue * 12
    try require(bytes <= Storage.maxBytes,
                "\(who): cannot allocate \(bytes) bytes for \(chains) chains × \(slices) slices × \(units) units (the machine has \(Storage.maxBytes) bytes of memory)")
}

/// The estimator ⟨σx_l⟩ per chain from its world lines: with n_l kinks
/// (slices k where s^k ≠ s^{k+1}) out of M,
/// ⟨σx_l⟩ = −(1/M)[(M − n_l) tanh(Γ_l/M) + n_l coth(Γ_l/M)] = −∂ log Z/∂Γ_l
/// of the Trotterized system (negative for Eq. 13's +Γσx). Returns the
/// mean over the first `chains` chains of `state` (N·M units, slice-major)
/// and its standard error, per unit.
func sigmaXEstimate(_ state: ChainState, chains: Int, units n: Int, slices m: Int,
                    gamma: [Float]) -> (mean: [Double], error: [Double]) {
    let T = ChainState.tileWidth
    var s1 = [Double](repeating: 0, count: n), s2 = [Double](repeating: 0, count: n)
    var kinks = [Int](repeating: 0, count: T)
    for t in 0..<state.tiles {
        let tp = state.tile(t), lanes = min(T, chains - t * T)
        for l in 0..<n {
            let x = Double(gamma[l]) / Double(m)
            guard x > 0 else { continue }
            for c in 0..<T { kinks[c] = 0 }
            for k in 0..<m {
                let a = tp + (k * n + l) * T, b = tp + (((k + 1) % m) * n + l) * T
                for c in 0..<T where a[c] != b[c] { kinks[c] += 1 }
            }
            let th = tanh(x)
            for c in 0..<lanes {
                let v = -(Double(m - kinks[c]) * th + Double(kinks[c]) / th) / Double(m)
                s1[l] += v; s2[l] += v * v
            }
        }
    }
    let k = Double(chains)
    let mean = s1.map { $0 / k }
    let err = (0..<n).map { l in (max(0, s2[l] / k - mean[l] * mean[l]) / max(1, k - 1)).squareRoot() }
    return (mean, err)
}

/// What a path-integral run returns besides the samples.
public struct PathIntegralResult {
    /// Slice-0 configurations (count × N), or all slices of every chain
    /// ((count·M) × N, chain-major) with `allSlices`; energies are H_cl.
    public var samples: SampleSet
    /// ⟨σx_l⟩ over the chains and its standard error (see `sigmaXEstimate`).
    public var sigmaX: [Double]
    public var sigmaXError: [Double]
}

/// Path-integral Monte Carlo (Suzuki–Trotter, M = `slices`) of the quantum
/// Boltzmann distribution of a `QuantumBoltzmannMachine`, with persistent
/// chains for the PCD-style negative phase of Eq. 16.
///
/// A sweep is a heat-bath pass over every spin of every slice followed by
/// Swendsen–Wang cluster moves of each site's world line along imaginary
/// time (bonds 1 − e^{−2K⊥}), so small Γ (large K⊥) does not freeze the
/// chains: at Γ = 0 the world lines are rigid and the cluster move is the
/// classical heat bath (Metropolis) of the whole line, i.e. the classical BM.
/// Chains are (re)initialized with constant world lines of a random state,
/// then `burnIn` extra sweeps, on the first call, when the count, units or
/// slices change, after `reset()`, or on every call when not `persistent`.
/// Work runs on all cores over tiles of 32 chains (one random stream per
/// tile). The Trotter error of p(z) is O(1/M²).
///
/// As a `Sampler` of a classical `BoltzmannMachine` it samples the QBM with
/// that machine as its diagonal part and this sampler's Γ, so it can serve
/// as a prior's negative-phase sampler. Stats: "sweeps", "chains",
/// "slices", "gamma" (mean Γ), "sigma_x" (mean ⟨σx⟩ over units).
public final class PathIntegralSampler: TransverseFieldSampler {
    /// Γ: one value for every unit, or one per unit.
    public var gamma: [Float]
    public var slices: Int
    public var sweeps: Int
    public var burnIn: Int
    public var persistent: Bool
    /// Return every slice of every chain as a sample (M× the rows, more
    /// information per sweep for averages) instead of slice 0 only.
    public var allSlices: Bool
    var state: ChainState?

    public init(gamma: [Float], slices: Int = 16, sweeps: Int = 10, burnIn: Int = 100,
                persistent: Bool = true, allSlices: Bool = false) {
        self.gamma = gamma; self.slices = slices; self.sweeps = sweeps; self.burnIn = burnIn
        self.persistent = persistent; self.allSlices = allSlices
    }

    public convenience init(gamma: Float, slices: Int = 16, sweeps: Int = 10, burnIn: Int = 100,
                            persistent: Bool = true, allSlices: Bool = false) {
        self.init(gamma: [gamma], slices: slices, sweeps: sweeps, burnIn: burnIn,
                  persistent: persistent, allSlices: allSlices)
    }

    /// Number of persistent chains (0 before the first call).
    public var chains: Int { state?.chains ?? 0 }

    /// Drops the persistent chains.
    public func reset() { state = nil }

    /// The persistent chains as chains × (N·M) values (slice-major), or nil.
    public var chainStates: [Float]? { state?.extract() }

    /// Sets the persistent chains from chain-major {0,1} paths of
    /// `units` · `slices` values each.
    public func setChains(_ paths: [Float], units: Int) throws {
        let width = units * slices
        try require(width > 0 && !paths.isEmpty && paths.count % width == 0,
                    "setChains: \(paths.count) values is not a whole number of \(units)-unit × \(slices)-slice paths")
        try require(paths.allSatisfy { $0 == 0 || $0 == 1 }, "setChains: path values must be 0 or 1")
        let s = ChainState(units: width, chains: paths.count / width)
        paths.withUnsafeBufferPointer { s.load($0) }
        state = s
    }

    /// `count` chains advanced by `sweeps` sweeps: their slice-0 (or all)
    /// configurations and the ⟨σx⟩ estimate.
    public func sample(_ q: QuantumBoltzmannMachine, count: Int, generator: inout Generator) throws -> PathIntegralResult {
        let r = try advance(q, count: count, generator: &generator)
        let n = q.units, m = slices, s = r.state
        let sx = sigmaXEstimate(s, chains: count, units: n, slices: m, gamma: q.gamma)
        let paths = s.extract()
        let rows: [Float]
        if allSlices {
            rows = paths
        } else {
            var out = [Float](repeating: 0, count: count * n)
            for c in 0..<count { for l in 0..<n { out[c * n + l] = paths[c * n * m + l] } }
            rows = out
        }
        let k = rows.count / n
        let energies = try q.machine.energies(rows, batch: k)
        let set = SampleSet(units: n, samples: rows, energies: energies,
                            stats: ["sweeps": Double(r.sweeps), "chains": Double(count), "slices": Double(m),
                                    "gamma": q.gamma.reduce(0.0) { $0 + Double($1) } / Double(max(1, n)),
                                    "sigma_x": sx.mean.reduce(0, +) / Double(max(1, n))])
        return PathIntegralResult(samples: set, sigmaX: sx.mean, sigmaXError: sx.error)
    }

    /// One call's work, shared by `sample` and the quantum prior's negative
    /// phase: checks the settings, (re)initializes the chains when needed
    /// (constant world lines, then `burnIn` extra sweeps) and runs the
    /// sweeps. Returns the chains, the sweeps run and the mean over chains
    /// of (1/M) Σ_k H_cl(z^k).
    func advance(_ q: QuantumBoltzmannMachine, count: Int, generator: inout Generator) throws
        -> (state: ChainState, sweeps: Int, meanEnergy: Double) {
        try checkCount(count, "path integral")
        try validate()
        try require(q.machine.bias.allSatisfy { $0.isFinite } && q.machine.weights.allSatisfy { $0.isFinite },
                    "path integral: parameters must be finite")
        let n = q.units, m = slices
        try checkPathSize(units: n, slices: m, chains: count, "path integral")
        let kernel = PathIntegralKernel(q, slices: m)
        var extra = 0
        if !persistent || state == nil || state!.chains != count || state!.units != n * m {
            let s = ChainState(units: n * m, chains: count)
            var g = generator.split()
            kernel.fillConstantWorldLines(s, generator: &g)
            state = s
            extra = burnIn
        }
        let s = state!
        var streams = SweepKernel.makeStreams(tiles: s.tiles, generator: &generator)
        var ecl = [Double](repeating: 0, count: s.paddedChains)
        try ecl.withUnsafeMutableBufferPointer { e in
            try kernel.run(state: s, streams: &streams,
                           scale: [Float](repeating: 1 / Float(m), count: sweeps + extra), ecl: e.baseAddress)
        }
        return (s, sweeps + extra, ecl[0..<count].reduce(0, +) / Double(count))
    }
}

/// Quantum log Z with an error bar, for machines too large to diagonalize:
/// annealed importance sampling on the M-slice Trotterized system along
/// λ ∈ [0, 1], path weight ∝ exp(−λ Σ_k H_cl(z^k)/M + Σ K⊥ s s). At λ = 0
/// the sites are free spins in their transverse fields (exact samples of
/// independent imaginary-time rings, log Z_0 = Σ_l log 2cosh Γ_l); each
/// temperature applies the weight increment −Δλ Σ_k H_cl/M and
/// `sweepsPerStep` PIMC sweeps (local + cluster) at the new λ. The result
/// estimates log Z_M, whose Trotter error O(1/M²) is not in the error bar
/// (the delta-method standard error of log mean w over the chains).
public struct QuantumAnnealedImportanceSampling {
    public var temperatures: Int
    public var slices: Int
    public var sweepsPerStep: Int

    public init(temperatures: Int = 1000, slices: Int = 32, sweepsPerStep: Int = 1) {
        self.temperatures = temperatures; self.slices = slices; self.sweepsPerStep = sweepsPerStep
    }

    public func estimateLogZ(_ q: QuantumBoltzmannMachine, chains: Int, generator: inout Generator) throws -> LogZEstimate {
        try checkCount(chains, "quantum AIS")
        try require(temperatures >= 1 && sweepsPerStep >= 1, "quantum AIS: temperatures and sweepsPerStep must be >= 1")
        try require(slices >= 2 && slices <= 1024, "quantum AIS: slices must be in 2...1024, got \(slices)")
        try require(q.machine.bias.allSatisfy { $0.isFinite } && q.machine.weights.allSatisfy { $0.isFinite },
                    "quantum AIS: parameters must be finite")
        try checkPathSize(units: q.units, slices: slices, chains: chains, "quantum AIS")
        let m = Float(slices)
        var scale: [Float] = [], cscale: [Float] = []
        var prev = 0.0
        for t in 1...temperatures {
            let lam = Double(t) / Double(temperatures)
            for s in 0..<sweepsPerStep {
                scale.append(Float(lam) / m)
                cscale.append(s == 0 ? Float(lam - prev) / m : 0)
            }
            prev = lam
        }
        let kernel = PathIntegralKernel(q, slices: slices)
        let st = ChainState(units: q.units * slices, chains: chains)
        var g = generator.split()
        kernel.fillFreeRings(st, generator: &g)
        var streams = SweepKernel.makeStreams(tiles: st.tiles, generator: &generator)
        var logw = [Double](repeating: 0, count: st.paddedChains)
        try logw.withUnsafeMutableBufferPointer { lw in
            try kernel.run(state: st, streams: &streams, scale: scale, cscale: cscale, logw: lw.baseAddress)
        }
        let r = logMeanExp(Array(logw[0..<chains]))
        return LogZEstimate(logZ: q.freeSpinLogZ + r.value, error: r.error,
                            stats: ["ess": r.ess, "chains": Double(chains), "temperatures": Double(temperatures),
                                    "slices": Double(slices)])
    }
}
