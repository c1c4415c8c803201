// bmbench: timings of the Boltzmann-machine samplers (BENCHMARKS.md,
// "Boltzmann machines and samplers"). Build with
//   swift build -c release --product bmbench
// and run .build/release/bmbench [gibbs|gibbs-full|sa|ais|pa|prior|all] [repeats].
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

if what == "prior" || what == "all" {
    // The prior's share of a P-dense training step: energy forward+backward
    // on ζ [100, 288] (gradients w.r.t. ζ, b, W), and the log Z negative
    // phase (PCD, 1000 chains × 10 sweeps) with its backward.
    let reps = max(repeats, 20)
    func stepTimes(_ label: String, _ graph: Graph, denseThreshold: Double) throws {
        let saved = BoltzmannPrior.denseThreshold
        BoltzmannPrior.denseThreshold = denseThreshold
        defer { BoltzmannPrior.denseThreshold = saved }
        var g = Generator(seed: 7)
        let prior = try BoltzmannPrior(graph: graph, biasInit: 0, weightScale: 0.1, generator: &g)
        let zeta = try Tensor.rand([100, graph.nodeCount], generator: &g).requiringGrad()
        let path = graph.edgeCount == 0 ? "exact" : (prior.usesDenseKernels ? "sgemm" : "sparse")
        let te = try time("  \(label) [\(path)] energy fwd+bwd [100,\(graph.nodeCount)]", repeats: reps) {
            zeta.grad = nil; prior.bias.grad = nil; prior.weights.grad = nil
            try prior.energy(zeta).sum().backward(); return ""
        }
        _ = try prior.logZ()  // chains initialized (burn-in) outside the timing
        let tz = try time("  \(label) [\(path)] logZ negative phase + bwd (1000 chains × 10 sweeps)", repeats: reps) {
            prior.bias.grad = nil; prior.weights.grad = nil
            try prior.logZ().backward(); return ""
        }
        print("  -> \(label): \(f(te * 1e3, 3)) ms energy + \(f(tz * 1e3, 3)) ms logZ = \(f((te + tz) * 1e3, 3)) ms per step")
    }
    print("prior (BoltzmannPrior), batch 100:")
    try stepTimes("chimera C(6,6,4)", chimera, denseThreshold: BoltzmannPrior.denseThreshold)
    try stepTimes("chimera C(6,6,4) forced sgemm", chimera, denseThreshold: 0)
    let full = try Graph.fullBipartite(144, 144)
    try stepTimes("full K(144,144)", full, denseThreshold: BoltzmannPrior.denseThreshold)
    try stepTimes("full K(144,144) forced sparse", full, denseThreshold: 2)
    try stepTimes("bernoulli(288)", try Graph.bernoulli(288), denseThreshold: BoltzmannPrior.denseThreshold)
    // In a training step the negative phase follows the network's GEMMs;
    // OpenBLAS worker threads spin after a GEMM (OPENBLAS_THREAD_TIMEOUT)
    // and compete with the sweep kernels for the cores.
    do {
        var g = Generator(seed: 9)
        let prior = try BoltzmannPrior(graph: chimera, biasInit: 0, weightScale: 0.1, generator: &g)
        let x = try Tensor.rand([100, 784], generator: &g), w1 = try Tensor.rand([784, 512], generator: &g)
        _ = try prior.logZ()
        _ = try time("  chimera logZ negative phase + bwd right after a 100×784×512 sgemm", repeats: reps) {
            _ = try Tensor.noGrad { try x.mm(w1) }
            prior.bias.grad = nil; prior.weights.grad = nil
            try prior.logZ().backward(); return ""
        }
        _ = try time("  (the sgemm alone)", repeats: reps) { _ = try Tensor.noGrad { try x.mm(w1) }; return "" }
    }
    // The same energy from composed tensor ops (gather, product, matmul).
    var g = Generator(seed: 8)
    let b = try Tensor.zeros([288]).requiringGrad()
    let w = try Tensor.randn([816], generator: &g).mul(0.1).requiringGrad()
    let eu = Tensor(chimera.edges.map { Float($0.u) }), ev = Tensor(chimera.edges.map { Float($0.v) })
    let zeta = try Tensor.rand([100, 288], generator: &g).requiringGrad()
    _ = try time("  chimera composed ops (indexSelect·mul·matmul) energy fwd+bwd", repeats: reps) {
        zeta.grad = nil; b.grad = nil; w.grad = nil
        let pair = try zeta.indexSelect(1, eu) * zeta.indexSelect(1, ev)
        let e = try pair.matmul(w.unsqueeze(1)).squeeze(1) + zeta.matmul(b.unsqueeze(1)).squeeze(1)
        try e.sum().backward(); return ""
    }
}
