import CLua
import Runtime

/// Arithmetic metamethods of `qv.Tensor`: `+ - * / ^` with a tensor or a
/// number on either side (shapes broadcast), unary `-`, and `#t` (size of
/// dimension 1). `==` is left to Lua: identity of the userdata (the same
/// Tensor object always has the same userdata); compare elementwise with
/// `t:eq(u)`, or whole tensors with `t:equal(u)`.
enum TensorOperators {
    enum Operand { case tensor(Tensor), number(Float) }

    static func operand(_ a: Arguments, _ i: Int) -> Operand? {
        if a.isNumber(i) { return .number(Float(lua_tonumberx(a.L, a.stackIndex(i), nil))) }
        if let t = a.objectIfPresent(i, Tensor.self) { return .tensor(t) }
        return nil
    }

    static func binary(_ cls: LuaClass<Tensor>, _ event: String, _ symbol: String,
                       tt: @escaping (Tensor, Tensor) throws -> Tensor,
                       tn: @escaping (Tensor, Float) -> Tensor,
                       nt: @escaping (Float, Tensor) -> Tensor) {
        cls.meta(event) { a in
            guard let x = operand(a, 1), let y = operand(a, 2) else {
                throw LuaError("attempt to perform arithmetic (\(symbol)) on \(a.typeName(1)) and \(a.typeName(2))")
            }
            return try tensorOp(a) {
                switch (x, y) {
                case (.tensor(let p), .tensor(let q)): return .object(try tt(p, q))
                case (.tensor(let p), .number(let c)): return .object(tn(p, c))
                case (.number(let c), .tensor(let q)): return .object(nt(c, q))
                case (.number, .number): throw LuaError("unreachable")
                }
            }
        }
    }

    static func install(_ cls: LuaClass<Tensor>) {
        binary(cls, "__add", "+", tt: { try $0.add($1) }, tn: { $0.add($1) }, nt: { $1.add($0) })
        binary(cls, "__sub", "-", tt: { try $0.sub($1) }, tn: { $0.sub($1) }, nt: { $1.rsub($0) })
        binary(cls, "__mul", "*", tt: { try $0.mul($1) }, tn: { $0.mul($1) }, nt: { $1.mul($0) })
        binary(cls, "__div", "/", tt: { try $0.div($1) }, tn: { $0.div($1) }, nt: { $1.rdiv($0) })
        cls.meta("__pow") { a in
            guard let x = operand(a, 1), let y = operand(a, 2) else {
                throw LuaError("attempt to perform arithmetic (^) on \(a.typeName(1)) and \(a.typeName(2))")
            }
            return try tensorOp(a) {
                switch (x, y) {
                case (.tensor(let t), .number(let e)): return .object(t.pow(e))
                case (.number(let c), .tensor(let t)):
                    // c^t = exp(t · log c), for c > 0.
                    guard c > 0 else { throw LuaError("number ^ qv.Tensor needs a positive base, got \(fmtNumber(c))") }
                    return .object(t.mul(Float(_log(Double(c)))).exp())
                default:
                    throw LuaError("qv.Tensor ^ qv.Tensor is not supported: the exponent must be a number")
                }
            }
        }
        cls.meta("__unm") { a in
            guard let t = a.objectIfPresent(1, Tensor.self) else { throw LuaError("attempt to negate \(a.typeName(1))") }
            return .object(t.neg())
        }
        cls.len { t in
            guard t.rank > 0 else { throw LuaError("#t: a 0-dimensional tensor has no length (use t:item())") }
            return .int(t.shape[0])
        }
        cls.meta("__idiv") { a in
            throw LuaError("attempt to perform arithmetic (//) on \(a.typeName(1)) and \(a.typeName(2)) (use (a / b):floor())")
        }
        cls.meta("__mod") { a in
            throw LuaError("attempt to perform arithmetic (%) on \(a.typeName(1)) and \(a.typeName(2))")
        }
        cls.meta("__concat") { a in
            throw LuaError("attempt to concatenate a qv.Tensor (use tostring(t), or qv.cat for tensors)")
        }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
#endif
