import CLua

/// A value crossing the bridge: what bindings return, what callbacks take
/// and give back.
///
/// Scalars and strings are copied. `.array` and `.table` build fresh Lua
/// tables. `.object` pushes a Swift object as a userdata of its registered
/// `LuaClass` (the same object always gives the same userdata while that is
/// alive). `.ref` is any Lua value held by reference (tables, functions,
/// foreign userdata) — what `Arguments.value` and callbacks return for
/// values that have no Swift equivalent.
///
/// `.none` (no value at all) and `.multiple` (several results) only make
/// sense as the return value of a binding.
public enum LuaValue {
    case `nil`
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    /// A sequence: a table with keys 1...n.
    case array([LuaValue])
    /// A table with string keys.
    case table([String: LuaValue])
    /// A Swift object of a registered class, pushed as its userdata.
    case object(AnyObject)
    /// A Swift closure pushed as a Lua function.
    case function(name: String, body: LuaFunctionBody)
    /// A Lua value held in the registry.
    case ref(LuaRef)
    /// No result (a binding that returns nothing).
    case none
    /// Several results.
    case multiple([LuaValue])

    /// Several results: `return .values(.int(1), .string("a"))`.
    public static func values(_ vs: LuaValue...) -> LuaValue { .multiple(vs) }
    /// A sequence of numbers.
    public static func numbers<S: Sequence>(_ xs: S) -> LuaValue where S.Element: BinaryFloatingPoint {
        .array(xs.map { .number(Double($0)) })
    }
    /// A sequence of integers.
    public static func ints<S: Sequence>(_ xs: S) -> LuaValue where S.Element: BinaryInteger {
        .array(xs.map { .int(Int($0)) })
    }
    /// A sequence of strings.
    public static func strings<S: Sequence>(_ xs: S) -> LuaValue where S.Element: StringProtocol {
        .array(xs.map { .string(String($0)) })
    }
    /// `.nil` for nil, else the wrapped value.
    public static func optional(_ v: LuaValue?) -> LuaValue { v ?? .nil }

    /// The Lua type name ("nil", "number", ...) of this value.
    public var typeName: String {
        switch self {
        case .nil, .none: return "nil"
        case .bool: return "boolean"
        case .int, .number: return "number"
        case .string: return "string"
        case .array, .table: return "table"
        case .object: return "userdata"
        case .function: return "function"
        case .ref(let r): return r.typeName
        case .multiple(let vs): return vs.first?.typeName ?? "nil"
        }
    }

    /// The number, if this is one.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }
    /// The integer, if this is an integer or an integral float.
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .number(let d): return d.rounded() == d && abs(d) < 9.2e18 ? Int(d) : nil
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var isNil: Bool {
        switch self { case .nil, .none: return true; default: return false }
    }
    /// The Swift object, if this is a userdata of a registered class of type T.
    public func object<T>(_ type: T.Type) -> T? { if case .object(let o) = self { return o as? T } else { return nil } }
}

extension LuaValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    public init(integerLiteral v: Int) { self = .int(v) }
    public init(floatLiteral v: Double) { self = .number(v) }
    public init(stringLiteral v: String) { self = .string(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(arrayLiteral vs: LuaValue...) { self = .array(vs) }
    public init(dictionaryLiteral kvs: (String, LuaValue)...) {
        self = .table(Dictionary(kvs, uniquingKeysWith: { _, b in b }))
    }
    public init(nilLiteral: ()) { self = .nil }
}

extension LuaValue {
    public init(_ v: Int) { self = .int(v) }
    public init(_ v: Double) { self = .number(v) }
    public init(_ v: Float) { self = .number(Double(v)) }
    public init(_ v: Bool) { self = .bool(v) }
    public init(_ v: String) { self = .string(v) }
}

extension LuaValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .nil: return "nil"
        case .none: return "none"
        case .bool(let b): return String(b)
        case .int(let i): return String(i)
        case .number(let d): return String(d)
        case .string(let s): return "\"\(s)\""
        case .array(let vs): return "{" + vs.map(\.description).joined(separator: ", ") + "}"
        case .table(let t):
            return "{" + t.keys.sorted().map { "\($0) = \(t[$0]!.description)" }.joined(separator: ", ") + "}"
        case .object(let o): return "object(\(type(of: o)))"
        case .function(let name, _): return "function(\(name))"
        case .ref(let r): return "ref(\(r.typeName))"
        case .multiple(let vs): return vs.map(\.description).joined(separator: ", ")
        }
    }
}
