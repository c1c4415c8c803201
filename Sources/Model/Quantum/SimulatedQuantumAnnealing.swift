#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime

/// An annealing schedule A(s), B(s) on s ∈ [0, 1] (Section II:
/// H(s) = A(s) Σ σx + B(s) [Σ h σz + Σ J σz σz]), linearly interpolated
/// between tabulated points.
///
/// File format (`parse`): CSV lines `s,A,B` (energies in one unit, e.g. GHz),
/// s strictly increasing from 0 to 1; blank lines, `#` comments and one
/// non-numeric header line are skipped. D-Wave publishes one table per
/// processor, in the convention H = −A/2 Σσx + B/2 (Σ h σz + Σ J σz σz):
/// halve both columns to use it here (the sign of the σx term does not
/// change the diagonal distribution, see `QuantumBoltzmannMachine`).
public struct AnnealingSchedule: Sendable {
    public let s: [Double]
    public let a: [Double]
    public let b: [Double]

    public init(s: [Double], a: [Double], b: [Double]) throws {
        try require(s.count >= 2 && a.count == s.count && b.count == s.count,
                    "annealing schedule: need >= 2 points with s, A and B each")
        try require(abs(s.first!) < 1e-12 && abs(s.last! - 1) < 1e-12, "annealing schedule: s must run from 0 to 1")
        try require(zip(s, s.dropFirst()).allSatisfy { $0 < $1 }, "annealing schedule: s must be strictly increasing")
        try require((a + b).allSatisfy { $0.isFinite && $0 >= 0 }, "annealing schedule: A and B must be finite and >= 0")
        self.s = s; self.a = a; self.b = b
    }

    /// Parses CSV text `s,A,B` (see the type's documentation).
    public static func parse(_ text: String) throws -> AnnealingSchedule {
        var s: [Double] = [], a: [Double] = [], b: [Double] = []
        var headerSeen = false
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.isEmpty { continue }
            let cells = line.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            if cells.count == 3, let x = cells[0], let y = cells[1], let z = cells[2] {
                s.append(x); a.append(y); b.append(z)
            } else if !headerSeen && s.isEmpty {
                headerSeen = true
            } else {
                throw ModelError("annealing schedule: line \(i + 1) is not 's,A,B': \(line)")
            }
        }
        return try AnnealingSchedule(s: s, a: a, b: b)
    }

    /// Reads a schedule file.
    public static func load(path: String) throws -> AnnealingSchedule {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelError("annealing schedule: cannot read \(path)")
        }
        return try parse(text)
    }

    /// (A(x), B(x)) by linear interpolation.
    public func callAsFunction(_ x: Double) -> (a: Double, b: Double) {
        let t = min(max(x, 0), 1)
        var i = 0
        while i < s.count - 2 && s[i + 1] < t { i += 1 }
        let w = (t - s[i]) / (s[i + 1] - s[i])
        return (a[i] + w * (a[i + 1] - a[i]), b[i] + w * (b[i + 1] - b[i]))
    }
}

/// Simulated quantum annealing as an annealer emulator (Section II): PIMC
/// chains follow the thermal state of H(s) at the physical temperature T
/// while s runs from 0 to the freeze-out point s*, where the dynamics
/// freeze; the reads are slice 0 of each chain at s*. So the emulator
/// samples the QBM of Eq. 17: Γ = β A(s*), b, W = β_eff (h, J) with
/// β_eff = B(s*)/T, Γ* = A(s*)/B(s*) (β = 1/T, T in the schedule's unit).
///
/// The programmed problem is the machine's Ising form (h, J) = `bm.toIsing()`
/// (σz = 2z − 1), as for `AnnealerEmulator`. At step t of `steps` (s_t =
/// s* t/steps) the chains run `sweepsPerStep` PIMC sweeps (local heat bath
/// and imaginary-time clusters) of the M-slice system with classical scale
/// β B(s_t) and K⊥ from β A(s_t); `pauseSweeps` more sweeps are held at s*
/// (an anneal pause). They start from exact samples of the free spins in
/// the field β A(0) (B(0) is neglected at the start).
///
/// Returned energies are H(z) of the machine (β = 1). Stats: "beta_eff",
/// "gamma" (= β A(s*)), "gamma_star", "slices", "sweeps".
public struct SimulatedQuantumAnnealing: Sampler {
    public var schedule: AnnealingSchedule
    public var temperature: Double
    public var freezeOut: Double
    public var steps: Int
    public var sweepsPerStep: Int
    public var pauseSweeps: Int
    public var slices: Int

    public init(schedule: AnnealingSchedule, temperature: Double, freezeOut: Double, steps: Int = 100,
                sweepsPerStep: Int = 1, pauseSweeps: Int = 0, slices: Int = 16) {
        self.schedule = schedule; self.temperature = temperature; self.freezeOut = freezeOut
        self.steps = steps; self.sweepsPerStep = sweepsPerStep; self.pauseSweeps = pauseSweeps; self.slices = slices
    }

    /// β_eff = B(s*)/T and Γ = A(s*)/T of the QBM the emulator samples (Eq. 17).
    public var frozenParameters: (betaEff: Double, gamma: Double) {
        let (a, b) = schedule(freezeOut)
        return (b / temperature, a / temperature)
    }

    /// The QBM of Eq. 17 that the reads follow (for a slow enough anneal).
    public func frozenMachine(_ bm: BoltzmannMachine) throws -> QuantumBoltzmannMachine {
        let (be, g) = frozenParameters
        return try QuantumBoltzmannMachine(machine: bm.scaled(by: Float(be)), gamma: Float(g))
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try checkCount(count, "SQA")
        try validate()
        let n = bm.units, m = slices
        try checkPathSize(units: n, slices: m, chains: count, "SQA")
        let beta = 1 / temperature
        let st = ChainState(units: n * m, chains: count)
        var g = generator.split()
        try PathIntegralKernel(QuantumBoltzmannMachine(machine: bm, gamma: Float(beta * schedule(0).a)), slices: m)
            .fillFreeRings(st, generator: &g)
        var streams = SweepKernel.makeStreams(tiles: st.tiles, generator: &generator)
        for t in 1...(steps + 1) {
            let x = freezeOut * Double(min(t, steps)) / Double(steps)
            let (a, b) = schedule(x)
            let kernel = PathIntegralKernel(try QuantumBoltzmannMachine(machine: bm, gamma: Float(beta * a)), slices: m)
            let sweeps = t <= steps ? sweepsPerStep : pauseSweeps
            if sweeps > 0 {
                try kernel.run(state: st, streams: &streams,
                               scale: [Float](repeating: Float(beta * b) / Float(m), count: sweeps))
            }
        }
        let paths = st.extract()
        var out = [Float](repeating: 0, count: count * n)
        for c in 0..<count { for l in 0..<n { out[c * n + l] = paths[c * n * m + l] } }
        let (be, gam) = frozenParameters
        let (a, b) = schedule(freezeOut)
        return SampleSet(units: n, samples: out, energies: try bm.energies(out, batch: count),
                         stats: ["beta_eff": be, "gamma": gam, "gamma_star": b > 0 ? a / b : .infinity,
                                 "slices": Double(m), "sweeps": Double(steps * sweepsPerStep + pauseSweeps)])
    }
}
