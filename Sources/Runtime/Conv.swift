import Synchronization
#if canImport(Glibc)
import Glibc
#endif
/// 2-D convolution and transposed convolution (NCHW) by im2col + GEMM.
///
/// A convolution with weight [Cout, Cin, kH, kW] is one GEMM per group of
/// images: Y[Cout, G·L] = W[Cout, Cin·kH·kW] · cols[Cin·kH·kW, G·L], where
/// `cols` unfolds every receptive field of G images with L output pixels
/// each. Its input gradient is the adjoint (GEMM with Wᵀ, then col2im),
/// which is exactly the forward pass of the transposed convolution.
///
/// At the shapes where oneDNN measured faster (DNNL.swift,
/// `ConvEngineChoice.measured`: the wide P-conv layers), whole passes —
/// forward, input gradient, weight and bias gradients, each chosen on its
/// own — run on oneDNN's direct kernels instead; QV_CONV_ENGINE=native
/// keeps everything here.

/// Geometry of an unfold: an image [C, H, W] and the grid of kernel
/// positions [OH, OW] that a kH×kW kernel with stride and padding visits.
struct ConvGeometry {
    let c: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, oh: Int, ow: Int
    var rows: Int { c * kh * kw }   // rows of cols
    var l: Int { oh * ow }          // columns per image

    /// Unfolds images `n0..<n0+g` of contiguous `x` ([N, C, H, W]) into
    /// `cols` [rows, g·L].
    func im2col(_ x: UnsafeMutablePointer<Float>, n0: Int, g: Int, cols: UnsafeMutablePointer<Float>) {
        let ld = g * l, hw = h * w
        Parallel.forEachRange(count: rows, minimum: rows * ld >= 1 << 15 ? 0 : Int.max) { rr in
            for row in rr {
                let ci = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw
                for gi in 0..<g {
                    let img = x + ((n0 + gi) * c + ci) * hw
                    let dst = cols + row * ld + gi * l
                    for y in 0..<oh {
                        let iy = y * sh - ph + ki
                        let d = dst + y * ow
                        if iy < 0 || iy >= h { d.update(repeating: 0, count: ow); continue }
                        let src = img + iy * w
                        if sw == 1 {
                            let x0 = kj - pw  // ix = xo + x0
                            let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                            // Rows are short (ow ≈ 4–28): vector moves, no memcpy calls.
                            let l0 = Swift.min(lo, ow), h0 = Swift.max(hi, l0)
                            for xo in 0..<l0 { d[xo] = 0 }
                            if h0 > l0 { copyRow(d + l0, src + x0 + l0, count: h0 - l0, stride: 1) }
                            for xo in h0..<ow { d[xo] = 0 }
                        } else {
                            // Valid xo: 0 ≤ xo·sw + x0 < w; no per-element bounds tests.
                            let x0 = kj - pw
                            let lo = Swift.min(x0 >= 0 ? 0 : (sw - 1 - x0) / sw, ow)
                            let hi = Swift.max(lo, Swift.min(ow, w - 1 - x0 >= 0 ? (w - 1 - x0) / sw + 1 : 0))
                            for xo in 0..<lo { d[xo] = 0 }
                            if hi > lo { copyRow(d + lo, src + x0 + lo * sw, count: hi - lo, stride: sw) }
                            for xo in hi..<ow { d[xo] = 0 }
                        }
                    }
                }
            }
        }
    }

    /// Folds `cols` [rows, g·L] back, accumulating into images `n0..<n0+g`
    /// of contiguous `x` ([N, C, H, W]), which the caller has initialized.
    func col2im(_ cols: UnsafeMutablePointer<Float>, n0: Int, g: Int, into x: UnsafeMutablePointer<Float>) {
        let ld = g * l, hw = h * w
        // Parallel over channels: different channels touch disjoint planes.
        Parallel.forEachRange(count: c, minimum: rows * ld >= 1 << 15 ? 0 : Int.max) { cr in
            for ci in cr {
                for ki in 0..<kh { for kj in 0..<kw {
                    let row = (ci * kh + ki) * kw + kj
                    for gi in 0..<g {
                        let img = x + ((n0 + gi) * c + ci) * hw
                        let srcRow = cols + row * ld + gi * l
                        for y in 0..<oh {
                            let iy = y * sh - ph + ki
                            if iy < 0 || iy >= h { continue }
                            let s = srcRow + y * ow, d = img + iy * w
                            if sw == 1 {
                                let x0 = kj - pw
                                let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                                if hi > lo { addRow(d + lo + x0, s + lo, count: hi - lo) }
                            } else {
                                for xo in 0..<ow {
                                    let ix = xo * sw - pw + kj
                                    if ix >= 0 && ix < w { d[ix] += s[xo] }
                                }
                            }
                        }
                    }
                } }
            }
        }
    }

    /// Checks, before any buffer is sized, that the output [n, cout, oh', ow']
    /// and the whole unfolded input (rows × n × L, which bounds every
    /// im2col/col2im buffer and offset) fit `Shape.maxElements`: a large
    /// padding or stride otherwise overflows these products or sizes a
    /// buffer no machine has.
    func checkSizes(output: [Int], n: Int, op: String) throws {
        try Shape.checkedCount(output, op: op)
        _ = try Shape.product(rows, Swift.max(n, 1), l, op: op,
                              what: "the unfolded input (\(rows) rows × \(n) images × \(oh)·\(ow) positions)")
    }

    /// Images per GEMM: enough that each GEMM has at least `groupColumns`
    /// columns, keeping `cols` under 16 MB. Images with that many output
    /// pixels get one GEMM each, which reads and writes the NCHW tensors in
    /// place (no layout passes).
    func groupSize(_ n: Int) -> Int {
        let byWidth = (ConvGeometry.groupColumns + l - 1) / Swift.max(l, 1)
        let byMemory = (1 << 22) / Swift.max(rows * l, 1)
        return Swift.max(1, Swift.min(n, byWidth, byMemory))
    }

    /// Columns per GEMM that `groupSize` aims at (QV_CONV_GROUP_COLUMNS
    /// overrides it, for measurements). 512 measured 3–4% faster than 2048
    /// for P-conv's K·D = 8 step and 4% for its raw convolutions (1 thread,
    /// `vaebench convs` / `train --d 8`, alternating): smaller unfolded
    /// blocks stay in cache between the unfold and the GEMM; 8192 was 7% slower.
    static let groupColumns: Int = {
        guard let v = getenv("QV_CONV_GROUP_COLUMNS"), let n = Int(String(cString: v)), n >= 1 else { return 512 }
        return n
    }()

    /// Largest unfolded input (floats) that `conv2d` keeps from its forward
    /// pass for the weight gradient (64 M floats = 256 MB).
    static let keptColumnsLimit = 1 << 26
}

/// dst[i] = src[i·stride] for i < count. Rows of the unfolds are short
/// (P-conv: 4–28 floats), where scalar loops and memcpy calls both cost
/// more than the copy: stride 1 and 2 move 8 floats per vector, the last
/// vector overlapping the one before (a copy may write a float twice).
/// Reads only src[0 ... stride·(count − 1)], writes only dst[0..<count].
@inline(__always)
func copyRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeMutablePointer<Float>, count: Int, stride: Int) {
    typealias V8 = SIMD8<Float>
    typealias V16 = SIMD16<Float>
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    if stride == 1 && count >= 8 {
        var i = 0
        while i < count - 8 { d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: V8.self), toByteOffset: 4 * i, as: V8.self); i += 8 }
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * (count - 8), as: V8.self), toByteOffset: 4 * (count - 8), as: V8.self)
    } else if stride == 1 && count >= 4 {
        d.storeBytes(of: s.loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * (count - 4), as: SIMD4<Float>.self), toByteOffset: 4 * (count - 4), as: SIMD4<Float>.self)
    } else if stride == 2 && count >= 9 {
        // Even lanes of 16 floats from src + 2i (reads ≤ src[2i + 15] ≤ src[2·count − 3]).
        var i = 0
        while i < count - 8 { d.storeBytes(of: s.loadUnaligned(fromByteOffset: 8 * i, as: V16.self).evenHalf, toByteOffset: 4 * i, as: V8.self); i += 8 }
        // The last 8: odd lanes from src + 2(count − 8) − 1 (≥ src + 1), ending at src[2·count − 2].
        let j = count - 8
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 8 * j - 4, as: V16.self).oddHalf, toByteOffset: 4 * j, as: V8.self)
    } else {
        for i in 0..<count { dst[i] = src[i * stride] }
    }
}

/// dst[i] += src[i] for i < count (col2im's short rows), 8 floats per vector.
@inline(__always)
func addRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeMutablePointer<Float>, count: Int) {
    typealias V8 = SIMD8<Float>
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i + 8 <= count {
        d.storeBytes(of: d.loadUnaligned(fromByteOffset: 4 * i, as: V8.self) + s.loadUnaligned(fromByteOffset: 4 * i, as: V8.self),
                     toByteOffset: 4 * i, as: V8.self)
        i += 8
    }
    while i < count { dst[i] += src[i]; i += 1 }
}

/// The transposed-convolution map ("scatter"), computed as gathers:
/// dest[n, d, oy, ox] = Σ src[n, c, iy, ix] · w[c, d, ki, kj] over all
/// oy = iy·sh − ph + ki, ox = ix·sw − pw + kj — `convTranspose2d`'s forward
/// and `conv2d`'s input gradient. The scatter form (GEMM with K = C_src,
/// then a col2im scatter-add) has a short K and writes a cols matrix k²
/// times the source; instead, the outputs are split by phase
/// ((oy + ph) mod sh, (ox + pw) mod sw): within one phase only the taps
/// ki ≡ phase (mod s) contribute and they form a stride-1 correlation of
/// the source with a flipped sub-kernel. Each phase is then an ordinary
/// im2col + GEMM (K = C_src · taps) whose result is stored, not added, into
/// its strided output positions; stride 1 is the single phase (the
/// textbook "transposed convolution = convolution with the flipped kernel,
/// padding k − 1 − p"). Batches of images share each GEMM.
struct ScatterConv {
    struct Phase {
        let fy: Int, fx: Int            // phase = tap offsets ki ≡ fy, kj ≡ fx (mod stride)
        let oy0: Int, ox0: Int          // first output row/column of the phase
        let geo: ConvGeometry           // the phase's gather over the source (sub-kernel nay × nax)
    }
    let cs: Int, hs: Int, ws: Int, cd: Int, hd: Int, wd: Int, kh: Int, kw: Int, sh: Int, sw: Int
    let phases: [Phase]

    init(cs: Int, hs: Int, ws: Int, cd: Int, hd: Int, wd: Int, kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int) {
        self.cs = cs; self.hs = hs; self.ws = ws; self.cd = cd; self.hd = hd; self.wd = wd
        self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw
        // Per axis: (phase f, taps na, first output o0, outputs L, gather padding).
        func axis(_ k: Int, _ s: Int, _ p: Int, _ outSize: Int) -> [(f: Int, na: Int, o0: Int, l: Int, pad: Int)] {
            (0..<s).map { f in
                let na = f < k ? (k - f + s - 1) / s : 0
                let o0 = ((f - p) % s + s) % s
                let l = o0 < outSize ? (outSize - 1 - o0) / s + 1 : 0
                let q0 = (o0 + p - f) / s          // source index of tap f at output o0
                return (f, na, o0, l, na - 1 - q0)  // gather: i = j − pad + a
            }
        }
        var ps: [Phase] = []
        for y in axis(kh, sh, ph, hd) { for x in axis(kw, sw, pw, wd) where y.l > 0 && x.l > 0 {
            ps.append(Phase(fy: y.f, fx: x.f, oy0: y.o0, ox0: x.o0,
                            geo: ConvGeometry(c: cs, h: hs, w: ws, kh: y.na, kw: x.na, sh: 1, sw: 1,
                                              ph: y.pad, pw: x.pad, oh: y.l, ow: x.l)))
        } }
        phases = ps
    }

    /// Multiply-adds per image and destination channel, gather form vs scatter form.
    var gatherMACs: Int { phases.reduce(0) { $0 + $1.geo.rows / Swift.max(cs, 1) * $1.geo.l } }
    var scatterMACs: Int { kh * kw * hs * ws }
    /// Which form is faster, from measurements at P-conv's shapes
    /// (`vaebench convs`, QV_CONV_TRANSPOSED to force one): the scatter
    /// form's GEMM has K = C_src and suffers when that is short (≤ 32),
    /// while the gather pays for unfolding K = C_src·taps rows per output
    /// and computes on padding zeros where the source is smaller than the
    /// destination (1×1 → 4×4 is 16× the work). Gather wins for convT
    /// 32→64 9×9→12×12 (13.1 vs 15.3 ms, 1 thread) and 32→32 s2 12×12→25×25
    /// (8.5 vs 10.0 ms); scatter wins for every conv2d input gradient at
    /// these shapes (e.g. 64→32 12×12: 14.9 vs 22.9 ms) and for a
    /// destination with few channels (16→2: 2.5 vs 11.6 ms).
    var prefersGather: Bool {
        if let f = ScatterConv.forced { return f }
        return cs <= 32 && cd >= 32 && gatherMACs <= 2 * scatterMACs
    }
    /// QV_CONV_TRANSPOSED=gather|scatter forces one form (for measurements).
    static let forced: Bool? = {
        guard let v = getenv("QV_CONV_TRANSPOSED") else { return nil }
        let s = String(cString: v)
        return s == "gather" ? true : s == "scatter" ? false : nil
    }()

    /// The phase's sub-kernel as a [cd, cs·nay·nax] matrix, flipped:
    /// wp[d, (c, a, b)] = w[c, d, fy + sh(nay−1−a), fx + sw(nax−1−b)].
    func subKernel(_ w: UnsafeMutablePointer<Float>, _ p: Phase) throws -> Tensor {
        let nay = p.geo.kh, nax = p.geo.kw, rows = p.geo.rows
        let t = try Tensor(uninitialized: [cd * rows])
        let o = t.data
        for d in 0..<cd { for c in 0..<cs { for a in 0..<nay { for b in 0..<nax {
            o[d * rows + (c * nay + a) * nax + b] =
                w[((c * cd + d) * kh + p.fy + sh * (nay - 1 - a)) * kw + p.fx + sw * (nax - 1 - b)]
        } } } }
        return t
    }

    /// dest [n, cd, hd, wd] (fully written) from contiguous src [n, cs, hs, ws]
    /// and contiguous weight [cs, cd, kh, kw], plus `bias` [cd].
    ///
    /// Each phase's stride-1 gather runs on a zero-padded copy of the
    /// source (rows of width Wp = lx + nax − 1) and computes "wide" outputs
    /// (ly × Wp, the last nax − 1 of each row discarded): then every row of
    /// the unfolded matrix is one contiguous copy of ly·Wp floats from the
    /// padded plane, with no index arithmetic per element.
    ///
    /// Images go in one block per thread (`Parallel.forEachBlock`): as a
    /// sequence of parallel copies and threaded GEMMs the pass ran no
    /// faster on two threads than on one (convT 32→32 s2 at batch 100:
    /// 7.4 ms on one thread, 8.4 on two; 5.6 in blocks).
    func run(src: UnsafeMutablePointer<Float>, n: Int, weight: UnsafeMutablePointer<Float>,
             bias: UnsafeMutablePointer<Float>?, dest: UnsafeMutablePointer<Float>) throws {
        try Parallel.forEachBlock(count: n) { _, r in
            try runImages(src: src, n0: r.lowerBound, count: r.count, weight: weight, bias: bias, dest: dest)
        }
        // Phases without taps (kernel smaller than the stride): bias or zero.
        let hw = hd * wd
        for p in phases where p.geo.rows == 0 {
            for i in 0..<n { for d in 0..<cd {
                let b = bias?[d] ?? 0, img = dest + (i * cd + d) * hw
                for jy in 0..<p.geo.oh { for jx in 0..<p.geo.ow { img[(p.oy0 + jy * sh) * wd + p.ox0 + jx * sw] = b } }
            } }
        }
        let covered = phases.reduce(0) { $0 + $1.geo.l }
        precondition(covered == hw, "ScatterConv: phases cover \(covered) of \(hw) outputs")
    }

    /// The phases with taps for images n0..<n0+count.
    private func runImages(src: UnsafeMutablePointer<Float>, n0 first: Int, count: Int, weight: UnsafeMutablePointer<Float>,
                           bias: UnsafeMutablePointer<Float>?, dest: UnsafeMutablePointer<Float>) throws {
        let hw = hd * wd, n = first + count
        for p in phases {
            let geo = p.geo
            if geo.rows == 0 { continue }
            let nay = geo.kh, nax = geo.kw, ly = geo.oh, lx = geo.ow
            let wp = lx + nax - 1, hp = ly + nay - 1
            let plane = hp * wp + nax - 1            // slack: the last tap's copy runs past the last row
            let lw = ly * wp, rows = geo.rows
            let padY = geo.ph, padX = geo.pw          // padded (r, q) holds source (r − padY, q − padX)
            let wpm = try subKernel(weight, p)
            let G = Swift.max(1, Swift.min(count, (ConvGeometry.groupColumns + lw - 1) / lw, (1 << 22) / Swift.max(rows * lw, 1)))
            let padded = try Tensor(uninitialized: [G * cs * plane])
            let cols = try Tensor(uninitialized: [rows * G * lw])
            let ybuf = try Tensor(uninitialized: [cd * G * lw])
            // Source rows that land inside the padded plane, and their columns.
            let r0 = Swift.max(0, padY), r1 = Swift.min(hp, hs + padY)
            let q0 = Swift.max(0, padX), q1 = Swift.min(wp, ws + padX)
            forEachGroup(first..<n, size: G) { n0, g in
                let ld = g * lw
                let pp = padded.data, cp = cols.data
                Parallel.forEachRange(count: g * cs, minimum: g * cs * plane >= 1 << 15 ? 0 : Int.max) { r in
                    for gc in r {
                        let d = pp + gc * plane, sp = src + (n0 * cs + gc) * hs * ws
                        d.update(repeating: 0, count: plane)
                        if q1 > q0 { for rr in r0..<r1 { (d + rr * wp + q0).update(from: sp + (rr - padY) * ws + (q0 - padX), count: q1 - q0) } }
                    }
                }
                Parallel.forEachRange(count: rows, minimum: rows * ld >= 1 << 15 ? 0 : Int.max) { rr in
                    for row in rr {
                        let c = row / (nay * nax), a = (row / nax) % nay, b = row % nax
                        for gi in 0..<g {
                            (cp + row * ld + gi * lw).update(from: pp + (gi * cs + c) * plane + a * wp + b, count: lw)
                        }
                    }
                }
                let y = ybuf.data
                gemm(mat(wpm, cd, rows), mat(cols, rows, ld), into: y, ldc: ld)
                Parallel.forEachRange(count: cd, minimum: cd * ld >= 1 << 15 ? 0 : Int.max) { dr in
                    for d in dr {
                        let bv = bias?[d] ?? 0
                        for gi in 0..<g {
                            let s = y + d * ld + gi * lw
                            let img = dest + ((n0 + gi) * cd + d) * hw + p.oy0 * wd + p.ox0
                            for jy in 0..<ly {
                                let sr = s + jy * wp, orow = img + jy * sh * wd
                                if sw == 1 { for jx in 0..<lx { orow[jx] = sr[jx] + bv } }
                                else { for jx in 0..<lx { orow[jx * sw] = sr[jx] + bv } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// [N, C, L] images n0..<n0+g  ⇄  [C, g·L] matrix.
private func nclToCL(_ src: UnsafeMutablePointer<Float>, c: Int, l: Int, n0: Int, g: Int, _ dst: UnsafeMutablePointer<Float>) {
    for gi in 0..<g { for ci in 0..<c { (dst + ci * g * l + gi * l).update(from: src + ((n0 + gi) * c + ci) * l, count: l) } }
}
private func clToNCL(_ src: UnsafeMutablePointer<Float>, c: Int, l: Int, n0: Int, g: Int, _ dst: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?) {
    for gi in 0..<g { for ci in 0..<c {
        let d = dst + ((n0 + gi) * c + ci) * l, s = src + ci * g * l + gi * l
        if let bias { let b = bias[ci]; for i in 0..<l { d[i] = s[i] + b } } else { d.update(from: s, count: l) }
    } }
}

/// Calls body(n0, g) for consecutive groups of at most `size` images of `range`.
@inline(__always)
private func forEachGroup(_ range: Range<Int>, size: Int, _ body: (Int, Int) throws -> Void) rethrows {
    var n0 = range.lowerBound
    while n0 < range.upperBound {
        let g = Swift.min(size, range.upperBound - n0)
        try body(n0, g)
        n0 += g
    }
}

/// Images n0..<n0+g of contiguous `t` ([N, C, L]) as a [C, g·L] matrix:
/// a view of one image, or several copied into `buffer`.
private func imagesAsMatrix(_ t: Tensor, c: Int, l: Int, n0: Int, g: Int, buffer: Tensor) -> Tensor {
    if g == 1 { return Tensor(storage: t.storage, shape: [c * l], strides: [1], offset: t.offset + n0 * c * l) }
    nclToCL(t.data, c: c, l: l, n0: n0, g: g, buffer.data)
    return buffer
}

/// 2-D matrix view helper (no autograd) over a raw pointer's storage.
private func mat(_ t: Tensor, _ rows: Int, _ cols: Int, offset: Int = 0) -> Tensor {
    Tensor(storage: t.storage, shape: [rows, cols], strides: [cols, 1], offset: t.offset + offset)
}

extension Tensor {
    private static func pair(_ v: [Int], _ name: String, _ op: String, min: Int) throws -> (Int, Int) {
        guard v.count == 1 || v.count == 2 else { throw TensorError("\(op): \(name) must have 1 or 2 values, got \(v.count)") }
        let a = v[0], b = v.count == 2 ? v[1] : v[0]
        guard a >= min, b >= min else { throw TensorError("\(op): \(name) must be ≥ \(min), got \(fmt(v))") }
        guard a <= Shape.maxElements, b <= Shape.maxElements else { throw TensorError("\(op): \(name) \(fmt(v)) is too large") }
        return (a, b)
    }

    /// 2-D convolution. input [N, Cin, H, W], weight [Cout, Cin, kH, kW],
    /// bias [Cout]; stride and padding as one value or (h, w).
    public static func conv2d(_ input: Tensor, _ weight: Tensor, _ bias: Tensor? = nil,
                              stride: [Int] = [1], padding: [Int] = [0]) throws -> Tensor {
        let op = "conv2d"
        guard input.rank == 4 else { throw TensorError("\(op): input must be 4-D [N, C, H, W], got \(fmt(input.shape))") }
        guard weight.rank == 4 else { throw TensorError("\(op): weight must be 4-D [Cout, Cin, kH, kW], got \(fmt(weight.shape))") }
        let (sh, sw) = try pair(stride, "stride", op, min: 1), (ph, pw) = try pair(padding, "padding", op, min: 0)
        let n = input.shape[0], cin = input.shape[1], h = input.shape[2], w = input.shape[3]
        let cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3]
        guard weight.shape[1] == cin else {
            throw TensorError("\(op): weight \(fmt(weight.shape)) expects \(weight.shape[1]) input channels, input \(fmt(input.shape)) has \(cin)")
        }
        if let bias, bias.shape != [cout] { throw TensorError("\(op): bias has shape \(fmt(bias.shape)), expected [\(cout)]") }
        guard kh > 0, kw > 0, h + 2 * ph >= kh, w + 2 * pw >= kw else {
            throw TensorError("\(op): kernel \(kh)x\(kw) is larger than the padded input \(h + 2 * ph)x\(w + 2 * pw)")
        }
        let geo = ConvGeometry(c: cin, h: h, w: w, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw,
                               oh: (h + 2 * ph - kh) / sh + 1, ow: (w + 2 * pw - kw) / sw + 1)
        try geo.checkSizes(output: [n, cout, geo.oh, geo.ow], n: n, op: op)
        if ph == 0, pw == 0, kh == h, kw == w {
            // The kernel covers the whole input (one output pixel): a dense
            // layer on the flattened input, one GEMM per pass.
            let y = try linear(input.reshape([n, cin * h * w]), weight.reshape([cout, cin * kh * kw]), bias)
            return try y.reshape([n, cout, 1, 1])
        }
        let x = input.contiguousData(), wm = weight.contiguousData()
        let out = try Tensor(uninitialized: [n, cout, geo.oh, geo.ow])
        let bc = bias?.contiguousData()
        let G = geo.groupSize(n)
        let rx = input.requiresGrad, rw = weight.requiresGrad, rb = bias?.requiresGrad ?? false
        let engine = DNNLConvPlan(transposed: false, n: n, cin: cin, h: h, w: w, cout: cout, oh: geo.oh, ow: geo.ow,
                                  kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, bias: bias != nil)
        // The weight gradient needs the unfolded input again: keep all of
        // it (group after group, each block [rows, g·L]) when it is
        // moderate, instead of unfolding twice (the native forward only;
        // a oneDNN forward unfolds nothing).
        let keepCols = GradMode.isEnabled && rw && !engine.forward && !engine.backwardWeights
            && geo.rows * n * geo.l <= ConvGeometry.keptColumnsLimit
        let cols = try Tensor(uninitialized: [engine.forward || !keepCols ? 0 : geo.rows * n * geo.l])
        if engine.forward { try engine.runForward(x, wm, bc, out) }
        // One block of images per thread (Parallel.forEachBlock), scratch of its own.
        else { try Parallel.forEachBlock(count: n) { _, r in
            let scratch = try Tensor(uninitialized: [keepCols ? 0 : geo.rows * Swift.min(G, r.count) * geo.l])
            let y = try Tensor(uninitialized: [G > 1 ? cout * Swift.min(G, r.count) * geo.l : 0])
            forEachGroup(r, size: G) { n0, g in
                let cbuf = keepCols ? cols : scratch, off = keepCols ? geo.rows * n0 * geo.l : 0
                geo.im2col(x.data, n0: n0, g: g, cols: cbuf.data + off)
                let colsM = mat(cbuf, geo.rows, g * geo.l, offset: off)
                if g == 1 {
                    let o = out.data + n0 * cout * geo.l
                    if let bc { for c in 0..<cout { (o + c * geo.l).update(repeating: bc.data[c], count: geo.l) } }
                    gemm(mat(wm, cout, geo.rows), colsM, into: o, ldc: geo.l, beta: bc == nil ? 0 : 1)
                } else {
                    gemm(mat(wm, cout, geo.rows), colsM, into: y.data, ldc: g * geo.l)
                    clToNCL(y.data, c: cout, l: geo.l, n0: n0, g: g, out.data, bias: bc?.data)
                }
            }
        } }
        let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
        let hasBias = bias != nil
        let savedCols = keepCols ? cols : nil
        let scatter = ScatterConv(cs: cout, hs: geo.oh, ws: geo.ow, cd: cin, hd: h, wd: w, kh: kh, kw: kw,
                                  sh: sh, sw: sw, ph: ph, pw: pw)
        return record(out, op, inputs) { gOut in
            let go = gOut.contiguousData()
            // Input gradient: the transposed convolution of dL/dy.
            let dnnlX = rx && engine.backwardData, dnnlW = (rw || rb) && engine.backwardWeights
            let gatherX = rx && !dnnlX && scatter.prefersGather
            var gx: Tensor? = nil
            let reorders = DNNLReorders()
            if dnnlX {
                gx = try Tensor(uninitialized: x.shape)
                try engine.runBackwardData(go, wm, gx!, shared: reorders)
            } else if rx {
                if gatherX {
                    gx = try Tensor(uninitialized: x.shape)
                    try scatter.run(src: go.data, n: n, weight: wm.data, bias: nil, dest: gx!.data)
                } else {
                    gx = try Tensor.zeros(x.shape)
                }
            }
            var gw: Tensor? = nil, gb: Tensor? = nil
            if dnnlW {
                let (w, b) = try engine.runBackwardWeights(x, go, weightShape: [cout, geo.rows], shared: reorders)
                gw = rw ? w : nil
                gb = rb ? b : nil
            }
            // What the native loop below still computes.
            let nativeX = rx && !dnnlX && !gatherX, nativeW = rw && !dnnlW, nativeB = rb && !dnnlW
            if nativeX || nativeW || nativeB {
                // One block of images per thread, each summing its own weight
                // and bias gradients (added up in block order afterwards).
                let k = Parallel.blocks(count: n)
                let gws = try (0..<(nativeW ? k : 0)).map { _ in try Tensor.zeros([cout, geo.rows]) }
                let gbs = try (0..<(nativeB ? k : 0)).map { _ in try Tensor.zeros([cout]) }
                try Parallel.forEachBlock(count: n) { b, r in
                    let gr = Swift.min(G, r.count)
                    let cols = try savedCols ?? Tensor(uninitialized: [(nativeW || nativeX) ? geo.rows * gr * geo.l : 0])
                    // The scatter form's columns for dx go to scratch, never over the
                    // saved input columns (a second backward with retainGraph reuses them).
                    let dxCols = try savedCols == nil ? cols : Tensor(uninitialized: [nativeX ? geo.rows * gr * geo.l : 0])
                    let gyBuf = try Tensor(uninitialized: [G > 1 ? cout * gr * geo.l : 0])
                    try forEachGroup(r, size: G) { n0, g in
                        let gy = imagesAsMatrix(go, c: cout, l: geo.l, n0: n0, g: g, buffer: gyBuf)
                        let gyM = mat(gy, cout, g * geo.l)
                        if nativeB { let gb = gbs[b]; for c in 0..<cout { gb.data[c] += Float(sumFloats(gy.data + c * g * geo.l, g * geo.l)) } }
                        let cOff = savedCols != nil ? geo.rows * n0 * geo.l : 0
                        if nativeW {
                            if savedCols == nil { geo.im2col(x.data, n0: n0, g: g, cols: cols.data) }
                            gemm(gyM, try mat(cols, geo.rows, g * geo.l, offset: cOff).t(), into: gws[b].data, ldc: geo.rows,
                                 beta: n0 == r.lowerBound ? 0 : 1)
                        }
                        if nativeX, let gx {
                            gemm(try mat(wm, cout, geo.rows).t(), gyM, into: dxCols.data, ldc: g * geo.l)
                            geo.col2im(dxCols.data, n0: n0, g: g, into: gx.data)
                        }
                    }
                }
                if nativeW { gw = try gws.dropFirst().reduce(gws[0]) { try $0.add_($1) } }
                if nativeB { gb = try gbs.dropFirst().reduce(gbs[0]) { try $0.add_($1) } }
            }
            let gwr = try gw?.reshape(weight.shape)
            return hasBias ? [gx, gwr, gb] : [gx, gwr]
        }
    }

    /// 2-D transposed convolution (the adjoint of `conv2d`). input
    /// [N, Cin, H, W], weight [Cin, Cout, kH, kW] (PyTorch layout), bias
    /// [Cout]. Output size (H-1)·stride - 2·padding + kH + outputPadding.
    public static func convTranspose2d(_ input: Tensor, _ weight: Tensor, _ bias: Tensor? = nil,
                                       stride: [Int] = [1], padding: [Int] = [0],
                                       outputPadding: [Int] = [0]) throws -> Tensor {
        let op = "convTranspose2d"
        guard input.rank == 4 else { throw TensorError("\(op): input must be 4-D [N, C, H, W], got \(fmt(input.shape))") }
        guard weight.rank == 4 else { throw TensorError("\(op): weight must be 4-D [Cin, Cout, kH, kW], got \(fmt(weight.shape))") }
        let (sh, sw) = try pair(stride, "stride", op, min: 1), (ph, pw) = try pair(padding, "padding", op, min: 0)
        let (oph, opw) = try pair(outputPadding, "outputPadding", op, min: 0)
        guard oph < sh, opw < sw else { throw TensorError("\(op): output padding \(fmt(outputPadding)) must be smaller than the stride \(fmt(stride))") }
        let n = input.shape[0], cin = input.shape[1], h = input.shape[2], w = input.shape[3]
        let cout = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        guard weight.shape[0] == cin else {
            throw TensorError("\(op): weight \(fmt(weight.shape)) expects \(weight.shape[0]) input channels, input \(fmt(input.shape)) has \(cin)")
        }
        if let bias, bias.shape != [cout] { throw TensorError("\(op): bias has shape \(fmt(bias.shape)), expected [\(cout)]") }
        // (h − 1)·stride can overflow for a huge stride: checked.
        let oh = try Shape.sum(Shape.product(Swift.max(h - 1, 0), sh, op: op, what: "the output height"), -2 * ph, kh, oph, h > 0 ? 0 : -sh,
                               op: op, what: "the output height")
        let ow = try Shape.sum(Shape.product(Swift.max(w - 1, 0), sw, op: op, what: "the output width"), -2 * pw, kw, opw, w > 0 ? 0 : -sw,
                               op: op, what: "the output width")
        guard kh > 0, kw > 0, oh > 0, ow > 0 else { throw TensorError("\(op): output size \(oh)x\(ow) is not positive") }
        // The conv geometry whose image is the output and whose grid is the input.
        let geo = ConvGeometry(c: cout, h: oh, w: ow, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, oh: h, ow: w)
        try geo.checkSizes(output: [n, cout, oh, ow], n: n, op: op)
        if h == 1, w == 1, ph == 0, pw == 0, oph == 0, opw == 0 {
            // One input pixel: the output [Cout, kH, kW] is the input times
            // the weight [Cin, Cout·kH·kW], one GEMM per pass.
            let y = try linear(input.reshape([n, cin]), weight.reshape([cin, cout * kh * kw]).t())
            let out = try y.reshape([n, cout, kh * kw])
            return try (bias.map { try out + $0.reshape([cout, 1]) } ?? out).reshape([n, cout, kh, kw])
        }
        let x = input.contiguousData(), wm = weight.contiguousData()
        let G = geo.groupSize(n)
        let scatter = ScatterConv(cs: cin, hs: h, ws: w, cd: cout, hd: oh, wd: ow, kh: kh, kw: kw,
                                  sh: sh, sw: sw, ph: ph, pw: pw)
        let engine = DNNLConvPlan(transposed: true, n: n, cin: cin, h: h, w: w, cout: cout, oh: oh, ow: ow,
                                  kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, bias: bias != nil)
        let out: Tensor
        if engine.forward {
            out = try Tensor(uninitialized: [n, cout, oh, ow])
            try engine.runForward(x, wm, bias?.contiguousData(), out)
        } else if scatter.prefersGather {
            out = try Tensor(uninitialized: [n, cout, oh, ow])
            let bc = bias?.contiguousData()
            try scatter.run(src: x.data, n: n, weight: wm.data, bias: bc?.data, dest: out.data)
            withExtendedLifetime(bc) {}
        } else {
            out = try Tensor.zeros([n, cout, oh, ow])
            try Parallel.forEachBlock(count: n) { _, r in   // one block of images per thread
                let gr = Swift.min(G, r.count)
                let cols = try Tensor(uninitialized: [geo.rows * gr * geo.l])
                let xm = try Tensor(uninitialized: [G > 1 ? cin * gr * geo.l : 0])
                try forEachGroup(r, size: G) { n0, g in
                    let xg = imagesAsMatrix(x, c: cin, l: geo.l, n0: n0, g: g, buffer: xm)
                    gemm(try mat(wm, cin, geo.rows).t(), mat(xg, cin, g * geo.l), into: cols.data, ldc: g * geo.l)
                    geo.col2im(cols.data, n0: n0, g: g, into: out.data)
                }
            }
            if let bias {
                let bc = bias.contiguousData()
                let l = oh * ow
                for i in 0..<n { for c in 0..<cout { let p = out.data + (i * cout + c) * l, b = bc.data[c]; for j in 0..<l { p[j] += b } } }
            }
        }
        let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
        let rx = input.requiresGrad, rw = weight.requiresGrad, rb = bias?.requiresGrad ?? false
        let hasBias = bias != nil
        return record(out, op, inputs) { gOut in
            let go = gOut.contiguousData()
            let dnnlX = rx && engine.backwardData, dnnlW = (rw || rb) && engine.backwardWeights
            let gx = try rx ? Tensor(uninitialized: x.shape) : nil
            let reorders = DNNLReorders()
            if dnnlX, let gx { try engine.runBackwardData(go, wm, gx, shared: reorders) }
            var gw: Tensor? = nil, gbD: Tensor? = nil
            if dnnlW {
                let (w, b) = try engine.runBackwardWeights(x, go, weightShape: [cin, geo.rows], shared: reorders)
                gw = rw ? w : nil
                gbD = b
            }
            // What the native loop below still computes: one block of images
            // per thread, each summing its own weight gradient.
            let nativeX = rx && !dnnlX, nativeW = rw && !dnnlW
            if nativeX || nativeW {
                let gws = try (0..<(nativeW ? Parallel.blocks(count: n) : 0)).map { _ in try Tensor.zeros([cin, geo.rows]) }
                try Parallel.forEachBlock(count: n) { b, r in
                    let gr = Swift.min(G, r.count)
                    let cols = try Tensor(uninitialized: [geo.rows * gr * geo.l])
                    let xm = try Tensor(uninitialized: [G > 1 ? cin * gr * geo.l : 0])
                    try forEachGroup(r, size: G) { n0, g in
                        geo.im2col(go.data, n0: n0, g: g, cols: cols.data)
                        let colsM = mat(cols, geo.rows, g * geo.l)
                        if nativeW {
                            let xg = imagesAsMatrix(x, c: cin, l: geo.l, n0: n0, g: g, buffer: xm)
                            gemm(mat(xg, cin, g * geo.l), try colsM.t(), into: gws[b].data, ldc: geo.rows, beta: n0 == r.lowerBound ? 0 : 1)
                        }
                        if nativeX, let gx {
                            if g == 1 {
                                gemm(mat(wm, cin, geo.rows), colsM, into: gx.data + n0 * cin * geo.l, ldc: geo.l)
                            } else {
                                gemm(mat(wm, cin, geo.rows), colsM, into: xm.data, ldc: g * geo.l)
                                clToNCL(xm.data, c: cin, l: geo.l, n0: n0, g: g, gx.data, bias: nil)
                            }
                        }
                    }
                }
                if nativeW { gw = try gws.dropFirst().reduce(gws[0]) { try $0.add_($1) } }
            }
            let gb = rb ? try gbD ?? go.sum(dims: [0, 2, 3]) : nil
            let gwr = try gw?.reshape(weight.shape)
            return hasBias ? [gx, gwr, gb] : [gx, gwr]
        }
    }
}
