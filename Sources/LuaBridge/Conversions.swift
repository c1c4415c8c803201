import CLua

/// Pushing Swift values onto a Lua stack and reading them back. Only raw
/// accesses (no metamethods), so nothing here can raise a Lua error other
/// than running out of memory (see shim.h).
extension LuaState {
    /// Pushes one value (`.none` pushes nothing, `.multiple` each of its
    /// values); returns how many were pushed.
    @discardableResult
    public func push(_ v: LuaValue, _ L: OpaquePointer) throws -> Int32 {
        guard lua_checkstack(L, 4) != 0 else { throw LuaError("stack overflow (too many values)") }
        switch v {
        case .nil: lua_pushnil(L)
        case .bool(let b): lua_pushboolean(L, b ? 1 : 0)
        case .int(let i): lua_pushinteger(L, lua_Integer(i))
        case .number(let d): lua_pushnumber(L, d)
        case .string(let s):
            let n = s.utf8.count
            _ = s.withCString { lua_pushlstring(L, $0, n) }
        case .array(let vs):
            lua_createtable(L, Int32(clamping: vs.count), 0)
            for (i, e) in vs.enumerated() {
                try pushOne(e, L)
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
        case .table(let t):
            lua_createtable(L, 0, Int32(clamping: t.count))
            for (k, e) in t {
                lua_pushstring(L, k)
                try pushOne(e, L)
                lua_rawset(L, -3)
            }
        case .object(let o): try pushObject(o, L)
        case .function(let name, let body): pushFunction(name: name, L, body)
        case .ref(let r): r.push(L)
        case .none: return 0
        case .multiple(let vs):
            guard lua_checkstack(L, Int32(clamping: vs.count + 4)) != 0 else {
                throw LuaError("stack overflow (too many results)")
            }
            var n: Int32 = 0
            for e in vs {
                if case .multiple = e { throw LuaError("nested multiple results") }
                n += try push(e, L)
            }
            return n
        }
        return 1
    }

    /// Pushes exactly one value (`.none` as nil, `.multiple` as its first).
    func pushOne(_ v: LuaValue, _ L: OpaquePointer) throws {
        switch v {
        case .none: lua_pushnil(L)
        case .multiple(let vs): try pushOne(vs.first ?? .nil, L)
        default: try push(v, L)
        }
    }

    /// Pushes a Swift closure as a Lua function (through the trampoline).
    func pushFunction(name: String, _ L: OpaquePointer, offset: Int32 = 0,
                      kind: Arguments.Kind = .function, _ body: @escaping LuaFunctionBody) {
        let binding = Binding(name: name, offset: offset, kind: kind, body: body)
        let block = qvL_newuserdata(L, MemoryLayout<UnsafeMutableRawPointer>.size)!
        block.storeBytes(of: Unmanaged.passRetained(binding).toOpaque(), as: UnsafeMutableRawPointer.self)
        lua_rawgeti(L, LuaState.registry, lua_Integer(bindingMetaRef))
        lua_setmetatable(L, -2)
        qvL_pushswift(L, bindingDispatch, 1)
    }

    /// Pushes a Swift object as the userdata of its registered class. The
    /// same live object always gives the same userdata.
    public func pushObject(_ o: AnyObject, _ L: OpaquePointer) throws {
        guard let info = classInfo(for: o) else {
            throw LuaError("no Lua class is registered for Swift type \(type(of: o))")
        }
        let p = Unmanaged.passUnretained(o).toOpaque()
        lua_rawgeti(L, LuaState.registry, lua_Integer(objectsRef))
        if lua_rawgetp(L, -1, p) == LUA_TUSERDATA,
           let block = lua_touserdata(L, -1),
           block.load(as: UnsafeMutableRawPointer?.self) == p {
            qvL_remove(L, -2)
            return
        }
        lua_settop(L, -2)
        let block = qvL_newuserdata(L, MemoryLayout<UnsafeMutableRawPointer>.size)!
        block.storeBytes(of: Unmanaged.passRetained(o).toOpaque(), as: UnsafeMutableRawPointer.self)
        lua_rawgeti(L, LuaState.registry, lua_Integer(info.metatableRef))
        lua_setmetatable(L, -2)
        lua_pushvalue(L, -1)
        lua_rawsetp(L, -3, p)
        qvL_remove(L, -2)
        reportAllocation(LuaState.objectOverhead + info.extraBytes(o))
    }

    /// Estimated size of a Swift object header, reported for every userdata.
    static let objectOverhead = 64

    /// The Swift object in a userdata of a registered class, or nil.
    /// `released` is set when it is such a userdata whose object was already
    /// released by its finalizer.
    public func object(at idx: Int32, _ L: OpaquePointer) -> AnyObject? {
        guard let p = objectPointer(at: idx, L) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue()
    }

    /// 1: a live object of a registered class; 0: not one; -1: finalized.
    func objectPointer(at idx: Int32, _ L: OpaquePointer) -> UnsafeMutableRawPointer? {
        guard lua_type(L, idx) == LUA_TUSERDATA, isQVUserdata(at: idx, L),
              let block = lua_touserdata(L, idx) else { return nil }
        return block.load(as: UnsafeMutableRawPointer?.self)
    }

    /// Whether the value is a userdata whose metatable is a registered class's.
    func isQVUserdata(at idx: Int32, _ L: OpaquePointer) -> Bool {
        guard lua_type(L, idx) == LUA_TUSERDATA, lua_getmetatable(L, idx) != 0 else { return false }
        lua_pushstring(L, "__qvclass")
        let t = lua_rawget(L, -2)
        lua_settop(L, -3)
        return t == LUA_TSTRING
    }

    /// The type name used in messages: `__name` of the metatable for
    /// userdata and tables that have one (e.g. "qv.Tensor"), else Lua's.
    public func typeName(at idx: Int32, _ L: OpaquePointer) -> String {
        let t = lua_type(L, idx)
        if t == LUA_TUSERDATA || t == LUA_TTABLE, lua_getmetatable(L, idx) != 0 {
            lua_pushstring(L, "__name")
            let nt = lua_rawget(L, -2)
            let name = nt == LUA_TSTRING ? string(at: -1, L) : nil
            lua_settop(L, -3)
            if let name { return name }
        }
        if t == LUA_TNONE { return "no value" }
        return String(cString: lua_typename(L, t))
    }

    /// The string at idx without conversion (nil unless it is a string).
    public func string(at idx: Int32, _ L: OpaquePointer) -> String? {
        bytes(at: idx, L).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of the string at idx, as they are (nil unless it is a string).
    public func bytes(at idx: Int32, _ L: OpaquePointer) -> [UInt8]? {
        guard lua_type(L, idx) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = lua_tolstring(L, idx, &len) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: len))
    }

    /// tostring(value), with __tostring run under a protected call.
    public func describe(at idx: Int32, _ L: OpaquePointer) -> String {
        var len = 0
        guard let p = qvL_safe_tostring(L, idx, &len) else { return "?" }
        let s = String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
        lua_settop(L, -2)
        return s
    }

    /// Reads any value: scalars and strings are copied, userdata of
    /// registered classes become `.object`, everything else a `.ref`.
    public func value(at idx: Int32, _ L: OpaquePointer) -> LuaValue {
        switch lua_type(L, idx) {
        case LUA_TNONE: return .none
        case LUA_TNIL: return .nil
        case LUA_TBOOLEAN: return .bool(lua_toboolean(L, idx) != 0)
        case LUA_TNUMBER:
            if lua_isinteger(L, idx) != 0 { return .int(Int(lua_tointegerx(L, idx, nil))) }
            return .number(lua_tonumberx(L, idx, nil))
        case LUA_TSTRING: return .string(string(at: idx, L) ?? "")
        case LUA_TUSERDATA:
            if let o = object(at: idx, L) { return .object(o) }
            return .ref(LuaRef(state: self, L: L, index: idx))
        default: return .ref(LuaRef(state: self, L: L, index: idx))
        }
    }
}
