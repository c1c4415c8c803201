import CLua
import Runtime

/// `t[key]` and `t[key] = value` for `qv.Tensor` (Torch7 conventions,
/// 1-based):
///
/// * `t[i]`: for a 1-D tensor the number at i; otherwise a view of the i-th
///   slice along dimension 1. Negative i counts from the end (-1 is the last).
/// * `t[{spec1, spec2, ...}]`: one spec per leading dimension; a spec is an
///   index i (selects, dropping the dimension), a range `{first, last}`
///   (inclusive, negative from the end; keeps the dimension), `{i}` (a
///   range of one), or `{}` (all). Dimensions without a spec are kept whole.
///   The result is a view; when every dimension is selected by an index it
///   is the number itself.
/// * `t[key] = v`: writes v (a number, or a tensor broadcast to the view's
///   shape) into the elements `t[key]` denotes. Refused while grad mode is
///   on for a tensor that requires grad (wrap in qv.no_grad).
///
/// An index out of range is an error naming the index, the dimension and
/// its size: "index 5 is out of range for dimension 1 of size 3".
enum TensorIndexing {
    /// A checked 1-based (negative from the end) index, converted to 0-based.
    static func index(_ i: Int, dim: Int, size: Int, _ a: Arguments, _ arg: Int) throws -> Int {
        let j = i < 0 ? i + size + 1 : i
        guard j >= 1, j <= size else {
            throw LuaError("index \(i) is out of range for dimension \(dim + 1) of size \(size)")
        }
        return j - 1
    }

    enum Spec { case index(Int), range(Int, Int), all }

    /// Resolves `key` (argument 1) to a view of t; `scalar` is true when
    /// every dimension was selected by an index.
    static func resolve(_ t: Tensor, _ a: Arguments) throws -> (view: Tensor, scalar: Bool)? {
        let key = a.value(1)
        if let i = key.intValue, key.doubleValue != nil {
            guard t.rank > 0 else { throw LuaError("cannot index a 0-dimensional tensor (use t:item())") }
            let k = try index(i, dim: 0, size: t.shape[0], a, 1)
            return (try t.select(0, k), t.rank == 1)
        }
        if case .number(let d) = key {
            throw LuaError("index \(d) is not an integer")
        }
        guard case .ref(let r) = key, r.typeName == "table" else { return nil }
        let specs = try r.arrayValues().enumerated().map { (k, v) -> Spec in
            if let i = v.intValue, v.doubleValue != nil { return .index(i) }
            if case .ref(let sub) = v, sub.typeName == "table" {
                let b = sub.arrayValues()
                guard b.count <= 2, b.allSatisfy({ $0.intValue != nil }) else {
                    throw LuaError("bad index spec #\(k + 1): expected an integer, {first, last}, {i} or {}")
                }
                if b.isEmpty { return .all }
                return .range(b[0].intValue!, b.count == 2 ? b[1].intValue! : b[0].intValue!)
            }
            throw LuaError("bad index spec #\(k + 1): expected an integer, {first, last}, {i} or {}, got \(v.typeName)")
        }
        guard specs.count <= t.rank else {
            throw LuaError("\(specs.count) index specs for a tensor with \(t.rank) dimension\(t.rank == 1 ? "" : "s")")
        }
        var v = t
        var d = 0          // dimension of v the next spec applies to
        var selected = 0
        for (k, s) in specs.enumerated() {
            let n = v.shape[d]
            switch s {
            case .all: d += 1
            case .index(let i):
                v = try v.select(d, try index(i, dim: k, size: n, a, 1))
                selected += 1
            case .range(let f, let l):
                let first = try index(f, dim: k, size: n, a, 1)
                let last = try index(l, dim: k, size: n, a, 1)
                guard last >= first else {
                    throw LuaError("empty range {\(f), \(l)} for dimension \(k + 1) of size \(n)")
                }
                v = try v.narrow(d, start: first, length: last - first + 1)
                d += 1
            }
        }
        return (v, selected == t.rank && t.rank > 0)
    }

    static func install(_ cls: LuaClass<Tensor>) {
        cls.index { t, a in
            // Reads arrive through the prelude's __index closure (methods
            // first), so the error position is that of level 2: the caller.
            try atCaller(a) {
                guard let (v, scalar) = try resolve(t, a) else { return .nil }
                if scalar { return .number(Double(v.data[0])) }
                return .object(v)
            }
        }
        cls.newindex { t, a in
            try tensorOp(a) {
                if GradMode.isEnabled && t.requiresGrad {
                    throw LuaError("in-place assignment to a tensor that requires grad (use qv.no_grad)")
                }
                let resolved = try Tensor.noGrad { try resolve(t, a) }
                guard let (v, _) = resolved else {
                    let k: String
                    if case .string(let s) = a.value(1) { k = "'\(s)'" } else { k = "of type \(a.typeName(1))" }
                    throw LuaError("cannot set field \(k) of qv.Tensor")
                }
                if a.isNumber(2) {
                    try v.fill_(Float(lua_tonumberx(a.L, a.stackIndex(2), nil)))
                } else if let src = a.objectIfPresent(2, Tensor.self) {
                    try Tensor.noGrad { try v.copy_(src) }
                } else {
                    throw a.argumentError(2, "value", "expected number or qv.Tensor, got \(a.typeName(2))")
                }
            }
        }
    }
}

/// Runs `body`; an error becomes a Lua error whose position is that of the
/// function `level` frames up (not of the Lua closure in between).
func atCaller(_ a: Arguments, level: Int32 = 2, _ body: () throws -> LuaValue) throws -> LuaValue {
    do { return try body() } catch let e as LuaError where e.value == nil {
        throw rawError(a, level, e.message)
    } catch let e as ArgumentError {
        throw rawError(a, level, e.message)
    } catch let e as TensorError {
        throw rawError(a, level, stripOpPrefix(e.message))
    }
}

private func rawError(_ a: Arguments, _ level: Int32, _ message: String) -> LuaError {
    let L = a.L
    qvL_pushwhere(L, level)
    let msg = (a.state.string(at: -1, L) ?? "") + message
    lua_settop(L, -2)
    _ = try? a.state.push(.string(msg), L)
    let ref = LuaRef(state: a.state, L: L, index: -1)
    lua_settop(L, -2)
    return LuaError(message: msg, traceback: nil, value: ref)
}
