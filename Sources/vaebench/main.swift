// vaebench: throughput of the VAE (BENCHMARKS.md, "VAE"). Build with
//   swift build -c release --product vaebench
// and run
//   .build/release/vaebench train [--arch dense|conv] [--prior bernoulli|chimera|chimera-stub] [--k K --d D] [--repeats N]
//   .build/release/vaebench ll [--arch dense|conv] [--k 1000] [--images 100] [--max-rows 10000]
//   .build/release/vaebench all
// Options for every command: --threads N (kernels and OpenBLAS; default all
// cores), --clock wall|cpu (cpu = this process's CPU time, a load-robust
// figure with --threads 1; with 2 threads it counts OpenBLAS's spinning too).
// Training: one step = negative phase + objective forward + backward + Adam, batch 100 of
// synthetic binary 28×28 images (the data's values do not change the work).
import Runtime
import Model
#if canImport(Glibc)
import Glibc
#endif

BLASKernels.relaunchWithFastKernelsIfNeeded()

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ def: String) -> String {
    if let i = args.firstIndex(of: "--" + name), i + 1 < args.count { return args[i + 1] }
    return def
}
let useCPUClock = option("clock", "wall") == "cpu"
if let t = Int(option("threads", "0")), t > 0 { Parallel.threads = t; BLASKernels.setThreads(t) }

func now() -> Double {
    var ts = timespec()
    clock_gettime(useCPUClock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
func median(_ x: [Double]) -> Double { let s = x.sorted(); return s[s.count / 2] }
func f(_ x: Double, _ d: Int = 1) -> String { var p = 1.0; for _ in 0..<d { p *= 10 }; return "\((x * p).rounded() / p)" }

let what = args.first ?? "all"
let repeats = Int(option("repeats", "30"))!

/// A Chimera-288 prior for timing the network with a prior of the real
/// size: energy by tensor ops over the 816 couplers (gather on edge
/// endpoints), log Z a constant whose backward applies a fixed negative
/// phase (−mean over 1000 stored samples of z and z_u z_v). No sampler
/// runs: the negative-phase sampling cost belongs to the sampler's benchmark.
final class ChimeraStubPrior: LatentPrior {
    let graph: Graph
    let bias: Tensor, weights: Tensor
    let eu: Tensor, ev: Tensor
    let negMeans: Tensor, negPairs: Tensor
    var training = true
    var betaEff: Float = 1
    init() throws {
        graph = try Graph.chimera(m: 6, n: 6, t: 4)
        var g = Generator(seed: 3)
        bias = try Tensor.randn([288], generator: &g).mul(0.1).requiringGrad()
        weights = try Tensor.randn([graph.edgeCount], generator: &g).mul(0.1).requiringGrad()
        eu = Tensor(graph.edges.map { Float($0.u) }); ev = Tensor(graph.edges.map { Float($0.v) })
        let samples = try Tensor.bernoulli([1000, 288], p: 0.5, generator: &g)
        negMeans = try samples.mean(0)
        negPairs = try (samples.indexSelect(1, eu) * samples.indexSelect(1, ev)).mean(0)
    }
    var units: Int { 288 }
    var localParameters: [(String, Tensor)] { [("bias", bias), ("weights", weights)] }
    func energy(_ z: Tensor) throws -> Tensor {
        try z.matmul(bias) + (z.indexSelect(1, eu) * z.indexSelect(1, ev)).matmul(weights)
    }
    var negativePhaseIsSampled: Bool { false }
    func drawNegativePhase(betaEffRate: Float?) throws -> NegativePhase {
        NegativePhase(means: negMeans.toArray(), edgeMeans: negPairs.toArray(), samples: 1000, meanEnergy: 0)
    }
    func logZ(negativePhase: NegativePhase?) throws -> Tensor {
        let nm = negMeans, np = negPairs
        return try Tensor.custom(name: "logZstub", inputs: [bias, weights], forward: { _ in Tensor(scalar: 200) },
                                 backward: { g in let s = try g.item(); return [nm.mul(-s), np.mul(-s)] })
    }
    func sample(_ n: Int, using sampler: (any Sampler)?, generator: inout Generator) throws -> Tensor {
        try Tensor.bernoulli([n, 288], p: 0.5, generator: &generator)
    }
    func estimateLogZ(generator: inout Generator) throws -> (logZ: Double, error: Double) { (200, 0) }
}

/// The training script's Chimera prior: `BoltzmannPrior` on C(6,6,4), PCD
/// with 1000 persistent chains advanced 10 block-Gibbs sweeps per step
/// (the default sampler), a negative phase in every step.
func chimeraPrior() throws -> BoltzmannPrior {
    var g = Generator(seed: 7)
    return try BoltzmannPrior(graph: Graph.chimera(m: 6, n: 6, t: 4), generator: &g)
}

func makePrior(_ name: String) throws -> LatentPrior {
    switch name {
    case "bernoulli": return try ExactPrior(graph: Graph.bernoulli(288))
    case "chimera": return try chimeraPrior()
    case "chimera-stub": return try ChimeraStubPrior()
    default: fatalError("unknown prior \(name)")
    }
}

func syntheticImages(_ n: Int, _ g: inout Generator) throws -> Tensor {
    try Tensor.bernoulli([n, 784], p: 0.13, generator: &g)
}

func benchTrain(arch: String, priorName: String, k: Int, d: Int) throws {
    GlobalRandom.seed(1)
    let prior = try makePrior(priorName)
    let vae = arch == "conv" ? try DiscreteVAE.conv(prior: prior, grouping: "bipartite")
                             : try DiscreteVAE.dense(prior: prior, grouping: "bipartite")
    let opt = try Adam(params: vae.parameters(), lr: 3e-3)
    var g = Generator(seed: 2)
    let batches = try (0..<8).map { _ in try syntheticImages(100, &g) }
    let bm = prior as? BoltzmannPrior
    var tf: [Double] = [], tb: [Double] = [], to: [Double] = [], tt: [Double] = [], tz: [Double] = []
    let reps = arch == "conv" ? Swift.max(5, repeats / 2) : repeats
    // The first step of a sampled prior burns its chains in (100 sweeps): warm-up.
    for i in 0..<(reps + 3) {
        let x = batches[i % batches.count]
        let t0 = now()
        opt.zeroGrad()
        let phase = try prior.drawNegativePhase()
        let r = try vae.objective(x: x, k: k, d: d, klWeight: 1, tau: 1.0 / 7, negativePhase: phase, generator: &g)
        let t1 = now()
        try r.loss.backward()
        let t2 = now()
        try opt.step()
        try bm?.clamp(weights: 1, bias: nil)    // the training script's weight clip
        let t3 = now()
        if i >= 3 { tf.append(t1 - t0); tb.append(t2 - t1); to.append(t3 - t2); tt.append(t3 - t0) }
    }
    if let bm {
        // The negative phase alone (`drawNegativePhase`, part of "forward" above).
        for _ in 0..<Swift.max(5, repeats / 2) {
            let t0 = now(); _ = try bm.drawNegativePhase(); tz.append(now() - t0)
        }
    }
    let step = median(tt)
    print("train \(arch) prior=\(priorName) K=\(k) D=\(d): \(f(100 / step, 0)) images/s "
          + "(step \(f(step * 1e3, 2)) ms: forward \(f(median(tf) * 1e3, 2)), backward \(f(median(tb) * 1e3, 2)), "
          + "adam\(bm != nil ? "+clamp" : "") \(f(median(to) * 1e3, 2)); min step \(f(tt.min()! * 1e3, 2)) ms; \(tt.count) steps"
          + (tz.isEmpty ? "" : "; negative phase alone \(f(median(tz) * 1e3, 2)) ms") + ")")
}

/// Importance-weighted log-likelihood (log Z given as 0): P-dense with the
/// Bernoulli prior, or P-conv with the Chimera prior (its energy; no sampler
/// runs), as `scripts/bench/torch_pconv.py ll`.
func benchLL(arch: String, k: Int, images: Int, maxRows: Int) throws {
    GlobalRandom.seed(1)
    let prior = try makePrior(arch == "conv" ? "chimera" : "bernoulli")
    let vae = arch == "conv" ? try DiscreteVAE.conv(prior: prior, grouping: "bipartite")
                             : try DiscreteVAE.dense(prior: prior, grouping: "bipartite")
    var g = Generator(seed: 4)
    let x = try syntheticImages(images, &g)
    var ts: [Double] = []
    _ = try vae.logLikelihood(try x.narrow(0, start: 0, length: Swift.min(images, 10)).contiguous(), k: k, logZ: (0, 0), maxRows: maxRows, generator: &g)
    for _ in 0..<Swift.max(3, repeats / 10) {
        let t0 = now()
        _ = try vae.logLikelihood(x, k: k, logZ: (0, 0), maxRows: maxRows, generator: &g)
        ts.append(now() - t0)
    }
    print("LL P-\(arch) K=\(k) maxRows=\(maxRows): \(f(Double(images) / median(ts), 1)) images/s (\(images) images in \(f(median(ts), 3)) s median, min \(f(ts.min()!, 3)) s)")
}

/// Per-layer forward and backward times of P-conv's gated blocks at batch 100.
func benchLayers() throws {
    GlobalRandom.seed(1)
    let vae = try DiscreteVAE.conv(prior: try makePrior("bernoulli"))
    var g = Generator(seed: 5)
    var x = try Tensor.rand([100, 1, 28, 28], generator: &g)
    let enc = (vae.encoder.trunk as! Sequential).layers.compactMap { $0 as? GatedConv }
    let dec = (vae.decoder as! Sequential).layers.compactMap { $0 as? GatedConvTranspose }
    func time(_ name: String, _ layer: Layer, _ input: Tensor) throws -> Tensor {
        let inp = input.detach().requiringGrad()
        var tf: [Double] = [], tb: [Double] = []
        var out = inp
        for i in 0..<(Swift.max(5, repeats / 3) + 2) {
            let t0 = now()
            out = try layer.forward(inp)
            let t1 = now()
            try out.sum().backward()
            let t2 = now()
            if i >= 2 { tf.append(t1 - t0); tb.append(t2 - t1) }
        }
        print("  \(name) \(inp.shape) -> \(out.shape): forward \(f(median(tf) * 1e3, 2)) ms, backward \(f(median(tb) * 1e3, 2)) ms")
        return out.detach()
    }
    for (i, l) in enc.enumerated() { x = try time("enc\(i) conv\(l.conv.weight.shape)", l, x) }
    var z = try Tensor.rand([100, 128, 1, 1], generator: &g)
    for (i, l) in dec.enumerated() { z = try time("dec\(i) deconv\(l.deconv.weight.shape)", l, z) }
}

/// Raw convolution ops at P-conv's shapes (no batch norm): forward and
/// forward+backward (dx, dW, db) per layer, with GFLOP/s of the useful work.
func benchConvs() throws {
    var g = Generator(seed: 6)
    // (transposed, cin, cout, k, s, input size)
    let layers: [(Bool, Int, Int, Int, Int, Int)] = [
        (false, 1, 32, 4, 1, 28), (false, 16, 64, 3, 2, 25), (false, 32, 64, 4, 1, 12), (false, 32, 128, 3, 2, 9),
        (false, 64, 256, 4, 1, 4),
        (true, 128, 128, 4, 1, 1), (true, 64, 64, 3, 2, 4), (true, 32, 64, 4, 1, 9), (true, 32, 32, 3, 2, 12),
        (true, 16, 2, 4, 1, 25)]
    var totF = 0.0, totB = 0.0
    let only = option("only", "")   // e.g. "convT 32->32": the layers whose label contains it
    for (tr, cin, cout, k, s, hw) in layers {
        let label = "\(tr ? "convT" : "conv ") \(cin)->\(cout) k\(k) s\(s) \(hw)x\(hw)"
        if !only.isEmpty && !label.contains(only) { continue }
        let x = try Tensor.randn([100, cin, hw, hw], generator: &g).requiringGrad(cin > 1)
        let w = try Tensor.randn(tr ? [cin, cout, k, k] : [cout, cin, k, k], generator: &g).mul(0.1).requiringGrad()
        let b = try Tensor.randn([cout], generator: &g).requiringGrad()
        func run() throws -> Tensor { tr ? try Tensor.convTranspose2d(x, w, b, stride: [s]) : try Tensor.conv2d(x, w, b, stride: [s]) }
        let y0 = try run()
        let gy = try Tensor.randn(y0.shape, generator: &g)
        var tf: [Double] = [], tb: [Double] = []
        for i in 0..<(Swift.max(5, repeats / 2) + 2) {
            let t0 = now()
            let y = try run()
            let t1 = now()
            try (y * gy).sum().backward()
            let t2 = now()
            if i >= 2 { tf.append(t1 - t0); tb.append(t2 - t1) }
            x.grad = nil; w.grad = nil; b.grad = nil
        }
        let ohw = y0.shape[2] * y0.shape[3]
        let macs = Double(100 * cin * cout * k * k) * Double(tr ? hw * hw : ohw)
        let fwd = median(tf), bwd = median(tb)
        totF += fwd; totB += bwd
        let bwdFlops = 2 * macs * (cin > 1 ? 2 : 1)
        print("  \(label)->\(y0.shape[2])x\(y0.shape[3]): "
              + "forward \(f(fwd * 1e3, 2)) ms (\(f(2 * macs / fwd / 1e9, 0)) GFLOP/s), backward \(f(bwd * 1e3, 2)) ms (\(f(bwdFlops / bwd / 1e9, 0)) GFLOP/s)")
    }
    print("  total forward \(f(totF * 1e3, 2)) ms, backward \(f(totB * 1e3, 2)) ms")
}

func loadAverage() -> String {
    guard let f = fopen("/proc/loadavg", "r") else { return "?" }
    defer { fclose(f) }
    var buf = [CChar](repeating: 0, count: 64)
    guard fgets(&buf, 64, f) != nil else { return "?" }
    return String(cString: buf).split(separator: " ").prefix(3).joined(separator: " ")
}
print("vaebench: OpenBLAS core \(BLASKernels.coreName), \(Parallel.threads) threads, \(useCPUClock ? "CPU" : "wall") clock, load average \(loadAverage())")
switch what {
case "train":
    try benchTrain(arch: option("arch", "dense"), priorName: option("prior", "bernoulli"),
                   k: Int(option("k", "1"))!, d: Int(option("d", "1"))!)
case "layers":
    try benchLayers()
case "convs":
    try benchConvs()
case "ll":
    try benchLL(arch: option("arch", "dense"), k: Int(option("k", "1000"))!, images: Int(option("images", "100"))!, maxRows: Int(option("max-rows", "10000"))!)
case "all":
    for p in ["bernoulli", "chimera", "chimera-stub"] { try benchTrain(arch: "dense", priorName: p, k: 1, d: 1) }
    try benchTrain(arch: "dense", priorName: "bernoulli", k: 1, d: 8)
    for p in ["bernoulli", "chimera"] { try benchTrain(arch: "conv", priorName: p, k: 1, d: 1) }
    try benchLL(arch: "dense", k: 1000, images: 100, maxRows: 10_000)
default:
    print("usage: vaebench [train|ll|convs|layers|all] [--only LAYER] [--arch dense|conv] [--prior bernoulli|chimera|chimera-stub] [--k K] [--d D] [--images N] [--max-rows R] [--repeats N] [--threads N] [--clock wall|cpu]")
}
