import CLua

/// The arguments of a call to a Swift binding, with checked conversions.
///
/// Arguments are numbered from 1 as Lua users see them; in a method, 1 is
/// the first argument after `self` (`t:view(2, 3)`: `args.int(1, "d1")` is 2).
/// Every failed check throws an `ArgumentError` whose message names the
/// function and the argument, in Lua's own format:
///
///     bad argument #2 to 'qv.matmul' (b: expected qv.Tensor, got string)
///
/// Conversions are strict: a number argument must be a Lua number (not a
/// numeric string), an integer an integral number, a boolean a boolean.
public struct Arguments {
    public enum Kind: Equatable {
        case function
        case method
        /// The value assigned to a property (`obj.name = value`).
        case field(String)
    }

    /// The thread the call runs on.
    public let L: OpaquePointer
    public let state: LuaState
    /// The name in messages: "qv.seed", "qv.Tensor:view".
    public let function: String
    let offset: Int32
    let kind: Kind

    init(L: OpaquePointer, state: LuaState, function: String, offset: Int32, kind: Kind) {
        self.L = L; self.state = state; self.function = function; self.offset = offset; self.kind = kind
    }

    /// Number of arguments (after `self` in a method).
    public var count: Int { max(0, Int(lua_gettop(L) - offset)) }

    /// The absolute stack index of argument i.
    public func stackIndex(_ i: Int) -> Int32 { Int32(i) + offset }

    // MARK: errors

    /// A "bad argument" error for argument i.
    public func argumentError(_ i: Int, _ name: String?, _ detail: String) -> ArgumentError {
        let d = name.map { "\($0): \(detail)" } ?? detail
        switch kind {
        case .field(let f):
            let owner = function.split(separator: ".").dropLast().joined(separator: ".")
            return ArgumentError("bad value for field '\(f)' of \(owner) (\(detail))")
        case .method where i == 0:
            return ArgumentError("calling '\(function)' on bad self (\(detail))")
        default:
            return ArgumentError("bad argument #\(i) to '\(function)' (\(d))")
        }
    }

    /// An error about the call as a whole: "qv.f: message".
    public func error(_ message: String) -> LuaError { LuaError("\(function): \(message)") }

    func typeError(_ i: Int, _ name: String?, expected: String) -> ArgumentError {
        argumentError(i, name, "expected \(expected), got \(typeName(i))")
    }

    // MARK: inspection

    /// The type name of argument i ("number", "qv.Tensor", "no value").
    public func typeName(_ i: Int) -> String { state.typeName(at: stackIndex(i), L) }
    /// Lua type code (LUA_TNUMBER, ...) of argument i.
    public func luaType(_ i: Int) -> Int32 { i > count ? LUA_TNONE : lua_type(L, stackIndex(i)) }
    /// Absent or nil.
    public func isNil(_ i: Int) -> Bool { luaType(i) <= LUA_TNIL }
    public func isNumber(_ i: Int) -> Bool { luaType(i) == LUA_TNUMBER }
    public func isString(_ i: Int) -> Bool { luaType(i) == LUA_TSTRING }
    public func isTable(_ i: Int) -> Bool { luaType(i) == LUA_TTABLE }
    public func isBool(_ i: Int) -> Bool { luaType(i) == LUA_TBOOLEAN }
    public func isFunction(_ i: Int) -> Bool { luaType(i) == LUA_TFUNCTION }
    /// Any argument, converted (tables and functions as `.ref`).
    public func value(_ i: Int) -> LuaValue { i > count ? .none : state.value(at: stackIndex(i), L) }
    /// All arguments from `i` on.
    public func values(from i: Int = 1) -> [LuaValue] { i > count ? [] : (i...count).map { value($0) } }

    /// Fails unless there are at most `n` arguments.
    public func expectAtMost(_ n: Int) throws {
        if count > n { throw argumentError(n + 1, nil, "no more than \(n) argument\(n == 1 ? "" : "s") expected") }
    }

    // MARK: scalars

    public func int(_ i: Int, _ name: String? = nil) throws -> Int {
        try readInt(stackIndex(i)) { try self.fail(i, name, $0) }
    }
    public func int(_ i: Int, _ name: String? = nil, default d: Int) throws -> Int {
        isNil(i) ? d : try int(i, name)
    }
    public func optionalInt(_ i: Int, _ name: String? = nil) throws -> Int? {
        isNil(i) ? nil : try int(i, name)
    }

    public func number(_ i: Int, _ name: String? = nil) throws -> Double {
        try readNumber(stackIndex(i)) { try self.fail(i, name, $0) }
    }
    public func number(_ i: Int, _ name: String? = nil, default d: Double) throws -> Double {
        isNil(i) ? d : try number(i, name)
    }
    public func optionalNumber(_ i: Int, _ name: String? = nil) throws -> Double? {
        isNil(i) ? nil : try number(i, name)
    }

    public func float(_ i: Int, _ name: String? = nil) throws -> Float { Float(try number(i, name)) }
    public func float(_ i: Int, _ name: String? = nil, default d: Float) throws -> Float {
        isNil(i) ? d : try float(i, name)
    }
    public func optionalFloat(_ i: Int, _ name: String? = nil) throws -> Float? {
        isNil(i) ? nil : try float(i, name)
    }

    public func string(_ i: Int, _ name: String? = nil) throws -> String {
        guard luaType(i) == LUA_TSTRING, let s = state.string(at: stackIndex(i), L) else {
            throw typeError(i, name, expected: "string")
        }
        return s
    }
    /// The bytes of a string argument, unchanged (binary data survives).
    public func bytes(_ i: Int, _ name: String? = nil) throws -> [UInt8] {
        guard luaType(i) == LUA_TSTRING, let b = state.bytes(at: stackIndex(i), L) else {
            throw typeError(i, name, expected: "string")
        }
        return b
    }
    public func string(_ i: Int, _ name: String? = nil, default d: String) throws -> String {
        isNil(i) ? d : try string(i, name)
    }
    public func optionalString(_ i: Int, _ name: String? = nil) throws -> String? {
        isNil(i) ? nil : try string(i, name)
    }
    /// A string that must be one of `choices`.
    public func choice(_ i: Int, _ name: String? = nil, _ choices: [String], default d: String? = nil) throws -> String {
        if isNil(i), let d { return d }
        let s = try string(i, name)
        guard choices.contains(s) else {
            throw argumentError(i, name, "expected one of \(choices.map { "'\($0)'" }.joined(separator: ", ")), got '\(s)'")
        }
        return s
    }

    public func bool(_ i: Int, _ name: String? = nil) throws -> Bool {
        guard luaType(i) == LUA_TBOOLEAN else { throw typeError(i, name, expected: "boolean") }
        return lua_toboolean(L, stackIndex(i)) != 0
    }
    public func bool(_ i: Int, _ name: String? = nil, default d: Bool) throws -> Bool {
        isNil(i) ? d : try bool(i, name)
    }
    public func optionalBool(_ i: Int, _ name: String? = nil) throws -> Bool? {
        isNil(i) ? nil : try bool(i, name)
    }

    // MARK: objects

    /// The Swift object in argument i, which must be a userdata of a
    /// registered class whose object is a T (`self` is argument 0 in a method).
    public func object<T>(_ i: Int, _ type: T.Type, _ name: String? = nil) throws -> T {
        let idx = stackIndex(i)
        if let p = state.objectPointer(at: idx, L),
           let o = Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T {
            return o
        }
        if state.isQVUserdata(at: idx, L), state.objectPointer(at: idx, L) == nil {
            throw argumentError(i, name, "\(typeName(i)) was already released")
        }
        throw typeError(i, name, expected: state.luaTypeName(of: type))
    }
    public func optionalObject<T>(_ i: Int, _ type: T.Type, _ name: String? = nil) throws -> T? {
        isNil(i) ? nil : try object(i, type, name)
    }
    /// The object if argument i is a T, else nil (never throws): for
    /// metamethods whose operands may be objects or numbers.
    public func objectIfPresent<T>(_ i: Int, _ type: T.Type) -> T? {
        guard i <= count, let p = state.objectPointer(at: stackIndex(i), L) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T
    }

    // MARK: functions and tables

    /// A function argument (or a value with `__call`), held by reference.
    public func function(_ i: Int, _ name: String? = nil) throws -> LuaRef {
        let idx = stackIndex(i)
        guard lua_type(L, idx) == LUA_TFUNCTION || hasCallMetamethod(idx) else {
            throw typeError(i, name, expected: "function")
        }
        return LuaRef(state: state, L: L, index: idx)
    }
    public func optionalFunction(_ i: Int, _ name: String? = nil) throws -> LuaRef? {
        isNil(i) ? nil : try function(i, name)
    }

    /// A table argument, held by reference.
    public func table(_ i: Int, _ name: String? = nil) throws -> LuaRef {
        guard isTable(i) else { throw typeError(i, name, expected: "table") }
        return LuaRef(state: state, L: L, index: stackIndex(i))
    }

    /// A sequence of numbers: {1, 2.5, 3}.
    public func numbers(_ i: Int, _ name: String? = nil) throws -> [Double] {
        try sequence(i, name, expected: "number") { try readNumber(-1, $0) }
    }
    public func floats(_ i: Int, _ name: String? = nil) throws -> [Float] {
        try sequence(i, name, expected: "number") { Float(try readNumber(-1, $0)) }
    }
    public func ints(_ i: Int, _ name: String? = nil) throws -> [Int] {
        try sequence(i, name, expected: "integer") { try readInt(-1, $0) }
    }
    public func strings(_ i: Int, _ name: String? = nil) throws -> [String] {
        try sequence(i, name, expected: "string") { fail in
            guard let s = state.string(at: -1, L) else {
                try fail("expected string, got \(state.typeName(at: -1, L))")
            }
            return s
        }
    }
    /// Objects of type T in a sequence.
    public func objects<T>(_ i: Int, _ type: T.Type, _ name: String? = nil) throws -> [T] {
        let tname = state.luaTypeName(of: type)
        return try sequence(i, name, expected: tname) { fail in
            guard let p = state.objectPointer(at: -1, L),
                  let o = Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T else {
                try fail("expected \(tname), got \(state.typeName(at: -1, L))")
            }
            return o
        }
    }

    /// Integers given either as separate arguments from `i` on or as one
    /// table: `qv.zeros(2, 3)` and `qv.zeros({2, 3})`.
    public func intList(from i: Int, _ name: String? = nil) throws -> [Int] {
        if isTable(i) {
            try expectAtMost(i)
            return try ints(i, name)
        }
        guard count >= i else { return [] }
        return try (i...count).map { try int($0, name) }
    }

    /// A nested table of numbers with a rectangular shape:
    /// {{1, 2, 3}, {4, 5, 6}} gives shape [2, 3] and the values row-major.
    /// A plain number gives shape [] and one value.
    public func nestedFloats(_ i: Int, _ name: String? = nil) throws -> (shape: [Int], values: [Float]) {
        let idx = stackIndex(i)
        if lua_type(L, idx) == LUA_TNUMBER { return ([], [Float(lua_tonumberx(L, idx, nil))]) }
        guard lua_type(L, idx) == LUA_TTABLE else { throw typeError(i, name, expected: "table of numbers") }
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        // Shape from the first elements.
        var shape: [Int] = []
        lua_pushvalue(L, idx)
        while true {
            let n = Int(lua_rawlen(L, -1))
            shape.append(n)
            if n == 0 { break }
            guard lua_checkstack(L, 2) != 0 else { throw argumentError(i, name, "table nested too deeply") }
            let t = lua_rawgeti(L, -1, 1)
            if t == LUA_TTABLE { continue }
            break
        }
        lua_settop(L, top)
        var values: [Float] = []
        values.reserveCapacity(shape.reduce(1, *))
        func fill(_ level: Int, _ path: String) throws {
            let n = Int(lua_rawlen(L, -1))
            guard n == shape[level] else {
                throw argumentError(i, name, "ragged nested table: \(shape[level]) elements expected at \(path.isEmpty ? "top level" : path), got \(n)")
            }
            for k in 1...max(n, 1) where n > 0 {
                let t = lua_rawgeti(L, -1, lua_Integer(k))
                let here = path + "[\(k)]"
                if level + 1 < shape.count {
                    guard t == LUA_TTABLE else {
                        throw argumentError(i, name, "expected table at \(here), got \(state.typeName(at: -1, L))")
                    }
                    try fill(level + 1, here)
                } else {
                    guard t == LUA_TNUMBER else {
                        throw argumentError(i, name, "expected number at \(here), got \(state.typeName(at: -1, L))")
                    }
                    values.append(Float(lua_tonumberx(L, -1, nil)))
                }
                lua_settop(L, -2)
            }
        }
        lua_pushvalue(L, idx)
        try fill(0, "")
        return (shape, values)
    }

    /// An options table: absent or nil gives empty options; a key not in
    /// `allowed` is an error ("unknown option 'lr' to 'qv.adam'").
    public func options(_ i: Int, _ name: String? = "options", allowed: Set<String>) throws -> Options {
        if isNil(i) { return Options(args: self, index: 0, keys: []) }
        guard isTable(i) else { throw typeError(i, name, expected: "table of options") }
        let idx = stackIndex(i)
        var keys: Set<String> = []
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_pushnil(L)
        while lua_next(L, idx) != 0 {
            guard lua_type(L, -2) == LUA_TSTRING, let k = state.string(at: -2, L) else {
                throw argumentError(i, name, "option names must be strings, got \(state.typeName(at: -2, L))")
            }
            guard allowed.contains(k) else {
                let known = allowed.sorted().joined(separator: ", ")
                throw ArgumentError("unknown option '\(k)' to '\(function)' (known options: \(known))")
            }
            keys.insert(k)
            lua_settop(L, -2)
        }
        return Options(args: self, index: idx, keys: keys)
    }

    // MARK: helpers

    private func fail(_ i: Int, _ name: String?, _ detail: String) throws -> Never {
        throw argumentError(i, name, detail)
    }

    func readNumber(_ idx: Int32, _ fail: (String) throws -> Never) throws -> Double {
        guard lua_type(L, idx) == LUA_TNUMBER else {
            try fail("expected number, got \(state.typeName(at: idx, L))")
        }
        return lua_tonumberx(L, idx, nil)
    }

    func readInt(_ idx: Int32, _ fail: (String) throws -> Never) throws -> Int {
        guard lua_type(L, idx) == LUA_TNUMBER else {
            try fail("expected integer, got \(state.typeName(at: idx, L))")
        }
        var ok: Int32 = 0
        let v = lua_tointegerx(L, idx, &ok)
        guard ok != 0 else { try fail("number has no integer representation") }
        return Int(v)
    }

    private func sequence<T>(_ i: Int, _ name: String?, expected: String,
                             _ read: ((String) throws -> Never) throws -> T) throws -> [T] {
        guard isTable(i) else { throw typeError(i, name, expected: "table of \(expected)s") }
        let idx = stackIndex(i)
        let n = Int(lua_rawlen(L, idx))
        var out: [T] = []
        out.reserveCapacity(n)
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        for k in 0..<n {
            lua_rawgeti(L, idx, lua_Integer(k + 1))
            out.append(try read { detail in
                throw argumentError(i, name, detail.replacing(", got", with: " at index \(k + 1), got", maxReplacements: 1))
            })
            lua_settop(L, top)
        }
        return out
    }

    private func hasCallMetamethod(_ idx: Int32) -> Bool {
        guard lua_getmetatable(L, idx) != 0 else { return false }
        lua_pushstring(L, "__call")
        let t = lua_rawget(L, -2)
        lua_settop(L, -3)
        return t != LUA_TNIL
    }
}

/// A validated options table (see `Arguments.options`). Reads are raw
/// (no metamethods). Errors read "bad option 'lr' to 'qv.adam' (...)".
public struct Options {
    let args: Arguments
    let index: Int32
    /// The keys present.
    public let keys: Set<String>

    public func has(_ key: String) -> Bool { keys.contains(key) }

    private func withField<T>(_ key: String, _ body: ((String) throws -> Never) throws -> T) throws -> T? {
        guard keys.contains(key) else { return nil }
        let L = args.L
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_pushstring(L, key)
        if lua_rawget(L, index) == LUA_TNIL { return nil }
        return try body { detail in
            throw ArgumentError("bad option '\(key)' to '\(args.function)' (\(detail))")
        }
    }

    public func optionalNumber(_ key: String) throws -> Double? {
        try withField(key) { try args.readNumber(-1, $0) }
    }
    public func number(_ key: String, default d: Double) throws -> Double { try optionalNumber(key) ?? d }
    public func optionalFloat(_ key: String) throws -> Float? { try optionalNumber(key).map(Float.init) }
    public func float(_ key: String, default d: Float) throws -> Float { try optionalFloat(key) ?? d }
    public func optionalInt(_ key: String) throws -> Int? {
        try withField(key) { try args.readInt(-1, $0) }
    }
    public func int(_ key: String, default d: Int) throws -> Int { try optionalInt(key) ?? d }
    public func optionalString(_ key: String) throws -> String? {
        try withField(key) { fail in
            guard let s = args.state.string(at: -1, args.L) else {
                try fail("expected string, got \(args.state.typeName(at: -1, args.L))")
            }
            return s
        }
    }
    public func string(_ key: String, default d: String) throws -> String { try optionalString(key) ?? d }
    public func optionalBool(_ key: String) throws -> Bool? {
        try withField(key) { fail in
            guard lua_type(args.L, -1) == LUA_TBOOLEAN else {
                try fail("expected boolean, got \(args.state.typeName(at: -1, args.L))")
            }
            return lua_toboolean(args.L, -1) != 0
        }
    }
    public func bool(_ key: String, default d: Bool) throws -> Bool { try optionalBool(key) ?? d }
    public func optionalObject<T>(_ key: String, _ type: T.Type) throws -> T? {
        try withField(key) { fail in
            guard let o = args.state.object(at: -1, args.L) as? T else {
                try fail("expected \(args.state.luaTypeName(of: type)), got \(args.state.typeName(at: -1, args.L))")
            }
            return o
        }
    }
    /// Any value (tables and functions as `.ref`).
    public func value(_ key: String) -> LuaValue {
        (try? withField(key) { _ in args.state.value(at: -1, args.L) }) ?? .nil
    }
    public func optionalFunction(_ key: String) throws -> LuaRef? {
        try withField(key) { fail in
            guard lua_type(args.L, -1) == LUA_TFUNCTION else {
                try fail("expected function, got \(args.state.typeName(at: -1, args.L))")
            }
            return LuaRef(state: args.state, L: args.L, index: -1)
        }
    }
}
