#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime
import CModelKernels

/// A classical stand-in for a quantum annealer, sampling the machine's
/// Ising form as the hardware would:
///
/// * the machine's parameters are the programmed problem (h, J) =
///   `bm.toIsing()`; the emulated device samples p(s) ∝ exp(−β_eff E(s)),
///   i.e. the machine scaled by β_eff (Eq. 17: b = β_eff h, W = β_eff J);
/// * control noise: each programming (one per gauge) adds independent
///   Gaussian noise N(0, hNoise²) to every h_l and N(0, jNoise²) to every
///   J_e (Ising units);
/// * spin-reversal transforms: reads are split over `gauges` programmings
///   (the paper's 5 × 200), each with random signs g (h → g h,
///   J_uv → g_u g_v J_uv); samples are mapped back (s = g s'). With
///   `gauges == 1 && !randomGauge` the identity gauge is used;
/// * dynamics: heat-bath sweeps along an anneal s ∈ [0, 1] of
///   `annealSweeps` sweeps; the inverse temperature grows linearly,
///   β(s) = β_eff · s / freezeOut, and the dynamics freeze at
///   s = freezeOut (there β(s) = β_eff); `pauseSweeps` more sweeps are held
///   at the freeze-out point (the paper's anneal-pause), and the rest of
///   the anneal is a quench (no further changes).
///
/// * temperature drift (off when `driftSD` = 0): the device's effective
///   inverse temperature is not a constant but an Ornstein–Uhlenbeck
///   process around `betaEff`, one value per `sample` call (a programming
///   cycle, i.e. one training step's negative phase):
///   β_0 = betaEff, β_{i+1} = betaEff + a·(β_i − betaEff) + σ·√(1 − a²)·ξ_i,
///   a = exp(−1/`driftTime`), σ = `driftSD`, ξ_i ~ N(0, 1) from a stream
///   seeded by `driftSeed` alone (β ≥ 0.01). So β is stationary with mean
///   betaEff, s.d. σ and correlation time `driftTime` calls, and two
///   emulators with the same `driftSeed` (two runs "on the same machine")
///   see the same temperature path — correlated fluctuations, as in the
///   paper's Fig. 13. The path is a pure function of the call index; the
///   index starts at `driftStart` (a resumed run passes its step count) and
///   advances by one per call, shared by every copy of the emulator.
///
/// Returned energies are H(z) under the noiseless machine (β = 1).
/// Stats: "gauges", "beta_eff" (the β this call sampled at), "sweeps"
/// (per read), "drift_step" (the call index, with drift).
public struct AnnealerEmulator: Sampler {
    public var betaEff: Double
    public var hNoise: Double
    public var jNoise: Double
    public var gauges: Int
    public var randomGauge: Bool
    public var annealSweeps: Int
    public var freezeOut: Double
    public var pauseSweeps: Int
    /// Stationary s.d. σ of the drifting inverse temperature (0: no drift).
    public var driftSD: Double
    /// Correlation time of the drift, in `sample` calls (> 0).
    public var driftTime: Double
    /// Seed of the drift's own random stream (the "machine").
    public var driftSeed: UInt64
    /// Call index of the first `sample` call.
    public var driftStart: Int
    private let clock: DriftClock

    public init(betaEff: Double = 1, hNoise: Double = 0, jNoise: Double = 0, gauges: Int = 5,
                randomGauge: Bool = true, annealSweeps: Int = 100, freezeOut: Double = 1,
                pauseSweeps: Int = 0, driftSD: Double = 0, driftTime: Double = 100, driftSeed: UInt64 = 1,
                driftStart: Int = 0) {
        self.betaEff = betaEff; self.hNoise = hNoise; self.jNoise = jNoise; self.gauges = gauges
        self.randomGauge = randomGauge; self.annealSweeps = annealSweeps; self.freezeOut = freezeOut
        self.pauseSweeps = pauseSweeps
        self.driftSD = driftSD; self.driftTime = driftTime; self.driftSeed = driftSeed; self.driftStart = driftStart
        self.clock = DriftClock(next: driftStart)
    }

    /// The drifting β at call index `i` (betaEff without drift): the
    /// Ornstein–Uhlenbeck path described above, a pure function of
    /// (betaEff, driftSD, driftTime, driftSeed, i).
    public func driftBeta(at i: Int) -> Double {
        guard driftSD > 0, i > 0 else { return betaEff }
        return clock.path(upTo: i, seed: driftSeed, mean: betaEff, sd: driftSD, time: driftTime)
    }

    /// The index of the next `sample` call.
    public var driftStep: Int { clock.next }

    /// The β of every sweep one read experiences (at the final β `beta`).
    public func schedule(beta: Double? = nil) throws -> [Double] {
        try validate()
        let b = beta ?? betaEff
        let ramp = max(1, Int((freezeOut * Double(annealSweeps)).rounded()))
        return (1...ramp).map { b * Double($0) / Double(ramp) }
            + [Double](repeating: b, count: pauseSweeps)
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try checkCount(count, "annealer emulator", units: bm.units)
        try require(count >= gauges, "emulator: \(count) reads cannot be split over \(gauges) gauges")
        let step = clock.advance()
        let beta = driftBeta(at: step)
        let betas = try schedule(beta: beta).map { Float($0) }
        let sched = SweepSchedule(bb: betas, bw: betas)
        let ising = bm.toIsing()
        let n = bm.units
        var out = [Float](repeating: 0, count: count * n)
        var done = 0
        for gi in 0..<gauges {
            let reads = count / gauges + (gi < count % gauges ? 1 : 0)
            var g = generator.split()
            let signs: [Float] = (randomGauge || gauges > 1) ? (0..<n).map { _ in g.next() >> 63 == 0 ? -1 : 1 }
                                                             : [Float](repeating: 1, count: n)
            var programmed = try ising.gauged(signs)
            if hNoise > 0 { for l in 0..<n { programmed.h[l] += Float(hNoise) * g.normal() } }
            if jNoise > 0 { for k in programmed.J.indices { programmed.J[k] += Float(jNoise) * g.normal() } }
            let device = try BoltzmannMachine(ising: programmed)
            let s = ChainState(units: n, chains: reads)
            s.fill { _, _ in Float(g.next() >> 63) }
            var streams = SweepKernel.makeStreams(tiles: s.tiles, generator: &g)
            try SweepKernel(device).run(.heatBath, state: s, streams: &streams, schedule: sched)
            let z = s.extract()
            for r in 0..<reads {
                for l in 0..<n {
                    // s' = 2z' − 1, s = g s', z = (1 + s)/2
                    let sp = 2 * z[r * n + l] - 1
                    out[(done + r) * n + l] = (1 + signs[l] * sp) / 2
                }
            }
            done += reads
        }
        let e = try bm.energies(out, batch: count)
        return SampleSet(units: n, samples: out, energies: e,
                         stats: driftSD > 0 ? ["gauges": Double(gauges), "beta_eff": beta, "sweeps": Double(betas.count),
                                               "drift_step": Double(step)]
                                            : ["gauges": Double(gauges), "beta_eff": beta, "sweeps": Double(betas.count)])
    }
}

/// The emulator's call counter and cached drift path (shared by copies).
final class DriftClock: @unchecked Sendable {
    var next: Int
    private var cache: [Double] = []
    private var key: (UInt64, Double, Double, Double)? = nil
    private var generator = Generator(seed: 0)
    init(next: Int) { self.next = next }

    func advance() -> Int { defer { next += 1 }; return next }

    func path(upTo i: Int, seed: UInt64, mean: Double, sd: Double, time: Double) -> Double {
        if key == nil || key! != (seed, mean, sd, time) {
            key = (seed, mean, sd, time); cache = [mean]; generator = Generator(seed: seed)
        }
        let a = exp(-1 / max(time, 1e-9)), c = sd * (1 - a * a).squareRoot()
        while cache.count <= i {
            let prev = cache[cache.count - 1]
            cache.append(max(0.01, mean + a * (prev - mean) + c * Double(generator.normal())))
        }
        return cache[i]
    }
}
