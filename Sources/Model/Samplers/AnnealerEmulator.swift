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
/// Returned energies are H(z) under the noiseless machine (β = 1).
/// Stats: "gauges", "beta_eff", "sweeps" (per read).
public struct AnnealerEmulator: Sampler {
    public var betaEff: Double
    public var hNoise: Double
    public var jNoise: Double
    public var gauges: Int
    public var randomGauge: Bool
    public var annealSweeps: Int
    public var freezeOut: Double
    public var pauseSweeps: Int

    public init(betaEff: Double = 1, hNoise: Double = 0, jNoise: Double = 0, gauges: Int = 5,
                randomGauge: Bool = true, annealSweeps: Int = 100, freezeOut: Double = 1,
                pauseSweeps: Int = 0) {
        self.betaEff = betaEff; self.hNoise = hNoise; self.jNoise = jNoise; self.gauges = gauges
        self.randomGauge = randomGauge; self.annealSweeps = annealSweeps; self.freezeOut = freezeOut
        self.pauseSweeps = pauseSweeps
    }

    /// The β of every sweep one read experiences.
    public func schedule() throws -> [Double] {
        try validate()
        let ramp = max(1, Int((freezeOut * Double(annealSweeps)).rounded()))
        return (1...ramp).map { betaEff * Double($0) / Double(ramp) }
            + [Double](repeating: betaEff, count: pauseSweeps)
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try checkCount(count, "annealer emulator")
        try require(count >= gauges, "emulator: \(count) reads cannot be split over \(gauges) gauges")
        let betas = try schedule().map { Float($0) }
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
                         stats: ["gauges": Double(gauges), "beta_eff": betaEff, "sweeps": Double(betas.count)])
    }
}
