/// Gradient-descent optimizers over leaf tensors (parameters).
///
/// Updates run in place on the parameters' storage without recording
/// autograd. `lr` may be changed between steps (schedules live in Lua).
/// `state()`/`loadState(_:)` expose the optimizer's buffers by name so a
/// checkpoint can resume training exactly.
public protocol Optimizer: AnyObject {
    /// The parameters being optimized.
    var params: [Tensor] { get }
    /// The learning rate used by the next `step()`.
    var lr: Float { get set }
    /// Applies one update from the parameters' current `.grad` (parameters
    /// without a gradient are skipped).
    func step() throws
    /// Named state tensors (e.g. "exp_avg.0", "step").
    func state() -> [String: Tensor]
    /// Restores state saved by `state()`.
    func loadState(_ s: [String: Tensor]) throws
}

extension Optimizer {
    /// Clears every parameter's gradient (sets it to nil).
    public func zeroGrad() { for p in params { p.grad = nil } }

    /// Parameters must be contiguous, and no two may share memory: a
    /// parameter listed twice (or two views of one tensor) would be
    /// stepped twice per `step()`, with its state split in two.
    fileprivate func checkParams() throws {
        for (i, p) in params.enumerated() {
            guard p.isContiguous, p.strides.allSatisfy({ $0 != 0 }) || p.count <= 1 else {
                throw TensorError("optimizer: parameter \(i + 1) (shape \(fmt(p.shape))) is not contiguous")
            }
        }
        var byStorage: [ObjectIdentifier: [Int]] = [:]
        for (i, p) in params.enumerated() { byStorage[ObjectIdentifier(p.storage), default: []].append(i) }
        for idx in byStorage.values where idx.count > 1 {
            for (a, i) in idx.enumerated() { for j in idx[(a + 1)...] where params[i].mayAlias(params[j]) {
                throw TensorError(params[i] === params[j]
                    ? "optimizer: parameter \(j + 1) is parameter \(i + 1) again (a parameter listed twice would be stepped twice)"
                    : "optimizer: parameters \(i + 1) and \(j + 1) share memory (views of one tensor would be stepped twice)")
            } }
        }
    }

    /// Throws unless `x` is finite and within `range` (hyper-parameters:
    /// a NaN or negative eps, lr or beta silently ruins every later step).
    fileprivate static func checkHyper(_ x: Float, _ name: String, _ range: ClosedRange<Float>,
                                       open upper: Bool = false, positive: Bool = false) throws {
        guard x.isFinite, range.contains(x), !(upper && x == range.upperBound), !(positive && x == 0) else {
            let r = positive ? "> 0" : upper ? "in [\(range.lowerBound), \(range.upperBound))" : range.upperBound == .greatestFiniteMagnitude ? ">= \(range.lowerBound)" : "in [\(range.lowerBound), \(range.upperBound)]"
            throw TensorError("optimizer: \(name) must be finite and \(r), got \(x)")
        }
    }
    fileprivate func gradOf(_ i: Int) throws -> Tensor? {
        guard let g = params[i].grad else { return nil }
        guard g.shape == params[i].shape else {
            throw TensorError("optimizer: gradient of parameter \(i) has shape \(fmt(g.shape)), parameter has \(fmt(params[i].shape))")
        }
        return g.contiguousData()
    }
    fileprivate func restore(_ s: [String: Tensor], _ name: String, into t: Tensor) throws {
        guard let v = s[name] else { throw TensorError("optimizer: state '\(name)' is missing") }
        guard v.shape == t.shape else { throw TensorError("optimizer: state '\(name)' has shape \(fmt(v.shape)), expected \(fmt(t.shape))") }
        copyStrided(from: v, to: t.data)
    }
}

/// Stochastic gradient descent with optional momentum and L2 weight decay
/// (PyTorch semantics: buf = momentum·buf + g; p -= lr·buf).
public final class SGD: Optimizer {
    public let params: [Tensor]
    public var lr: Float
    public var momentum: Float
    public var weightDecay: Float
    private var buffers: [Tensor?]

    public init(params: [Tensor], lr: Float, momentum: Float = 0, weightDecay: Float = 0) throws {
        try Self.checkHyper(lr, "lr", 0...(.greatestFiniteMagnitude))
        try Self.checkHyper(momentum, "momentum", 0...1)
        try Self.checkHyper(weightDecay, "weight_decay", 0...(.greatestFiniteMagnitude))
        self.params = params; self.lr = lr; self.momentum = momentum; self.weightDecay = weightDecay
        buffers = Array(repeating: nil, count: params.count)
        try checkParams()
    }

    public func step() throws {
        for i in params.indices {
            guard let g = try gradOf(i) else { continue }
            let p = params[i].data, gp = g.data, n = params[i].count
            let lr = lr, wd = weightDecay, mu = momentum
            if mu != 0 {
                let first = buffers[i] == nil
                if first { buffers[i] = try Tensor.zeros(params[i].shape) }
                let b = buffers[i]!.data
                Parallel.forEachRange(count: n, minimum: parallelThreshold) { r in
                    for j in r {
                        let gj = gp[j] + wd * p[j]
                        let bj = first ? gj : mu * b[j] + gj
                        b[j] = bj; p[j] -= lr * bj
                    }
                }
            } else {
                Parallel.forEachRange(count: n, minimum: parallelThreshold) { r in
                    for j in r { p[j] -= lr * (gp[j] + wd * p[j]) }
                }
            }
        }
    }

    public func state() -> [String: Tensor] {
        var s: [String: Tensor] = [:]
        for (i, b) in buffers.enumerated() { if let b { s["momentum_buffer.\(i)"] = b } }
        return s
    }

    public func loadState(_ s: [String: Tensor]) throws {
        for i in params.indices where s["momentum_buffer.\(i)"] != nil {
            let b = try Tensor.zeros(params[i].shape)
            try restore(s, "momentum_buffer.\(i)", into: b)
            buffers[i] = b
        }
    }
}

/// Adam with bias correction. `weightDecay` adds wd·p to the gradient (as
/// `torch.optim.Adam`); with `decoupled: true` it decays the weights
/// directly instead (AdamW).
public final class Adam: Optimizer {
    public let params: [Tensor]
    public var lr: Float
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public var decoupled: Bool
    /// Number of steps taken.
    public private(set) var stepCount: Int = 0
    private let m: [Tensor], v: [Tensor]

    public init(params: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                eps: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false) throws {
        try Self.checkHyper(lr, "lr", 0...(.greatestFiniteMagnitude))
        try Self.checkHyper(betas.0, "beta1", 0...1, open: true)
        try Self.checkHyper(betas.1, "beta2", 0...1, open: true)
        try Self.checkHyper(eps, "eps", 0...(.greatestFiniteMagnitude), positive: true)
        try Self.checkHyper(weightDecay, "weight_decay", 0...(.greatestFiniteMagnitude))
        self.params = params; self.lr = lr; beta1 = betas.0; beta2 = betas.1
        self.eps = eps; self.weightDecay = weightDecay; self.decoupled = decoupled
        m = try params.map { try Tensor.zeros($0.shape) }
        v = try params.map { try Tensor.zeros($0.shape) }
        try checkParams()
    }

    public func step() throws {
        stepCount += 1
        let t = Double(stepCount)
        let bc1 = Float(1 - _pow(Double(beta1), t)), bc2 = Float(1 - _pow(Double(beta2), t))
        let b1 = beta1, b2 = beta2, eps = eps, lr = lr, wd = weightDecay, dec = decoupled
        let stepSize = lr / bc1, invSqrtBc2 = 1 / bc2.squareRoot()
        for i in params.indices {
            guard let g = try gradOf(i) else { continue }
            let p = params[i].data, gp = g.data, mp = m[i].data, vp = v[i].data
            // Decay folded into two per-step constants so the loop has no
            // branch and vectorizes: p·pk − stepSize·m/(…), g + gk·p.
            let pk: Float = dec ? 1 - lr * wd : 1, gk: Float = dec ? 0 : wd
            Parallel.forEachRange(count: params[i].count, minimum: parallelThreshold) { r in
                // Explicit 8-wide SIMD (the pointers may alias as far as the
                // compiler knows, so it would not vectorize the scalar loop).
                var j = r.lowerBound
                let rp = UnsafeMutableRawPointer(p), rg = UnsafeRawPointer(gp)
                let rm = UnsafeMutableRawPointer(mp), rv = UnsafeMutableRawPointer(vp)
                let vb1 = SIMD8<Float>(repeating: b1), vb2 = SIMD8<Float>(repeating: b2)
                let c1 = SIMD8<Float>(repeating: 1 - b1), c2 = SIMD8<Float>(repeating: 1 - b2)
                let vpk = SIMD8<Float>(repeating: pk), vgk = SIMD8<Float>(repeating: gk)
                let vss = SIMD8<Float>(repeating: stepSize), vis = SIMD8<Float>(repeating: invSqrtBc2)
                let veps = SIMD8<Float>(repeating: eps)
                while j + 8 <= r.upperBound {
                    let o = j * 4
                    let pj = rp.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
                    let gj = rg.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + vgk * pj
                    let mj = vb1 * rm.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + c1 * gj
                    let vj = vb2 * rv.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + c2 * gj * gj
                    rm.storeBytes(of: mj, toByteOffset: o, as: SIMD8<Float>.self)
                    rv.storeBytes(of: vj, toByteOffset: o, as: SIMD8<Float>.self)
                    rp.storeBytes(of: pj * vpk - vss * mj / (vj.squareRoot() * vis + veps), toByteOffset: o, as: SIMD8<Float>.self)
                    j += 8
                }
                for j in j..<r.upperBound {
                    let pj = p[j]
                    let gj = gp[j] + gk * pj
                    let mj = b1 * mp[j] + (1 - b1) * gj
                    let vj = b2 * vp[j] + (1 - b2) * gj * gj
                    mp[j] = mj; vp[j] = vj
                    p[j] = pj * pk - stepSize * mj / (vj.squareRoot() * invSqrtBc2 + eps)
                }
            }
        }
    }

    public func state() -> [String: Tensor] {
        var s: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
        for i in params.indices { s["exp_avg.\(i)"] = m[i]; s["exp_avg_sq.\(i)"] = v[i] }
        return s
    }

    public func loadState(_ s: [String: Tensor]) throws {
        guard let st = s["step"] else { throw TensorError("optimizer: state 'step' is missing") }
        let n = try st.item()
        guard n >= 0, n < 1e9, n == n.rounded() else { throw TensorError("optimizer: invalid step count \(n)") }
        for i in params.indices {
            try restore(s, "exp_avg.\(i)", into: m[i])
            try restore(s, "exp_avg_sq.\(i)", into: v[i])
        }
        stepCount = Int(n)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _pow(_ a: Double, _ b: Double) -> Double { Glibc.pow(a, b) }
#endif

/// Scales all gradients so their joint L2 norm is at most `maxNorm`;
/// returns the norm before clipping. Gradients are replaced, not mutated.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Float) throws -> Float {
    var total: Double = 0
    for p in params {
        guard let g = p.grad else { continue }
        let c = g.contiguousData(), d = c.data
        var acc: Double = 0
        for i in 0..<c.count { acc += Double(d[i]) * Double(d[i]) }
        total += acc
    }
    let norm = Float(total.squareRoot())
    if norm > maxNorm, norm.isFinite {
        let scale = maxNorm / (norm + 1e-6)
        for p in params { if let g = p.grad { p.grad = Tensor.noGrad { g.mul(scale) } } }
    }
    return norm
}
