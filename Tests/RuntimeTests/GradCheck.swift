import XCTest
@testable import Runtime
import TestSupport

/// Finite-difference gradient checking.
///
/// The scalar checked is L = Σ w·f(x) with fixed random weights w, summed
/// in Double so float32 rounding of the sum does not swamp the central
/// differences. Each input element is perturbed by ±eps (the actual float
/// step is used as the denominator).
func gradcheck(_ name: String, _ inputs: [Tensor], eps: Float = 1e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
               file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Tensor]) throws -> Tensor) throws {
    if let msg = try gradMismatch(name, inputs, eps: eps, atol: atol, rtol: rtol, f) {
        XCTFail(msg, file: file, line: line)
    }
}

/// The first mismatch between analytic and numeric gradients, or nil.
func gradMismatch(_ name: String, _ inputs: [Tensor], eps: Float = 1e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
                  _ f: ([Tensor]) throws -> Tensor) throws -> String? {
    try gradientMismatch(inputs, eps: eps, atol: atol, rtol: rtol, label: name) { try f(inputs) }
}

/// A contiguous leaf with seeded normal values (optionally transformed).
func randn(_ shape: [Int], seed: UInt64, scale: Float = 1, shift: Float = 0) -> Tensor {
    var g = Generator(seed: seed)
    let t = try! Tensor.randn(shape, generator: &g)
    let p = t.data
    for i in 0..<t.count { p[i] = p[i] * scale + shift }
    return t
}

/// Uniform values in [lo, hi).
func uniform(_ shape: [Int], seed: UInt64, _ lo: Float, _ hi: Float) -> Tensor {
    var g = Generator(seed: seed)
    let t = try! Tensor.rand(shape, generator: &g)
    let p = t.data
    for i in 0..<t.count { p[i] = lo + (hi - lo) * p[i] }
    return t
}

/// Values bounded away from 0 by `margin` (for kinks at 0).
func awayFromZero(_ shape: [Int], seed: UInt64, margin: Float = 0.05) -> Tensor {
    let t = randn(shape, seed: seed)
    let p = t.data
    for i in 0..<t.count where Swift.abs(p[i]) < margin { p[i] = p[i] < 0 ? -margin - 0.1 : margin + 0.1 }
    return t
}

func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-4, _ msg: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count \(msg)", file: file, line: line)
    for i in 0..<Swift.min(a.count, b.count) where !(Swift.abs(a[i] - b[i]) <= tol * (1 + Swift.abs(b[i]))) {
        XCTFail("\(msg) element \(i): \(a[i]) vs \(b[i])", file: file, line: line); return
    }
}
