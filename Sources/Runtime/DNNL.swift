import CDNNL
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// oneDNN (Intel's convolution library, what PyTorch CPU calls) for the
/// convolution shapes where it beats im2col + OpenBLAS: forward,
/// backward-data and backward-weights (+ bias) of `conv2d` and
/// `convTranspose2d` (oneDNN's deconvolution). Tensors stay NCHW in the
/// engine; each primitive is created with `format_tag any`, so oneDNN picks
/// its blocked layouts, and the NCHW arguments are reordered in and out
/// around it (QV_DNNL_LAYOUT=plain makes the primitives use NCHW directly,
/// for measurements). Primitives are created once per shape and thread
/// count and cached (up to `DNNLConv.cacheCapacity` shapes).
///
/// Debian's libdnnl 2.6 is built with OpenMP (libgomp): every call sets
/// OpenMP's thread count to `Parallel.threads` (QV_DNNL_THREADS overrides
/// it, for measurements) first. Results are bit-identical run to run at a
/// given thread count.

/// Which passes of one convolution shape run on oneDNN.
struct ConvEngineChoice: Sendable {
    var forward: Bool, backwardData: Bool, backwardWeights: Bool
    static let native = ConvEngineChoice(forward: false, backwardData: false, backwardWeights: false)
    static let dnnl = ConvEngineChoice(forward: true, backwardData: true, backwardWeights: true)
    var any: Bool { forward || backwardData || backwardWeights }

    /// QV_CONV_ENGINE=dnnl|native forces one engine for every pass, and
    /// dnnl:PASSES oneDNN for the passes named by letters f (forward),
    /// d (backward data), w (backward weights and bias), e.g. dnnl:dw, the
    /// native path for the others (for measurements and tests); nil or
    /// anything else: choose by shape.
    static let forced: ConvEngineChoice? = {
        guard let v = getenv("QV_CONV_ENGINE") else { return nil }
        return parse(String(cString: v))
    }()

    /// A choice that overrides QV_CONV_ENGINE and the measured rule for
    /// every convolution recorded while set (tests compare the engines in
    /// one process); nil: none.
    static let override = Mutex<ConvEngineChoice?>(nil)

    /// Runs `body` with every convolution's passes on `choice` (where
    /// oneDNN accepts the shape), then restores the previous override.
    static func with<R>(_ choice: ConvEngineChoice, _ body: () throws -> R) rethrows -> R {
        let before = override.withLock { o -> ConvEngineChoice? in defer { o = choice }; return o }
        defer { override.withLock { $0 = before } }
        return try body()
    }

    /// The choice that a QV_CONV_ENGINE value names, nil if none.
    static func parse(_ s: String) -> ConvEngineChoice? {
        switch s {
        case "dnnl": return .dnnl
        case "native": return .native
        default:
            guard s.hasPrefix("dnnl:") else { return nil }
            let p = s.dropFirst(5)
            guard !p.isEmpty, p.allSatisfy({ "fdw".contains($0) }) else { return nil }
            return ConvEngineChoice(forward: p.contains("f"), backwardData: p.contains("d"), backwardWeights: p.contains("w"))
        }
    }
}

/// The shape of one convolution as oneDNN sees it: src [n, cin, h, w],
/// weights [cout, cin, kh, kw] (conv2d, oihw) or [cin, cout, kh, kw]
/// (convTranspose2d, PyTorch's layout: oneDNN's iohw), dst [n, cout, oh, ow].
struct DNNLConvKey: Hashable {
    let transposed: Bool
    let n: Int, cin: Int, h: Int, w: Int, cout: Int, oh: Int, ow: Int
    let kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int
    let bias: Bool
    let threads: Int
    let plain: Bool
}

/// Throws a TensorError for a oneDNN status other than success.
@inline(__always)
private func dnnlCheck(_ s: dnnl_status_t, _ what: String) throws {
    guard s == dnnl_success else { throw TensorError("oneDNN: \(what) failed (status \(s.rawValue))") }
}

/// The process's oneDNN CPU engine and stream; nil when oneDNN cannot create them.
private struct DNNLRuntime: @unchecked Sendable {
    let engine: dnnl_engine_t, stream: dnnl_stream_t
    static let shared: DNNLRuntime? = {
        var e: dnnl_engine_t? = nil, s: dnnl_stream_t? = nil
        guard dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, let e else { return nil }
        guard dnnl_stream_create(&s, e, UInt32(dnnl_stream_default_flags.rawValue)) == dnnl_success, let s else { return nil }
        return DNNLRuntime(engine: e, stream: s)
    }()
}

/// A plain (user) memory descriptor: f32 with `tag` over `dims`.
private func plainMD(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let d = dims.map { Int64($0) }
    try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, dnnl_f32, tag), "memory descriptor \(dims)")
    return md
}

/// One primitive and, per argument, the user's plain layout and the
/// primitive's; arguments whose layouts differ are reordered on the way in
/// (inputs) or out (outputs).
final class DNNLPrimitive: @unchecked Sendable {
    struct Arg {
        let index: Int32
        var user: dnnl_memory_desc_t, inner: dnnl_memory_desc_t
        let output: Bool
        let reorder: dnnl_primitive_t?     // user → inner (input) or inner → user (output)
        var bytes: Int                     // size of the inner buffer when reordered
    }
    let primitive: dnnl_primitive_t
    let args: [Arg]

    /// Creates the primitive of `pd` (which stays the caller's) with the
    /// arguments `(index, user layout, query and query index for the
    /// primitive's layout, output)`.
    init(pd: dnnl_primitive_desc_t, args spec: [(Int32, dnnl_memory_desc_t, dnnl_query_t, Int32, Bool)], engine: dnnl_engine_t) throws {
        var made: [Arg] = []
        var done = false
        defer { if !done { for a in made { if let r = a.reorder { dnnl_primitive_destroy(r) } } } }
        for (index, user, query, queryIndex, output) in spec {
            guard let innerP = dnnl_primitive_desc_query_md(pd, query, queryIndex) else { throw TensorError("oneDNN: no layout for argument \(index)") }
            var user = user, inner = innerP.pointee
            var reorder: dnnl_primitive_t? = nil
            if dnnl_memory_desc_equal(&user, &inner) == 0 {
                var rpd: dnnl_primitive_desc_t? = nil
                if output { try dnnlCheck(dnnl_reorder_primitive_desc_create(&rpd, &inner, engine, &user, engine, nil), "reorder") }
                else { try dnnlCheck(dnnl_reorder_primitive_desc_create(&rpd, &user, engine, &inner, engine, nil), "reorder") }
                defer { dnnl_primitive_desc_destroy(rpd) }
                try dnnlCheck(dnnl_primitive_create(&reorder, rpd), "reorder primitive")
            }
            made.append(Arg(index: index, user: user, inner: inner, output: output, reorder: reorder,
                            bytes: reorder == nil ? 0 : dnnl_memory_desc_get_size(&inner)))
        }
        var p: dnnl_primitive_t? = nil
        try dnnlCheck(dnnl_primitive_create(&p, pd), "primitive")
        guard let p else { throw TensorError("oneDNN: primitive creation returned nothing") }
        primitive = p
        args = made
        done = true
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        for a in args { if let r = a.reorder { dnnl_primitive_destroy(r) } }
    }

    /// Runs the primitive on the user buffers `data` (one per argument, in
    /// the order given at creation), reordering where layouts differ. With
    /// `shared`, an input already reordered into the same layout by an
    /// earlier primitive of the set is taken from there (and new ones are
    /// added).
    func execute(_ data: [UnsafeMutablePointer<Float>], runtime: DNNLRuntimeHandle, shared: DNNLReorders? = nil) throws {
        precondition(data.count == args.count, "DNNLPrimitive: \(data.count) buffers for \(args.count) arguments")
        var mems: [dnnl_memory_t] = []
        // Blocked copies live in engine storage (64-byte aligned; large
        // buffers come back from Storage's cache instead of fresh pages).
        var scratch: [Tensor] = []
        defer { for m in mems { dnnl_memory_destroy(m) } }
        func memory(_ md: dnnl_memory_desc_t, _ ptr: UnsafeMutableRawPointer) throws -> dnnl_memory_t {
            var md = md, m: dnnl_memory_t? = nil
            try dnnlCheck(dnnl_memory_create(&m, &md, runtime.engine, ptr), "memory")
            guard let m else { throw TensorError("oneDNN: memory creation returned nothing") }
            mems.append(m)
            return m
        }
        var execArgs: [dnnl_exec_arg_t] = []
        var outs: [(dnnl_primitive_t, dnnl_memory_t, dnnl_memory_t)] = []
        for (a, ptr) in zip(args, data) {
            let user = try memory(a.user, UnsafeMutableRawPointer(ptr))
            guard let r = a.reorder else { execArgs.append(dnnl_exec_arg_t(arg: a.index, memory: user)); continue }
            let done = a.output ? nil : shared?.find(ptr, a.inner)
            let buf = try done ?? Tensor(uninitialized: [(a.bytes + 3) / 4])
            scratch.append(buf)
            let inner = try memory(a.inner, UnsafeMutableRawPointer(buf.data))
            execArgs.append(dnnl_exec_arg_t(arg: a.index, memory: inner))
            if a.output { outs.append((r, inner, user)) }
            else if done == nil {
                try reorder(r, from: user, to: inner, runtime)
                shared?.add(ptr, a.inner, buf)
            }
        }
        try dnnlCheck(dnnl_primitive_execute(primitive, runtime.stream, Int32(execArgs.count), execArgs), "execute")
        for (r, inner, user) in outs { try reorder(r, from: inner, to: user, runtime) }
        try dnnlCheck(dnnl_stream_wait(runtime.stream), "stream wait")
        withExtendedLifetime(scratch) {}
    }

    private func reorder(_ r: dnnl_primitive_t, from: dnnl_memory_t, to: dnnl_memory_t, _ runtime: DNNLRuntimeHandle) throws {
        let a = [dnnl_exec_arg_t(arg: QV_DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: QV_DNNL_ARG_TO, memory: to)]
        try dnnlCheck(dnnl_primitive_execute(r, runtime.stream, 2, a), "reorder")
    }
}

/// Inputs reordered into a primitive's layout, kept for the next primitive
/// of one pass that reads the same buffer in the same layout: a backward
/// pass's data and weight primitives both read the output gradient, and
/// reordering it (NCHW to blocked) once instead of twice saved ≈ 18 ms
/// of P-conv's 560 ms K·D = 8 step (1 thread; the 800 × 32 × 25 × 25
/// gradient alone takes ≈ 10 ms per reorder).
final class DNNLReorders {
    private var entries: [(address: UnsafeMutableRawPointer, layout: dnnl_memory_desc_t, buffer: Tensor)] = []

    func find(_ p: UnsafeMutablePointer<Float>, _ layout: dnnl_memory_desc_t) -> Tensor? {
        for e in entries where e.address == UnsafeMutableRawPointer(p) {
            var a = e.layout, b = layout
            if dnnl_memory_desc_equal(&a, &b) != 0 { return e.buffer }
        }
        return nil
    }

    func add(_ p: UnsafeMutablePointer<Float>, _ layout: dnnl_memory_desc_t, _ buffer: Tensor) {
        entries.append((UnsafeMutableRawPointer(p), layout, buffer))
    }
}

/// The engine and stream handed to `DNNLPrimitive.execute`.
struct DNNLRuntimeHandle { let engine: dnnl_engine_t, stream: dnnl_stream_t }

/// The three primitives of one convolution shape.
final class DNNLConv: @unchecked Sendable {
    let key: DNNLConvKey
    let forward: DNNLPrimitive, backwardData: DNNLPrimitive, backwardWeights: DNNLPrimitive

    /// Shapes seen so far (nil: oneDNN has no primitive for that shape).
    private static let cache = Mutex([DNNLConvKey: DNNLConv?]())
    /// Most shapes kept in `cache` (primitives still in use by a recorded
    /// graph stay alive until it is released).
    static let cacheCapacity = 256
    /// Serializes executions on the shared stream.
    private static let running = Mutex(())

    /// The cached primitives for `key`, created on first use; nil when
    /// oneDNN is unavailable or rejects the shape (the caller then uses
    /// the native path).
    static func get(_ key: DNNLConvKey) -> DNNLConv? {
        if let hit = cache.withLock({ $0[key] }) { return hit }
        omp_set_num_threads(Int32(key.threads))   // oneDNN sizes its blocking by the thread count
        let made = try? DNNLConv(key)
        cache.withLock { c in
            // Shapes are few in training (one per layer and batch size); a
            // run that meets many (evaluations of every batch size) starts
            // the cache afresh rather than growing it without bound.
            if c.count >= cacheCapacity { c.removeAll() }
            c[key] = .some(made)
        }
        return made
    }

    private init(_ k: DNNLConvKey) throws {
        guard let rt = DNNLRuntime.shared else { throw TensorError("oneDNN: no CPU engine") }
        key = k
        let src = try plainMD([k.n, k.cin, k.h, k.w], dnnl_nchw)
        let dst = try plainMD([k.n, k.cout, k.oh, k.ow], dnnl_nchw)
        let wts = try plainMD([k.cout, k.cin, k.kh, k.kw], k.transposed ? dnnl_iohw : dnnl_oihw)
        let bia = try plainMD([k.cout], dnnl_a)
        func any(_ md: dnnl_memory_desc_t) throws -> dnnl_memory_desc_t {
            if k.plain { return md }
            var out = dnnl_memory_desc_t()
            let d = (0..<Int(md.ndims)).map { i in withUnsafeBytes(of: md.dims) { $0.load(fromByteOffset: 8 * i, as: Int64.self) } }
            try dnnlCheck(dnnl_memory_desc_init_by_tag(&out, md.ndims, d, dnnl_f32, dnnl_format_tag_any), "memory descriptor")
            return out
        }
        var srcA = try any(src), dstA = try any(dst), wtsA = try any(wts)
        let biaP = UnsafeMutablePointer<dnnl_memory_desc_t>.allocate(capacity: 1)
        biaP.initialize(to: bia)
        defer { biaP.deallocate() }
        let biaA: UnsafePointer<dnnl_memory_desc_t>? = k.bias ? UnsafePointer(biaP) : nil
        let strides: [Int64] = [Int64(k.sh), Int64(k.sw)], padL: [Int64] = [Int64(k.ph), Int64(k.pw)]
        // Right/bottom padding that makes the output size exact.
        let padR: [Int64] = k.transposed
            ? [Int64((k.h - 1) * k.sh + k.kh - k.oh - k.ph), Int64((k.w - 1) * k.sw + k.kw - k.ow - k.pw)]
            : [Int64((k.oh - 1) * k.sh + k.kh - k.h - k.ph), Int64((k.ow - 1) * k.sw + k.kw - k.w - k.pw)]
        guard padR.allSatisfy({ $0 >= 0 }) else { throw TensorError("oneDNN: negative right padding") }
        // Convolution and deconvolution descriptors have the same C type, and
        // their initializers the same signatures: pick the family once.
        let t = k.transposed
        let kind = t ? "deconvolution" : "convolution"
        let alg = t ? dnnl_deconvolution_direct : dnnl_convolution_direct
        let initForward = t ? dnnl_deconvolution_forward_desc_init : dnnl_convolution_forward_desc_init
        let initData = t ? dnnl_deconvolution_backward_data_desc_init : dnnl_convolution_backward_data_desc_init
        let initWeights = t ? dnnl_deconvolution_backward_weights_desc_init : dnnl_convolution_backward_weights_desc_init
        var fd = dnnl_convolution_desc_t(), dd = dnnl_convolution_desc_t(), wd = dnnl_convolution_desc_t()
        try dnnlCheck(initForward(&fd, dnnl_forward_training, alg, &srcA, &wtsA, biaA, &dstA, strides, padL, padR), "\(kind) forward")
        try dnnlCheck(initData(&dd, alg, &srcA, &wtsA, &dstA, strides, padL, padR), "\(kind) backward data")
        try dnnlCheck(initWeights(&wd, alg, &srcA, &wtsA, biaA, &dstA, strides, padL, padR), "\(kind) backward weights")
        var fpd: dnnl_primitive_desc_t? = nil
        try dnnlCheck(dnnl_primitive_desc_create(&fpd, &fd, nil, rt.engine, nil), "forward primitive descriptor")
        guard let fpd else { throw TensorError("oneDNN: no forward primitive descriptor") }
        // Primitives keep their own copies of the descriptors: these go at the end.
        var dpd: dnnl_primitive_desc_t? = nil, wpd: dnnl_primitive_desc_t? = nil
        defer { for p in [fpd, dpd, wpd] { if let p { dnnl_primitive_desc_destroy(p) } } }
        try dnnlCheck(dnnl_primitive_desc_create(&dpd, &dd, nil, rt.engine, fpd), "backward-data primitive descriptor")
        try dnnlCheck(dnnl_primitive_desc_create(&wpd, &wd, nil, rt.engine, fpd), "backward-weights primitive descriptor")
        guard let dpd, let wpd else { throw TensorError("oneDNN: no backward primitive descriptor") }
        var fArgs: [(Int32, dnnl_memory_desc_t, dnnl_query_t, Int32, Bool)] = [
            (Int32(QV_DNNL_ARG_SRC), src, dnnl_query_src_md, 0, false), (Int32(QV_DNNL_ARG_WEIGHTS), wts, dnnl_query_weights_md, 0, false),
            (Int32(QV_DNNL_ARG_DST), dst, dnnl_query_dst_md, 0, true)]
        if k.bias { fArgs.append((Int32(QV_DNNL_ARG_BIAS), bia, dnnl_query_weights_md, 1, false)) }
        forward = try DNNLPrimitive(pd: fpd, args: fArgs, engine: rt.engine)
        backwardData = try DNNLPrimitive(pd: dpd, args: [
            (Int32(QV_DNNL_ARG_DIFF_DST), dst, dnnl_query_diff_dst_md, 0, false), (Int32(QV_DNNL_ARG_WEIGHTS), wts, dnnl_query_weights_md, 0, false),
            (Int32(QV_DNNL_ARG_DIFF_SRC), src, dnnl_query_diff_src_md, 0, true)], engine: rt.engine)
        var wArgs: [(Int32, dnnl_memory_desc_t, dnnl_query_t, Int32, Bool)] = [
            (Int32(QV_DNNL_ARG_SRC), src, dnnl_query_src_md, 0, false), (Int32(QV_DNNL_ARG_DIFF_DST), dst, dnnl_query_diff_dst_md, 0, false),
            (Int32(QV_DNNL_ARG_DIFF_WEIGHTS), wts, dnnl_query_diff_weights_md, 0, true)]
        if k.bias { wArgs.append((Int32(QV_DNNL_ARG_DIFF_BIAS), bia, dnnl_query_diff_weights_md, 1, true)) }
        backwardWeights = try DNNLPrimitive(pd: wpd, args: wArgs, engine: rt.engine)
    }

    /// Runs `p` on `data` (user buffers in the primitive's argument order)
    /// with `key.threads` OpenMP threads, one call at a time.
    func run(_ p: DNNLPrimitive, _ data: [UnsafeMutablePointer<Float>], shared: DNNLReorders? = nil) throws {
        guard let rt = DNNLRuntime.shared else { throw TensorError("oneDNN: no CPU engine") }
        try DNNLConv.running.withLock { _ in
            omp_set_num_threads(Int32(key.threads))
            try p.execute(data, runtime: DNNLRuntimeHandle(engine: rt.engine, stream: rt.stream), shared: shared)
        }
    }

    /// OpenMP threads for oneDNN's primitives: `Parallel.threads`, or
    /// QV_DNNL_THREADS (for measurements).
    static var threads: Int {
        if let v = getenv("QV_DNNL_THREADS"), let n = Int(String(cString: v)), n >= 1 { return n }
        return Parallel.threads
    }

    /// QV_DNNL_LAYOUT=plain: primitives on NCHW directly (no reorders).
    static let plainLayout: Bool = {
        guard let v = getenv("QV_DNNL_LAYOUT") else { return false }
        return String(cString: v) == "plain"
    }()
}

extension ConvEngineChoice {
    /// The passes where oneDNN (blocked layouts, reorders included)
    /// measured faster than the native path at P-conv's shapes (batch 100,
    /// 1 thread, `vaebench convs` with QV_CONV_ENGINE=native|dnnl, ms
    /// forward / backward, native → oneDNN):
    ///
    /// * conv2d with ≥ 16 input and ≥ 32 output channels and more than one
    ///   output pixel: 16→64 s2 (4.5 → 3.3 / 10.1 → 7.4), 32→64 s1
    ///   (8.7 → 5.2 / 15.5 → 11.3), 32→128 s2 (2.1 → 1.2 / 3.5 → 3.0); not
    ///   1→32 (1.3 → 1.4 / 3.0 → 3.3) nor 64→256 to 1×1 (1.5 → 1.9 / 2.1 → 3.2).
    /// * convTranspose2d with ≥ 32 channels on both sides: forward at
    ///   stride 1 (32→64 9×9: 13.7 → 8.2; 128→128 1×1: 2.3 → 2.0), not at
    ///   stride 2 (32→32 12×12: 6.5 → 9.6; 64→64: 3.0 → 3.1); backward from
    ///   more than one input pixel (32→64: 20.3 → 11.6, 32→32 s2: 12.3 →
    ///   10.1, 64→64 s2: 4.9 → 3.4), not from 1×1 (128→128: 3.3 → 3.8);
    ///   never with few output channels (16→2: forward 1.3 → 9.0).
    ///
    /// (Since then a kernel that covers the whole input — conv2d 64→256 to
    /// 1×1, convTranspose2d 128→128 from 1×1 — never reaches either engine:
    /// it is one GEMM, 0.7 / 1.1 and 0.8 / 1.7 ms.)
    static func measured(transposed: Bool, cin: Int, cout: Int, h: Int, w: Int, oh: Int, ow: Int, sh: Int, sw: Int) -> ConvEngineChoice {
        if !transposed {
            return cin >= 16 && cout >= 32 && oh * ow > 1 ? .dnnl : .native
        }
        guard cin >= 32 && cout >= 32 else { return .native }
        let backward = h * w > 1
        return ConvEngineChoice(forward: sh == 1 && sw == 1, backwardData: backward, backwardWeights: backward)
    }
}

/// The engine of each pass of one convolution call: oneDNN where chosen
/// for the shape and available, the native path otherwise.
struct DNNLConvPlan {
    let conv: DNNLConv?
    let forward: Bool, backwardData: Bool, backwardWeights: Bool

    init(transposed: Bool, n: Int, cin: Int, h: Int, w: Int, cout: Int, oh: Int, ow: Int,
         kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, bias: Bool) {
        let choice = ConvEngineChoice.override.withLock { $0 } ?? ConvEngineChoice.forced
            ?? ConvEngineChoice.measured(transposed: transposed, cin: cin, cout: cout, h: h, w: w, oh: oh, ow: ow, sh: sh, sw: sw)
        let nonEmpty = [n, cin, h, w, cout, oh, ow, kh, kw].allSatisfy { $0 > 0 }
        let c = choice.any && nonEmpty
            ? DNNLConv.get(DNNLConvKey(transposed: transposed, n: n, cin: cin, h: h, w: w, cout: cout, oh: oh, ow: ow,
                                       kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, bias: bias,
                                       threads: DNNLConv.threads, plain: DNNLConv.plainLayout))
            : nil
        conv = c
        forward = c != nil && choice.forward
        backwardData = c != nil && choice.backwardData
        backwardWeights = c != nil && choice.backwardWeights
    }

    /// out = conv(x, w) + b, all contiguous NCHW (weights in the op's layout).
    func runForward(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ out: Tensor) throws {
        guard let conv else { throw TensorError("oneDNN: no primitive for this convolution") }
        var data = [x.data, w.data, out.data]
        if conv.key.bias {
            guard let b else { throw TensorError("oneDNN: the primitive expects a bias") }
            data.append(b.data)
        }
        try withExtendedLifetime((x, w, b, out)) { try conv.run(conv.forward, data) }
    }

    /// gx = the input gradient for output gradient gy (contiguous).
    /// `shared`: reorders shared with `runBackwardWeights` of the same pass.
    func runBackwardData(_ gy: Tensor, _ w: Tensor, _ gx: Tensor, shared: DNNLReorders? = nil) throws {
        guard let conv else { throw TensorError("oneDNN: no primitive for this convolution") }
        try withExtendedLifetime((gy, w, gx)) { try conv.run(conv.backwardData, [gy.data, w.data, gx.data], shared: shared) }
    }

    /// The weight gradient (shaped `weightShape`) and, with a bias, the
    /// bias gradient [cout] for input x and output gradient gy.
    func runBackwardWeights(_ x: Tensor, _ gy: Tensor, weightShape: [Int], shared: DNNLReorders? = nil) throws -> (Tensor, Tensor?) {
        guard let conv else { throw TensorError("oneDNN: no primitive for this convolution") }
        let gw = try Tensor(uninitialized: weightShape)
        let gb = conv.key.bias ? try Tensor(uninitialized: [conv.key.cout]) : nil
        var data = [x.data, gy.data, gw.data]
        if let gb { data.append(gb.data) }
        try withExtendedLifetime((x, gy, gw, gb)) { try conv.run(conv.backwardWeights, data, shared: shared) }
        return (gw, gb)
    }
}
