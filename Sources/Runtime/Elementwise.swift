#if canImport(Glibc)
import Glibc
#endif

// MARK: Kernels (forward and backward)

struct KNeg: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { -x } }
struct KExp: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { VMath.exp(x) } }
struct KLog: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { VMath.log(x) } }
struct KLog1p: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { VMath.log1p(x) } }
struct KSigmoid: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { VMath.sigmoid(x) } }
struct KSoftplus: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { VMath.softplus(x) } }
struct KLogSigmoid: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { -VMath.softplus(-x) } }
struct KLogit: UnaryFn {
    let eps: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        let p = eps > 0 ? (x < eps ? eps : (x > 1 - eps ? 1 - eps : x)) : x
        return VMath.log(p) - VMath.log1p(-p)
    }
}
struct KTanh: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { VMath.tanh(x) } }
struct KRelu: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : (x.isNaN ? x : 0) } }
struct KSqrt: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() } }
struct KAbs: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.abs(x) } }
struct KSquare: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { x * x } }
struct KSign: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) } }
struct KFloor: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.rounded(.down) } }
struct KRound: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.rounded(.toNearestOrEven) } }
struct KClamp: UnaryFn {
    let lo: Float, hi: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x < lo ? lo : (x > hi ? hi : x) }
}
struct KPowScalar: UnaryFn {
    let e: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        e == 2 ? x * x : (e == 1 ? x : (e == 0.5 ? x.squareRoot() : powf(x, e)))
    }
}
struct KAffine: UnaryFn {  // a*x + b
    let a: Float, b: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { a * x + b }
}
struct KRSub: UnaryFn { let c: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { c - x } }
struct KRDiv: UnaryFn { let c: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { c / x } }
struct KSet: UnaryFn { let c: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { c } }

struct KAdd: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct KSub: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct KMul: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct KDiv: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
struct KMax: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a >= b || a.isNaN ? a : b } }
struct KMin: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a <= b || a.isNaN ? a : b } }
struct KAxpy: BinaryFn { let alpha: Float; @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + alpha * b } }
struct KCopy: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { b } }
struct KCompare: BinaryFn {
    enum Op { case eq, ne, lt, le, gt, ge }
    let op: Op
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float {
        switch op {
        case .eq: return a == b ? 1 : 0
        case .ne: return a != b ? 1 : 0
        case .lt: return a < b ? 1 : 0
        case .le: return a <= b ? 1 : 0
        case .gt: return a > b ? 1 : 0
        case .ge: return a >= b ? 1 : 0
        }
    }
}
// Backward kernels: (g, saved) -> dL/dx.
struct GSigmoid: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * y * (1 - y) } }
struct GTanh: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * (1 - y * y) } }
struct GRelu: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : 0 } }
struct GSoftplus: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { g * VMath.sigmoid(x) } }
struct GLogSigmoid: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { g * VMath.sigmoid(-x) } }
struct GLog: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { g / x } }
struct GLog1p: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { g / (1 + x) } }
struct GSqrt: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * 0.5 / y } }
struct GAbs: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : (x < 0 ? -g : 0) } }
struct GLogit: BinaryFn {
    let eps: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        if eps > 0 && (x < eps || x > 1 - eps) { return 0 }
        return g / (x * (1 - x))
    }
}
struct GClamp: BinaryFn {
    let lo: Float, hi: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x >= lo && x <= hi ? g : 0 }
}
struct GPowScalar: BinaryFn {
    let e: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        e == 2 ? 2 * g * x : (e == 1 ? g : g * e * powf(x, e - 1))
    }
}
struct GSelect: TernaryFn {  // (g, a, b) -> a >= b ? g : 0
    @inline(__always) func callAsFunction(_ g: Float, _ a: Float, _ b: Float) -> Float { a >= b || a.isNaN ? g : 0 }
}
struct GSelectLess: TernaryFn {  // (g, a, b) -> a <= b ? g : 0
    @inline(__always) func callAsFunction(_ g: Float, _ a: Float, _ b: Float) -> Float { a <= b || a.isNaN ? g : 0 }
}
struct GDivB: TernaryFn {  // (g, a, b) -> -g*a/b^2
    @inline(__always) func callAsFunction(_ g: Float, _ a: Float, _ b: Float) -> Float { -g * a / (b * b) }
}

// MARK: Unary ops

extension Tensor {
    /// An elementwise op whose backward is `gradKernel(g, saved)` where
    /// `saved` is the input (`useOutput == false`) or the output.
    @inline(__always)
    private func unary<F: UnaryFn, G: BinaryFn>(_ name: String, _ f: F, _ gk: G, useOutput: Bool) -> Tensor {
        let out = mapUnary(self, f)
        guard GradMode.isEnabled && requiresGrad else { return out }
        let saved = useOutput ? out.detach() : self.detach()
        return Tensor.record(out, name, [self]) { g in [try mapBinary(g, saved, gk, name)] }
    }

    public func neg() -> Tensor {
        let out = mapUnary(self, KNeg())
        return Tensor.record(out, "neg", [self]) { g in [mapUnary(g, KNeg())] }
    }
    public func exp() -> Tensor { unary("exp", KExp(), KMul(), useOutput: true) }
    public func log() -> Tensor { unary("log", KLog(), GLog(), useOutput: false) }
    public func log1p() -> Tensor { unary("log1p", KLog1p(), GLog1p(), useOutput: false) }
    public func sigmoid() -> Tensor { unary("sigmoid", KSigmoid(), GSigmoid(), useOutput: true) }
    /// log(1 + exp(x)), stable for large |x|.
    public func softplus() -> Tensor { unary("softplus", KSoftplus(), GSoftplus(), useOutput: false) }
    /// log σ(x) = -softplus(-x), stable for large |x|.
    public func logSigmoid() -> Tensor { unary("logSigmoid", KLogSigmoid(), GLogSigmoid(), useOutput: false) }
    /// log(p / (1 - p)); with `eps > 0` the input is clamped to [eps, 1-eps].
    public func logit(eps: Float = 0) -> Tensor { unary("logit", KLogit(eps: eps), GLogit(eps: eps), useOutput: false) }
    public func tanh() -> Tensor { unary("tanh", KTanh(), GTanh(), useOutput: true) }
    public func relu() -> Tensor { unary("relu", KRelu(), GRelu(), useOutput: false) }
    public func sqrt() -> Tensor { unary("sqrt", KSqrt(), GSqrt(), useOutput: true) }
    public func abs() -> Tensor { unary("abs", KAbs(), GAbs(), useOutput: false) }
    public func square() -> Tensor { unary("square", KSquare(), GPowScalar(e: 2), useOutput: false) }
    /// Elementwise x^e for a scalar exponent.
    public func pow(_ e: Float) -> Tensor { unary("pow", KPowScalar(e: e), GPowScalar(e: e), useOutput: false) }
    /// Clamps to [min, max] (either may be omitted); gradient 1 inside, 0 outside.
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        unary("clamp", KClamp(lo: lo, hi: hi), GClamp(lo: lo, hi: hi), useOutput: false)
    }
    /// -1, 0 or 1 (no gradient).
    public func sign() -> Tensor { mapUnary(self, KSign()) }
    /// Rounds down (no gradient).
    public func floor() -> Tensor { mapUnary(self, KFloor()) }
    /// Rounds to nearest, ties to even (no gradient).
    public func round() -> Tensor { mapUnary(self, KRound()) }

    /// a*x + b in one pass.
    func affine(_ a: Float, _ b: Float) -> Tensor {
        let out = mapUnary(self, KAffine(a: a, b: b))
        return Tensor.record(out, "affine", [self]) { g in [a == 1 ? g : mapUnary(g, KAffine(a: a, b: 0))] }
    }
}

// MARK: Binary ops (broadcasting)

extension Tensor {
    /// Sums a broadcast gradient back down to `shape`.
    func sumTo(_ target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var dims: [Int] = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 { dims.append(lead + i) }
        var r = try sum(dims: dims, keepdim: true)
        if lead > 0 { r = try r.reshape(target) }
        return r
    }

    public func add(_ o: Tensor) throws -> Tensor {
        let out = try mapBinary(self, o, KAdd(), "add")
        let (sa, sb) = (shape, o.shape)
        return Tensor.record(out, "add", [self, o]) { g in [try g.sumTo(sa), try g.sumTo(sb)] }
    }
    public func sub(_ o: Tensor) throws -> Tensor {
        let out = try mapBinary(self, o, KSub(), "sub")
        let (sa, sb) = (shape, o.shape)
        return Tensor.record(out, "sub", [self, o]) { g in [try g.sumTo(sa), try g.neg().sumTo(sb)] }
    }
    public func mul(_ o: Tensor) throws -> Tensor {
        let out = try mapBinary(self, o, KMul(), "mul")
        let a = detach(), b = o.detach(), ra = requiresGrad, rb = o.requiresGrad
        return Tensor.record(out, "mul", [self, o]) { g in
            [ra ? try (g * b).sumTo(a.shape) : nil, rb ? try (g * a).sumTo(b.shape) : nil]
        }
    }
    public func div(_ o: Tensor) throws -> Tensor {
        let out = try mapBinary(self, o, KDiv(), "div")
        let a = detach(), b = o.detach(), ra = requiresGrad, rb = o.requiresGrad
        return Tensor.record(out, "div", [self, o]) { g in
            [ra ? try (g / b).sumTo(a.shape) : nil,
             rb ? try mapTernary(g, a, b, GDivB(), "div").sumTo(b.shape) : nil]
        }
    }
    /// Elementwise maximum (gradient goes to the larger; ties to self).
    public func maximum(_ o: Tensor) throws -> Tensor {
        let out = try mapBinary(self, o, KMax(), "maximum")
        let a = detach(), b = o.detach()
        return Tensor.record(out, "maximum", [self, o]) { g in
            [try mapTernary(g, a, b, GSelect(), "maximum").sumTo(a.shape),
             try (g - mapTernary(g, a, b, GSelect(), "maximum")).sumTo(b.shape)]
        }
    }
    /// Elementwise minimum (gradient goes to the smaller; ties to self).
    public func minimum(_ o: Tensor) throws -> Tensor {
        let out = try mapBinary(self, o, KMin(), "minimum")
        let a = detach(), b = o.detach()
        return Tensor.record(out, "minimum", [self, o]) { g in
            [try mapTernary(g, a, b, GSelectLess(), "minimum").sumTo(a.shape),
             try (g - mapTernary(g, a, b, GSelectLess(), "minimum")).sumTo(b.shape)]
        }
    }

    // Comparisons: 1 where true, 0 where false; never differentiable.
    public func eq(_ o: Tensor) throws -> Tensor { try mapBinary(self, o, KCompare(op: .eq), "eq") }
    public func ne(_ o: Tensor) throws -> Tensor { try mapBinary(self, o, KCompare(op: .ne), "ne") }
    public func lt(_ o: Tensor) throws -> Tensor { try mapBinary(self, o, KCompare(op: .lt), "lt") }
    public func le(_ o: Tensor) throws -> Tensor { try mapBinary(self, o, KCompare(op: .le), "le") }
    public func gt(_ o: Tensor) throws -> Tensor { try mapBinary(self, o, KCompare(op: .gt), "gt") }
    public func ge(_ o: Tensor) throws -> Tensor { try mapBinary(self, o, KCompare(op: .ge), "ge") }
    public func eq(_ c: Float) -> Tensor { try! eq(Tensor(scalar: c)) }
    public func ne(_ c: Float) -> Tensor { try! ne(Tensor(scalar: c)) }
    public func lt(_ c: Float) -> Tensor { try! lt(Tensor(scalar: c)) }
    public func le(_ c: Float) -> Tensor { try! le(Tensor(scalar: c)) }
    public func gt(_ c: Float) -> Tensor { try! gt(Tensor(scalar: c)) }
    public func ge(_ c: Float) -> Tensor { try! ge(Tensor(scalar: c)) }

    // Scalar forms.
    public func add(_ c: Float) -> Tensor { affine(1, c) }
    public func sub(_ c: Float) -> Tensor { affine(1, -c) }
    public func mul(_ c: Float) -> Tensor { affine(c, 0) }
    public func div(_ c: Float) -> Tensor { affine(1 / c, 0) }
    /// c - self.
    public func rsub(_ c: Float) -> Tensor { affine(-1, c) }
    /// c / self.
    public func rdiv(_ c: Float) -> Tensor {
        let out = mapUnary(self, KRDiv(c: c))
        let x = detach()
        return Tensor.record(out, "rdiv", [self]) { g in [try mapTernary(g, Tensor(scalar: c), x, GDivB(), "rdiv")] }
    }
    public func maximum(_ c: Float) -> Tensor { clamp(min: c) }
    public func minimum(_ c: Float) -> Tensor { clamp(max: c) }

    /// Elementwise `cond != 0 ? a : b` with broadcasting; differentiable in a and b.
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        struct K: TernaryFn { @inline(__always) func callAsFunction(_ c: Float, _ a: Float, _ b: Float) -> Float { c != 0 ? a : b } }
        let out = try mapTernary(cond, a, b, K(), "where")
        let c = cond.detach(), sa = a.shape, sb = b.shape
        return record(out, "where", [a, b]) { g in
            let z = Tensor(scalar: 0)
            return [try mapTernary(c, g, z, K(), "where").sumTo(sa), try mapTernary(c, z, g, K(), "where").sumTo(sb)]
        }
    }

    /// A copy with `value` where `mask != 0` (mask broadcasts to self).
    public func maskedFill(_ mask: Tensor, _ value: Float) throws -> Tensor {
        let out = try Tensor.where(mask, Tensor(scalar: value), self)
        guard out.shape == shape else { throw TensorError("maskedFill: mask \(fmt(mask.shape)) does not broadcast to \(fmt(shape))") }
        return out
    }

    /// Fused, numerically stable binary cross-entropy on logits, elementwise:
    /// Swift.max(x,0) - x*t + log(1 + exp(-|x|)) = -[t log σ(x) + (1-t) log(1-σ(x))].
    /// Gradients: σ(x) - t for the logits, -x for the targets.
    public func bceWithLogits(_ target: Tensor) throws -> Tensor {
        struct K: BinaryFn {
            @inline(__always) func callAsFunction(_ x: Float, _ t: Float) -> Float {
                (x > 0 ? x : 0) - x * t + VMath.log1p(VMath.exp(-Swift.abs(x)))
            }
        }
        struct G: TernaryFn {
            @inline(__always) func callAsFunction(_ g: Float, _ x: Float, _ t: Float) -> Float { g * (VMath.sigmoid(x) - t) }
        }
        let out = try mapBinary(self, target, K(), "bceWithLogits")
        let x = detach(), t = target.detach(), rt = target.requiresGrad
        return Tensor.record(out, "bceWithLogits", [self, target]) { g in
            [try mapTernary(g, x, t, G(), "bceWithLogits").sumTo(x.shape),
             rt ? try (g * x).neg().sumTo(t.shape) : nil]
        }
    }
}

// MARK: In-place ops (not recorded; for parameters and buffers)

extension Tensor {
    private func checkInPlace(_ op: String) throws {
        guard !(GradMode.isEnabled && requiresGrad) else {
            throw TensorError("\(op): in-place operation on a tensor that requires grad; do it with gradient recording off (no-grad mode) or on a detached tensor")
        }
        guard !zip(shape, strides).contains(where: { $0.0 > 1 && $0.1 == 0 }) else {
            throw TensorError("\(op): in-place operation on an expanded tensor")
        }
    }
    /// Sets every element to `value`.
    @discardableResult public func fill_(_ value: Float) throws -> Tensor { try checkInPlace("fill_"); updateInPlace(self, KSet(c: value)); return self }
    @discardableResult public func zero_() throws -> Tensor { try fill_(0) }
    /// Copies `src` (broadcast to self's shape) into self.
    @discardableResult public func copy_(_ src: Tensor) throws -> Tensor {
        try checkInPlace("copy_")
        let s = src.storage === storage ? src.contiguousData().clone0() : src
        try updateInPlace(self, s, KCopy(), "copy_"); return self
    }
    /// Clamps in place (e.g. to clip a prior's weights after a step).
    @discardableResult public func clamp_(min lo: Float = -.infinity, max hi: Float = .infinity) throws -> Tensor {
        try checkInPlace("clamp_"); updateInPlace(self, KClamp(lo: lo, hi: hi)); return self
    }
    /// self += alpha * other.
    @discardableResult public func add_(_ other: Tensor, alpha: Float = 1) throws -> Tensor {
        try checkInPlace("add_"); try updateInPlace(self, other, KAxpy(alpha: alpha), "add_"); return self
    }
    /// self *= c.
    @discardableResult public func mul_(_ c: Float) throws -> Tensor {
        try checkInPlace("mul_"); updateInPlace(self, KAffine(a: c, b: 0)); return self
    }
    /// A plain contiguous copy (internal, not recorded).
    func clone0() -> Tensor {
        let out = Tensor(uninitialized: shape)
        copyStrided(from: self, to: out.data)
        return out
    }
}

// MARK: Operators

public func + (a: Tensor, b: Tensor) throws -> Tensor { try a.add(b) }
public func - (a: Tensor, b: Tensor) throws -> Tensor { try a.sub(b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try a.mul(b) }
public func / (a: Tensor, b: Tensor) throws -> Tensor { try a.div(b) }
public func + (a: Tensor, c: Float) -> Tensor { a.add(c) }
public func - (a: Tensor, c: Float) -> Tensor { a.sub(c) }
public func * (a: Tensor, c: Float) -> Tensor { a.mul(c) }
public func / (a: Tensor, c: Float) -> Tensor { a.div(c) }
public func + (c: Float, a: Tensor) -> Tensor { a.add(c) }
public func - (c: Float, a: Tensor) -> Tensor { a.rsub(c) }
public func * (c: Float, a: Tensor) -> Tensor { a.mul(c) }
public func / (c: Float, a: Tensor) -> Tensor { a.rdiv(c) }
public prefix func - (a: Tensor) -> Tensor { a.neg() }
