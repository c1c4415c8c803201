// qvbench: runtime benchmarks (medians over repeats).
//
//   swift build -c release --product qvbench
//   .build/release/qvbench [matmul|elementwise|conv|all] [--repeats N]
//
// Like qvlua, it re-executes itself with OpenBLAS's AVX-512 kernels when the
// CPU has them (set OPENBLAS_CORETYPE=Haswell to measure the default).
import CBLAS
import Runtime
#if canImport(Glibc)
import Glibc
#endif

BLASKernels.relaunchWithFastKernelsIfNeeded()

var args = Array(CommandLine.arguments.dropFirst())
var repeats = 30
if let i = args.firstIndex(of: "--repeats"), i + 1 < args.count, let n = Int(args[i + 1]) {
    repeats = n; args.removeSubrange(i...(i + 1))
}
if let i = args.firstIndex(of: "--threads"), i + 1 < args.count, let n = Int(args[i + 1]) {
    Parallel.threads = n; BLASKernels.setThreads(n); args.removeSubrange(i...(i + 1))
}
let what = args.first ?? "all"

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median seconds per call of `body` (after warm-up), timing `inner` calls per sample.
func median(_ reps: Int = repeats, inner: Int = 1, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<3 { try body() }
    var ts: [Double] = []
    for _ in 0..<reps {
        let t0 = now()
        for _ in 0..<inner { try body() }
        ts.append((now() - t0) / Double(inner))
    }
    ts.sort()
    return ts[ts.count / 2]
}

/// Paired medians: alternates `a` and `b` so both see the same machine
/// load; returns (median a, median b, median of a/b).
func paired(_ reps: Int = repeats, inner: Int = 1, _ a: () throws -> Void, _ b: () throws -> Void) rethrows -> (Double, Double, Double) {
    for _ in 0..<3 { try a(); try b() }
    var ta: [Double] = [], tb: [Double] = [], r: [Double] = []
    for _ in 0..<reps {
        var t0 = now()
        for _ in 0..<inner { try a() }
        let x = (now() - t0) / Double(inner)
        t0 = now()
        for _ in 0..<inner { try b() }
        let y = (now() - t0) / Double(inner)
        ta.append(x); tb.append(y); r.append(x / y)
    }
    ta.sort(); tb.sort(); r.sort()
    return (ta[reps / 2], tb[reps / 2], r[reps / 2])
}

/// Paired comparison in ABBA order (a b, then b a in the next pair, so
/// neither always runs first): medians of a and b, the median of the
/// per-pair ratios a/b, and a ~95% confidence interval of that median from
/// order statistics (ranks n/2 ± 0.98·√n).
func pairedCI(_ reps: Int = repeats, inner: Int = 1, _ a: () throws -> Void, _ b: () throws -> Void) rethrows
    -> (a: Double, b: Double, ratio: Double, lo: Double, hi: Double) {
    for _ in 0..<3 { try a(); try b() }
    func time(_ f: () throws -> Void) rethrows -> Double {
        let t0 = now()
        for _ in 0..<inner { try f() }
        return (now() - t0) / Double(inner)
    }
    var ta: [Double] = [], tb: [Double] = [], r: [Double] = []
    for i in 0..<reps {
        let x: Double, y: Double
        if i % 2 == 0 { x = try time(a); y = try time(b) } else { y = try time(b); x = try time(a) }
        ta.append(x); tb.append(y); r.append(x / y)
    }
    ta.sort(); tb.sort(); r.sort()
    let n = reps, h = Int((0.98 * Double(n).squareRoot()).rounded(.up))
    return (ta[n / 2], tb[n / 2], r[n / 2], r[Swift.max(0, n / 2 - h)], r[Swift.min(n - 1, n / 2 + h)])
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func f1(_ x: Double) -> String { String(Double(Int((x * 10).rounded())) / 10) }
func f2(_ x: Double) -> String { String(Double(Int((x * 100).rounded())) / 100) }

print("qvbench: OpenBLAS core \(BLASKernels.coreName), \(Parallel.threads) threads, repeats \(repeats)")

// MARK: matmul

func benchMatmul() throws {
    print("\n## matmul (GFLOP/s, median): Tensor op vs raw cblas_sgemm on the same shapes")
    print(pad("shape (what)", 44) + pad("op", 10) + pad("raw", 10) + "overhead: median of paired ratios [~95% CI]")
    print("(raw = the same BLAS work by hand: for linear, the bias rows copied into C, then sgemm with beta = 1)")
    // P-dense layers at batch 100: forward x·Wᵀ (linear), backward g·W and gᵀ·x.
    let layers = [(784, 512), (512, 256), (256, 144), (400, 144), (288, 256), (256, 512), (512, 784)]
    var worst = 0.0
    for (nin, nout) in layers {
        GlobalRandom.seed(1)
        let x = try Tensor.randn([100, nin]), w = try Tensor.randn([nout, nin]), b = try Tensor.randn([nout])
        let g = try Tensor.randn([100, nout])
        let cases: [(String, Int, Int, Int, () throws -> Tensor, Tensor, Bool, Tensor, Bool)] = [
            ("linear fwd 100x\(nin)·(\(nout)x\(nin))ᵀ+b", 100, nout, nin, { try Tensor.linear(x, w, b) }, x, false, w, true),
            ("bwd dx 100x\(nout)·\(nout)x\(nin)", 100, nin, nout, { try g.mm(w) }, g, false, w, false),
            ("bwd dW (100x\(nout))ᵀ·100x\(nin)", nout, nin, 100, { try g.t().mm(x) }, g, true, x, false),
        ]
        for (ci, (name, m, n, k, op, A, ta, B, tb)) in cases.enumerated() {
            let flops = 2.0 * Double(m * n * k)
            let inner = Swift.max(1, Int(2e8 / flops))
            let lda = ta ? m : k, ldb = tb ? k : n
            let withBias = ci == 0
            let r = try pairedCI(inner: inner, { _ = try op() }, {
                // Like the op, a fresh output per call.
                let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
                if withBias { for i in 0..<m { (c + i * n).update(from: b.data, count: n) } }
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), 1, A.data, Int32(lda), B.data, Int32(ldb), withBias ? 1 : 0, c, Int32(n))
                c.deallocate()
            })
            let ov = (r.ratio - 1) * 100
            worst = Swift.max(worst, ov)
            print(pad(name, 44) + pad(f1(flops / r.a / 1e9), 10) + pad(f1(flops / r.b / 1e9), 10)
                  + f1(ov) + "% [" + f1((r.lo - 1) * 100) + ", " + f1((r.hi - 1) * 100) + "]")
        }
    }
    for s in [512, 2048] {
        let a = try Tensor.randn([s, s]), b = try Tensor.randn([s, s]), c = try Tensor.zeros([s, s])
        let flops = 2.0 * Double(s * s * s)
        let reps = s > 1000 ? Swift.min(repeats, 7) : repeats
        let (tOp, tRaw, ratio) = try paired(reps, { _ = try a.mm(b) }, {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(s), Int32(s), Int32(s), 1, a.data, Int32(s), b.data, Int32(s), 0, c.data, Int32(s))
        })
        print(pad("mm \(s)³", 44) + pad(f1(flops / tOp / 1e9), 10) + pad(f1(flops / tRaw / 1e9), 10) + f1((ratio - 1) * 100) + "%")
    }
    print("worst wrapper overhead at model shapes: \(f1(worst))%")
    // Fixed per-call cost of the wrapper (allocation, views, checks): a 4×4×4 product.
    let a4 = try Tensor.randn([4, 4]), b4 = try Tensor.randn([4, 4]), c4 = try Tensor.zeros([4, 4])
    let (t4op, t4raw, _) = try paired(inner: 2000, { _ = try a4.mm(b4) }, {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 4, 4, 4, 1, a4.data, 4, b4.data, 4, 0, c4.data, 4)
    })
    print("fixed per-call cost: mm 4×4×4 \(f2(t4op * 1e6)) µs vs raw sgemm \(f2(t4raw * 1e6)) µs (wrapper ≈ \(f2((t4op - t4raw) * 1e6)) µs)")
}

// MARK: elementwise

func benchElementwise() throws {
    print("\n## elementwise (GB/s of memory traffic, median), n = 2^22 floats (16 MiB per tensor)")
    let n = 1 << 22
    GlobalRandom.seed(2)
    let a = try Tensor.randn([n]), b = try Tensor.randn([n])
    let rows = try Tensor.randn([n / 1024, 1024]), row = try Tensor.randn([1024])
    let mb = Double(n) * 4
    let ops: [(String, Double, () throws -> Tensor)] = [
        ("a + b", 3, { try a + b }),
        ("a * 2 (scalar)", 2, { a * 2 }),
        ("[N,1024] + [1024] (broadcast)", 2, { try rows + row }),
        ("relu", 2, { a.relu() }),
        ("exp", 2, { a.exp() }),
        ("sigmoid", 2, { a.sigmoid() }),
        ("softplus", 2, { a.softplus() }),
        ("bceWithLogits(a, b)", 3, { try a.bceWithLogits(b) }),
        ("tanh", 2, { a.tanh() }),
        ("sum (all)", 1, { try a.sum() }),
        ("a.t() contiguous copy [2048,2048]", 2, { try a.view([2048, 2048]).t().contiguous() }),
    ]
    print(pad("op", 36) + pad("2 threads", 12) + pad("1 thread", 12) + "ms (2 thr)")
    let saved = Parallel.threads
    for (name, streams, op) in ops {
        Parallel.threads = saved
        let t2 = try median(Swift.min(repeats, 15)) { _ = try op() }
        Parallel.threads = 1
        let t1 = try median(Swift.min(repeats, 15)) { _ = try op() }
        Parallel.threads = saved
        print(pad(name, 36) + pad(f1(streams * mb / t2 / 1e9), 12) + pad(f1(streams * mb / t1 / 1e9), 12) + f2(t2 * 1e3))
    }
    // Small tensors (batch-100 activations) where per-op overhead matters.
    let s = try Tensor.randn([100, 512]), sb = try Tensor.randn([512])
    let tSmall = try median(inner: 200) { _ = try s + sb }
    let tSig = median(inner: 200) { _ = s.sigmoid() }
    print("small [100,512] + [512]: \(f2(tSmall * 1e6)) µs; sigmoid [100,512]: \(f2(tSig * 1e6)) µs")
}

// MARK: conv

func benchConv() throws {
    print("\n## conv2d: paper's first encoder layer (gated conv, 16 filters → 32 channels), k=4, s=1, 1×28×28, batch 100")
    GlobalRandom.seed(3)
    let x = try Tensor.randn([100, 1, 28, 28])
    let w = try (Tensor.randn([32, 1, 4, 4]) * 0.25).requiringGrad(), b = try Tensor.zeros([32]).requiringGrad()
    let flops = 2.0 * 100 * 32 * 25 * 25 * 16
    let tf = try median { _ = try Tensor.noGrad { try Tensor.conv2d(x, w, b) } }
    let gy = try Tensor.randn([100, 32, 25, 25])
    let tfb = try median {
        let y = try Tensor.conv2d(x, w, b)
        try y.backward(gy)
        w.grad = nil; b.grad = nil
    }
    print("forward: \(f2(tf * 1e3)) ms (\(f1(flops / tf / 1e9)) GFLOP/s); forward+backward (dW, db; given dL/dy): \(f2(tfb * 1e3)) ms (\(f1(2 * flops / tfb / 1e9)) GFLOP/s)")
    // An interior layer, where the input gradient is needed too: (32,4,1) on 16×25×25 → 64 channels.
    let x2 = try Tensor.randn([100, 16, 25, 25]).requiringGrad(), w2 = try (Tensor.randn([64, 16, 4, 4]) * 0.1).requiringGrad()
    let fl2 = 2.0 * 100 * 64 * 22 * 22 * 256
    let t2f = try median(Swift.min(repeats, 10)) { _ = try Tensor.noGrad { try Tensor.conv2d(x2, w2) } }
    let gy2 = try Tensor.randn([100, 64, 22, 22])
    let t2 = try median(Swift.min(repeats, 10)) {
        let y = try Tensor.conv2d(x2, w2)
        try y.backward(gy2)
        x2.grad = nil; w2.grad = nil
    }
    print("interior conv 16→64, k=4 on 25×25: forward \(f2(t2f * 1e3)) ms (\(f1(fl2 / t2f / 1e9)) GFLOP/s); fwd+bwd (dx, dW) \(f2(t2 * 1e3)) ms (\(f1(3 * fl2 / t2 / 1e9)) GFLOP/s)")
    let xt = try Tensor.randn([100, 64, 7, 7]).requiringGrad(), wt = try (Tensor.randn([64, 32, 3, 3]) * 0.1).requiringGrad()
    let gy3 = try Tensor.randn([100, 32, 14, 14])
    let t3 = try median(Swift.min(repeats, 10)) {
        let y = try Tensor.convTranspose2d(xt, wt, stride: [2], padding: [1], outputPadding: [1])
        try y.backward(gy3)
        xt.grad = nil; wt.grad = nil
    }
    print("convTranspose2d 64→32, k=3, s=2 on 7×7 → 14×14: fwd+bwd \(f2(t3 * 1e3)) ms")
}

do {
    switch what {
    case "matmul": try benchMatmul()
    case "elementwise": try benchElementwise()
    case "conv": try benchConv()
    case "all": try benchMatmul(); try benchElementwise(); try benchConv()
    default: print("usage: qvbench [matmul|elementwise|conv|all] [--repeats N]"); exit(2)
    }
} catch {
    print("error: \(error)"); exit(1)
}
