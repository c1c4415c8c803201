import Runtime

/// The first mismatch between autograd and central differences, or nil.
///
/// The scalar checked is L = Σ w·f() with fixed random weights w, summed in
/// Double so float32 rounding of the sum does not swamp the differences.
/// The first `maxElements` elements of each input (contiguous leaves) are
/// perturbed by ±eps; the float step actually taken is the denominator.
/// `label` prefixes the message.
public func gradientMismatch(_ inputs: [Tensor], eps: Float = 1e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
                             maxElements: Int = .max, label: String = "",
                             _ f: () throws -> Tensor) throws -> String? {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let out0 = try f()
    var gen = Generator(seed: 1234)
    let w = try Tensor.randn(out0.shape, generator: &gen)
    let wv = w.toArray().map(Double.init)
    func lossD() throws -> Double {
        let o = try Tensor.noGrad { try f() }
        return zip(o.toArray(), wv).reduce(0.0) { $0 + Double($1.0) * $1.1 }
    }
    try (out0 * w).sum().backward()
    let prefix = label.isEmpty ? "" : label + ": "
    for (k, x) in inputs.enumerated() {
        let analytic = x.grad?.toArray() ?? [Float](repeating: 0, count: x.count)
        if analytic.count != x.count { return "\(prefix)input \(k): gradient has \(analytic.count) elements, expected \(x.count)" }
        let p = x.data
        for i in 0..<Swift.min(x.count, maxElements) {
            let orig = p[i]
            p[i] = orig + eps; let xp = p[i]; let lp = try lossD()
            p[i] = orig - eps; let xm = p[i]; let lm = try lossD()
            p[i] = orig
            let numeric = (lp - lm) / Double(xp - xm)
            let a = Double(analytic[i])
            if Swift.abs(numeric - a) > atol + rtol * Swift.abs(numeric) {
                return "\(prefix)input \(k) (shape \(x.shape)) element \(i): analytic \(a), numeric \(numeric)"
            }
        }
    }
    return nil
}
