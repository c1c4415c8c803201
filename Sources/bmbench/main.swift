// bmbench: timings of the Boltzmann-machine samplers (BENCHMARKS.md,
// "Boltzmann machines and samplers"). Build with
//   swift build -c release --product bmbench
// and run .build/release/bmbench [gibbs|gibbs-full|sa|ais|pa|all] [repeats].
import Runtime
import Model
#if canImport(Glibc)
import Glibc
#endif

BLASKernels.relaunchWithFastKernelsIfNeeded()

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ x: [Double]) -> Double { let s = x.sorted(); return s[s.count / 2] }

func time(_ label: String, repeats: Int, _ body: () throws -> String) rethrows -> Double {
    _ = try body()   // warm-up
    var ts: [Double] = []
    var note = ""
    for _ in 0..<repeats {
        let t0 = now()
        note = try body()
        ts.append(now() - t0)
    }
    let m = median(ts)
    print("\(label): median \(f(m, 4)) s (min \(f(ts.min()!, 4)), max \(f(ts.max()!, 4)), n=\(repeats)) \(note)")
    return m
}

func f(_ x: Double, _ digits: Int) -> String {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    return "\((x * p).rounded() / p)"
}

let args = CommandLine.arguments
let what = args.count > 1 ? args[1] : "all"
let repeats = args.count > 2 ? Int(args[2]) ?? 5 : 5
print("bmbench: \(Parallel.threads) threads, kernel level \(SamplerInfo.kernelLevel)")

var gen = Generator(seed: 2024)
let chimera = try Graph.chimera(m: 6)
let bm = try BoltzmannMachine.random(graph: chimera, biasScale: 0.5, weightScale: 0.5, generator: &gen)

if what == "gibbs" || what == "all" {
    let sweeps = 100
    let s = BlockGibbsSampler(sweeps: sweeps)
    _ = try s.sample(bm, count: 1000, generator: &gen)
    let t = try time("block Gibbs C(6,6,4), 1000 chains × \(sweeps) sweeps", repeats: repeats) {
        _ = try s.sample(bm, count: 1000, generator: &gen); return ""
    }
    let rate = Double(sweeps) / t
    let updates = rate * 1000 * 288
    print("  -> \(Int(rate.rounded())) full sweeps/s (1000 chains), \(f(updates / 1e6, 1)) M spin updates/s")
}
if what == "gibbs-full" || what == "all" {
    let full = try BoltzmannMachine.random(graph: try Graph.fullBipartite(144, 144), biasScale: 0.5,
                                           weightScale: 0.05, generator: &gen)
    let sweeps = 20
    let s = BlockGibbsSampler(sweeps: sweeps)
    _ = try s.sample(full, count: 1000, generator: &gen)
    let t = try time("block Gibbs K(144,144), 1000 chains × \(sweeps) sweeps", repeats: repeats) {
        _ = try s.sample(full, count: 1000, generator: &gen); return ""
    }
    print("  -> \(Int((Double(sweeps) / t).rounded())) full sweeps/s (1000 chains)")
}
if what == "sa" || what == "all" {
    let sa = SimulatedAnnealing(sweeps: 1000)
    _ = try time("SA C(6,6,4), 1000 reads × 1000 sweeps", repeats: repeats) {
        let r = try sa.sample(bm, count: 1000, generator: &gen)
        return "min E \(r.energies.min()!)"
    }
}
if what == "ais" || what == "all" {
    let ais = AnnealedImportanceSampling(temperatures: 1000)
    _ = try time("AIS log Z C(6,6,4), 1000 chains × 1000 β", repeats: repeats) {
        let e = try ais.run(bm, chains: 1000, generator: &gen).estimate
        return "\(e)"
    }
}
if what == "pa" || what == "all" {
    let pa = PopulationAnnealing(temperatures: 1000, populations: 4)
    _ = try time("PA log Z C(6,6,4), 4×1000 replicas × 1000 β", repeats: max(1, repeats / 2)) {
        let e = try pa.estimateLogZ(bm, replicas: 4000, generator: &gen)
        return "\(e)"
    }
}
