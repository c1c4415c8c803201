import Foundation
import CLua
import Runtime

/// Conventions shared by the tensor bindings.
///
/// * Dimensions are 1-based in Lua: `dim = 1` is the first dimension, `-1`
///   the last; 0 is an error. `luaDim` converts to Runtime's 0-based dims
///   and checks the range, so error messages talk in Lua's numbering.
/// * Indices (`t[i]`, `narrow`, `select`, the values of index tensors given
///   to `gather`/`index_select`/`one_hot`, and those returned by
///   `max`/`min`/`argmax`/`argmin`) are 1-based too.
/// * A `TensorError` thrown by Runtime becomes a Lua error prefixed with the
///   Lua function's name ("qv.Tensor:view: shape [7] is invalid ...").

/// Runs a tensor operation, turning Runtime's `TensorError` into a Lua error
/// that names the Lua function.
@inline(__always)
func tensorOp<R>(_ args: Arguments, _ body: () throws -> R) throws -> R {
    do { return try body() } catch let e as TensorError {
        throw LuaError("\(args.function): \(stripOpPrefix(e.message))")
    }
}

/// "view: shape [7] ..." -> "shape [7] ..." (the Lua name replaces Runtime's).
func stripOpPrefix(_ m: String) -> String {
    guard let r = m.range(of: ": ") else { return m }
    let head = m[..<r.lowerBound]
    if !head.isEmpty, head.count <= 24, head.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
        return String(m[r.upperBound...])
    }
    return m
}

/// Formats a shape as Lua users see it: `[2,3]`.
func shapeText(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ",") + "]" }

extension Arguments {
    /// A tensor argument.
    func tensor(_ i: Int, _ name: String? = nil) throws -> Tensor { try object(i, Tensor.self, name) }
    func optionalTensor(_ i: Int, _ name: String? = nil) throws -> Tensor? { try optionalObject(i, Tensor.self, name) }

    /// A tensor, or a number made into a 0-dimensional tensor.
    func tensorOrNumber(_ i: Int, _ name: String? = nil) throws -> Tensor {
        if isNumber(i) { return Tensor(scalar: Float(lua_tonumberx(L, stackIndex(i), nil))) }
        if let t = objectIfPresent(i, Tensor.self) { return t }
        throw typeError(i, name, expected: "qv.Tensor or number")
    }

    /// A 1-based Lua dimension (negative from the end) converted to a
    /// 0-based one for a tensor of `rank` dimensions.
    func dim(_ i: Int, _ name: String = "dim", rank: Int) throws -> Int {
        let d = try int(i, name)
        return try checkDim(d, i, name, rank: rank)
    }
    func optionalDim(_ i: Int, _ name: String = "dim", rank: Int) throws -> Int? {
        isNil(i) ? nil : try dim(i, name, rank: rank)
    }
    func checkDim(_ d: Int, _ i: Int, _ name: String, rank: Int) throws -> Int {
        let r = max(rank, 1)
        if d >= 1 && d <= r { return d - 1 }
        if d < 0 && d >= -r { return d + r }
        if d == 0 { throw argumentError(i, name, "dimension 0 is invalid (dimensions are 1-based)") }
        throw argumentError(i, name, "dimension \(d) is out of range for a tensor with \(rank) dimension\(rank == 1 ? "" : "s") (expected 1..\(r) or -\(r)..-1)")
    }
    /// Dimensions given as one number or a table of numbers.
    func dims(_ i: Int, _ name: String = "dim", rank: Int) throws -> [Int] {
        if isTable(i) { return try ints(i, name).map { try checkDim($0, i, name, rank: rank) } }
        return [try dim(i, name, rank: rank)]
    }

    /// A shape given as separate integers from `i` on, or as one table
    /// (`qv.zeros(2, 3)`, `qv.zeros{2, 3}`); sizes must be >= 0 (or -1 where
    /// `allowInfer`).
    func shape(from i: Int, _ name: String = "size", allowInfer: Bool = false) throws -> [Int] {
        let s = try intList(from: i, name)
        for (k, d) in s.enumerated() where d < (allowInfer ? -1 : 0) {
            throw argumentError(isTable(i) ? i : i + k, name, "sizes must be non-negative, got \(shapeText(s))")
        }
        return s
    }

    /// A shape given as one table {d1, d2, ...} (sizes >= 0).
    func shapeTable(_ i: Int, _ name: String = "shape") throws -> [Int] {
        let s = try ints(i, name)
        guard s.allSatisfy({ $0 >= 0 }) else { throw argumentError(i, name, "sizes must be non-negative, got \(shapeText(s))") }
        return s
    }

    /// A boolean, or nil -> default; also accepts nothing at all.
    func flag(_ i: Int, _ name: String, default d: Bool) throws -> Bool { try bool(i, name, default: d) }

    /// An index tensor (or a table of integers) with 1-based values, checked
    /// against `size` and converted to Runtime's 0-based index tensor.
    func indexTensor(_ i: Int, _ name: String = "index", size: Int) throws -> Tensor {
        let src: Tensor
        if isTable(i) {
            let v = try ints(i, name)
            src = Tensor(v.map { Float($0) })
        } else {
            src = try tensor(i, name)
        }
        let vals = src.toArray()
        var out = [Float](repeating: 0, count: vals.count)
        for (k, f) in vals.enumerated() {
            guard f == f.rounded(), f >= 1, f <= Float(size) else {
                throw argumentError(i, name, "index \(fmtNumber(f)) is out of range 1..\(size) (indices are 1-based)")
            }
            out[k] = f - 1
        }
        return try Tensor(out, shape: src.shape)
    }
}

/// A float as Lua prints it (integers without ".0").
func fmtNumber(_ f: Float) -> String {
    if f == f.rounded(), Swift.abs(f) < 1e15 { return String(Int(f)) }
    return "\(f)"
}

/// Indices from Runtime (0-based Float32 integers) made 1-based for Lua.
func oneBased(_ t: Tensor) -> Tensor { Tensor.noGrad { t.add(1) } }
