// bmbench: timings of the Boltzmann-machine samplers (BENCHMARKS.md,
// "Boltzmann machines and samplers"). Build with
//   swift build -c release --product bmbench
// and run .build/release/bmbench [gibbs|gibbs-full|sa|ais|pa|prior|pimc|all] [repeats].
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
if what == "pimc" || what == "all" {
    // Path-integral Monte Carlo of the QBM (Γ = 0.5): a sweep is a heat-bath
    // pass over all N·M spins plus the imaginary-time cluster move of every
    // world line, counted as 2·N·M spin updates per chain.
    for m in [16, 32] {
        let sweeps = 50
        let s = PathIntegralSampler(gamma: 0.5, slices: m, sweeps: sweeps, burnIn: 0)
        _ = try s.sample(bm, count: 1000, generator: &gen)
        let t = try time("PIMC C(6,6,4), Γ = 0.5, M = \(m), 1000 chains × \(sweeps) sweeps", repeats: repeats) {
            _ = try s.sample(bm, count: 1000, generator: &gen); return ""
        }
        let rate = Double(sweeps) / t
        print("  -> \(f(rate, 1)) sweeps/s (1000 chains × \(m) slices), \(f(rate * 1000 * 288 * Double(m) / 1e6, 1)) M spins swept/s (local + cluster)")
    }
    // The quantum prior's negative phase per training step (Eq. 16): 1000
    // persistent chains, 10 sweeps, moments over all slices, + backward.
    for m in [16, 32] {
        var g = Generator(seed: 9)
        let prior = try QuantumPrior(graph: chimera, gamma: [0.5], slices: m, sweeps: 10, burnIn: 10,
                                     weightScale: 0.1, generator: &g)
        prior.exactUnits = 0
        try prior.logZ(negativePhase: try prior.drawNegativePhase()).backward()
        _ = try time("QuantumPrior C(6,6,4) logZ negative phase + bwd, Γ = 0.5, M = \(m), 1000 chains × 10 sweeps", repeats: repeats) {
            prior.bias.grad = nil; prior.weights.grad = nil
            try prior.logZ(negativePhase: try prior.drawNegativePhase()).backward(); return ""
        }
    }
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
        _ = try prior.drawNegativePhase()  // chains initialized (burn-in) outside the timing
        let tz = try time("  \(label) [\(path)] logZ negative phase + bwd (1000 chains × 10 sweeps)", repeats: reps) {
            prior.bias.grad = nil; prior.weights.grad = nil
            try prior.logZ(negativePhase: prior.drawNegativePhase()).backward(); return ""
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
        _ = try prior.drawNegativePhase()
        _ = try time("  chimera logZ negative phase + bwd right after a 100×784×512 sgemm", repeats: reps) {
            _ = try Tensor.noGrad { try x.mm(w1) }
            prior.bias.grad = nil; prior.weights.grad = nil
            try prior.logZ(negativePhase: prior.drawNegativePhase()).backward(); return ""
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

if what == "step" {
    // A representative training step on the CPU: three GEMMs of the P-dense
    // first layer (forward 100×784·784×512, backward dx 100×512·512×784,
    // dW 784×100·100×512), then the prior's log Z negative phase (PCD,
    // 1000 chains × 10 sweeps) with its backward. Variants "tNN[/action]"
    // run with OPENBLAS_THREAD_TIMEOUT=NN (switched in-process; OpenBLAS's
    // default is 28) and, between the GEMMs and logZ, the action:
    //   nt1       openblas_set_num_threads(1) around logZ
    //   shutdown  blas_thread_shutdown_() (ends the workers)
    //   idle      150 ms pause, not counted (workers asleep)
    //   sparse    the sampler's sparse kernel even for dense RBMs
    //             (BlockGibbsSampler.denseThreshold = 2, the old behaviour)
    // Variants are interleaved round-robin so load drifts affect all alike;
    // each round starts with the three GEMMs untimed (workers started).
    // Reported: median of the logZ part and of GEMMs + logZ, per variant,
    // and the median over rounds of each variant's ratio to the first.
    let reps = max(repeats, 21)
    var g = Generator(seed: 9)
    let x = try Tensor.rand([100, 784], generator: &g), w1 = try Tensor.rand([784, 512], generator: &g)
    let gy = try Tensor.rand([100, 512], generator: &g)
    func gemms() throws {
        try Tensor.noGrad {
            _ = try x.mm(w1)
            _ = try gy.mm(w1.t())
            _ = try x.t().mm(gy)
        }
    }
    let variants = (ProcessInfoEnv.get("QV_STEP_VARIANTS") ?? "t28,t28/nt1,t28/shutdown,t20").split(separator: ",").map(String.init)
    let blasThreads = BLASKernels.threads
    let graphs = (ProcessInfoEnv.get("QV_STEP_GRAPHS") ?? "chimera,full").split(separator: ",").map(String.init)
    print("step: OpenBLAS \(BLASKernels.coreName), \(blasThreads) threads")
    var current = -1
    for name in graphs {
        let (label, graph) = name == "full" ? ("full K(144,144)", try Graph.fullBipartite(144, 144)) : ("chimera C(6,6,4)", chimera)
        var pg = Generator(seed: 7)
        let prior = try BoltzmannPrior(graph: graph, biasInit: 0, weightScale: 0.1, generator: &pg)
        _ = try prior.drawNegativePhase()
        var part: [String: [Double]] = [:], total: [String: [Double]] = [:], gemm: [String: [Double]] = [:]
        var ratio: [String: [Double]] = [:]
        for it in 0..<(reps + 1) {
            var first = 0.0
            for v in variants {
                let parts = v.split(separator: "/").map(String.init)
                let timeout = Int(parts[0].dropFirst()) ?? 28, action = parts.count > 1 ? parts[1] : ""
                if timeout != current { BLASKernels.setThreadTimeout(timeout); current = timeout }
                try gemms()
                let t0 = now()
                try gemms()
                let t1 = now()
                if action == "idle" { usleep(150_000) }
                if action == "shutdown" { _ = blasThreadShutdown() }
                let t2 = now()
                if action == "nt1" { BLASKernels.setThreads(1) }
                let savedDense = BlockGibbsSampler.denseThreshold
                if action == "sparse" { BlockGibbsSampler.denseThreshold = 2 }
                defer { BlockGibbsSampler.denseThreshold = savedDense }
                prior.bias.grad = nil; prior.weights.grad = nil
                try prior.logZ(negativePhase: prior.drawNegativePhase()).backward()
                if action == "nt1" { BLASKernels.setThreads(blasThreads) }
                let t3 = now()
                if it == 0 { continue }   // warm-up round
                part[v, default: []].append(t3 - t2)
                total[v, default: []].append((t1 - t0) + (t3 - t2))
                gemm[v, default: []].append(t1 - t0)
                if v == variants[0] { first = (t1 - t0) + (t3 - t2) }
                ratio[v, default: []].append(((t1 - t0) + (t3 - t2)) / first)
            }
        }
        print("\(label), \(reps) rounds:")
        for v in variants {
            print("  \(v): 3 GEMMs \(f(median(gemm[v]!) * 1e3, 3)) ms, logZ \(f(median(part[v]!) * 1e3, 3)) ms, GEMMs + logZ \(f(median(total[v]!) * 1e3, 3)) ms, ratio to \(variants[0]) \(f(median(ratio[v]!), 3))")
        }
    }
}

@_silgen_name("blas_thread_shutdown_") func blasThreadShutdown() -> Int32

enum ProcessInfoEnv {
    static func get(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

if what == "spin" {
    // Sampler alone (block Gibbs, 1000 chains × 10 sweeps) right after three
    // P-dense GEMMs, with the OpenBLAS workers left spinning ("after-gemm")
    // or ended first ("shutdown"); interleaved.
    func threadCount() -> String {
        guard let f = fopen("/proc/self/status", "r") else { return "?" }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("Threads:") { return s.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        return "?"
    }
    let reps = max(repeats, 21)
    var g = Generator(seed: 9)
    let x = try Tensor.rand([100, 784], generator: &g), w1 = try Tensor.rand([784, 512], generator: &g)
    let gy = try Tensor.rand([100, 512], generator: &g)
    func gemms() throws {
        try Tensor.noGrad { _ = try x.mm(w1); _ = try gy.mm(w1.t()); _ = try x.t().mm(gy) }
    }
    try gemms()
    print("after GEMMs: \(threadCount())"); _ = blasThreadShutdown(); print("after shutdown: \(threadCount())")
    try gemms(); print("after GEMMs again: \(threadCount())")
    // CPU time the process burns while its main thread sleeps 100 ms right
    // after the GEMMs (the workers' spinning), and a 100×784×512 GEMM after
    // a 1 ms pause (workers asleep when the timeout is shorter: wake-up
    // cost), per OPENBLAS_THREAD_TIMEOUT, interleaved.
    func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }
    let timeouts = [28, 24, 22, 20, 18, 16]
    var burn: [Int: [Double]] = [:], late: [Int: [Double]] = [:], hot: [Int: [Double]] = [:]
    for _ in 0..<max(5, reps / 3) {
        for T in timeouts {
            BLASKernels.setThreadTimeout(T)
            try gemms()
            let c0 = cpuSeconds(); usleep(100_000); burn[T, default: []].append(cpuSeconds() - c0)
            var lt: [Double] = [], ht: [Double] = []
            for _ in 0..<5 {
                try gemms()
                var t0 = now(); _ = try Tensor.noGrad { try x.mm(w1) }; ht.append(now() - t0)
                usleep(1000)
                t0 = now(); _ = try Tensor.noGrad { try x.mm(w1) }; lt.append(now() - t0)
            }
            late[T, default: []].append(median(lt)); hot[T, default: []].append(median(ht))
        }
    }
    for T in timeouts {
        print("OPENBLAS_THREAD_TIMEOUT=\(T): CPU burnt in 100 ms after the GEMMs \(f(median(burn[T]!) * 1e3, 2)) ms; 100×784×512 GEMM right after another \(f(median(hot[T]!) * 1e3, 3)) ms, after a 1 ms pause \(f(median(late[T]!) * 1e3, 3)) ms")
    }
    if let t = ProcessInfoEnv.get("OPENBLAS_THREAD_TIMEOUT").flatMap({ Int($0) }) { BLASKernels.setThreadTimeout(t) }
    let full = try BoltzmannMachine.random(graph: try Graph.fullBipartite(144, 144), biasScale: 0.5,
                                           weightScale: 0.05, generator: &gen)
    for (label, m) in [("chimera", bm), ("full", full)] {
        let s = BlockGibbsSampler(sweeps: 10)
        _ = try s.sample(m, count: 1000, generator: &gen)
        var a: [Double] = [], b: [Double] = [], c: [Double] = []
        for _ in 0..<reps {
            try gemms()
            var t0 = now(); _ = try s.sample(m, count: 1000, generator: &gen); a.append(now() - t0)
            try gemms(); _ = blasThreadShutdown()
            t0 = now(); _ = try s.sample(m, count: 1000, generator: &gen); b.append(now() - t0)
            t0 = now(); _ = try s.sample(m, count: 1000, generator: &gen); c.append(now() - t0)
        }
        print("\(label) sampler 1000 × 10 sweeps: after-gemm \(f(median(a) * 1e3, 3)) ms, shutdown \(f(median(b) * 1e3, 3)) ms, no GEMM before \(f(median(c) * 1e3, 3)) ms")
    }
}

if what == "gibbs-dense" {
    // Block Gibbs on bipartite 144×144 graphs of decreasing density, 1000
    // chains × 20 sweeps: dense kernel vs sparse kernel, interleaved
    // (BlockGibbsSampler.denseThreshold 0 vs 2), medians and the median of
    // paired ratios.
    let reps = max(repeats, 11)
    let densities = (ProcessInfoEnv.get("QV_DENSITIES") ?? "1,0.5,0.3,0.2,0.1,0.05").split(separator: ",").compactMap { Double($0) }
    let saved = BlockGibbsSampler.denseThreshold
    for d in densities {
        var g = Generator(seed: 11)
        var edges: [(Int, Int)] = []
        for i in 0..<144 { for j in 0..<144 where d >= 1 || Double(g.next() >> 11) * 0x1p-53 < d { edges.append((i, 144 + j)) } }
        let graph = try Graph(nodeCount: 288, edges: edges, independentSets: [Array(0..<144), Array(144..<288)])
        let m = try BoltzmannMachine.random(graph: graph, biasScale: 0.5, weightScale: 0.05, generator: &g)
        let sweeps = 20
        let sd = BlockGibbsSampler(sweeps: sweeps), ss = BlockGibbsSampler(sweeps: sweeps)
        BlockGibbsSampler.denseThreshold = 0; _ = try sd.sample(m, count: 1000, generator: &g)
        BlockGibbsSampler.denseThreshold = 2; _ = try ss.sample(m, count: 1000, generator: &g)
        var td: [Double] = [], ts: [Double] = [], r: [Double] = []
        for _ in 0..<reps {
            BlockGibbsSampler.denseThreshold = 0
            var t0 = now(); let a = try sd.sample(m, count: 1000, generator: &g); let x = now() - t0
            precondition(a.stats["dense"] == 1)
            BlockGibbsSampler.denseThreshold = 2
            t0 = now(); let b = try ss.sample(m, count: 1000, generator: &g); let y = now() - t0
            precondition(b.stats["dense"] == 0)
            td.append(x); ts.append(y); r.append(y / x)
        }
        print("bipartite 144×144 density \(d) (\(edges.count) edges), 1000 chains × \(sweeps) sweeps: dense \(Int((Double(sweeps) / median(td)).rounded())) sweeps/s, sparse \(Int((Double(sweeps) / median(ts)).rounded())) sweeps/s, speed-up (median of paired ratios) \(f(median(r), 2))×")
    }
    BlockGibbsSampler.denseThreshold = saved
}
