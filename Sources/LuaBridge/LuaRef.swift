import CLua

/// A Lua value held from Swift (a slot in the registry), e.g. a callback
/// function or a table passed to a binding. Released when the last Swift
/// reference goes; must be used and released on the Lua thread.
public final class LuaRef {
    /// The owning state, nil once it is gone. Held through a `StateHandle`
    /// rather than a weak reference: a weak reference would give LuaState a
    /// side table and move every retain/release of it (one per binding
    /// call) to the slow path.
    public var state: LuaState? { handle.state }
    let handle: StateHandle
    let ref: Int32
    let owned: Bool
    /// Lua type of the value ("function", "table", ...).
    public let typeName: String

    /// Takes a reference to the value at `index` (which stays on the stack).
    init(state: LuaState, L: OpaquePointer, index: Int32) {
        self.handle = state.handle
        self.typeName = String(cString: lua_typename(L, lua_type(L, index)))
        lua_pushvalue(L, index)
        self.ref = luaL_ref(L, LuaState.registry)
        self.owned = true
    }

    /// Wraps an existing registry slot.
    init(state: LuaState, L: OpaquePointer, registryRef: Int32, owned: Bool) {
        self.handle = state.handle
        lua_rawgeti(L, LuaState.registry, lua_Integer(registryRef))
        self.typeName = String(cString: lua_typename(L, lua_type(L, -1)))
        lua_settop(L, -2)
        self.ref = registryRef
        self.owned = owned
    }

    deinit {
        if owned, let s = state, !s.isClosed { luaL_unref(s.L, LuaState.registry, ref) }
    }

    /// Pushes the value.
    public func push(_ L: OpaquePointer) {
        lua_rawgeti(L, LuaState.registry, lua_Integer(ref))
    }

    public var isFunction: Bool { typeName == "function" }

    /// Calls the value (a function, or anything with `__call`) under a
    /// protected call. A Lua error becomes a thrown `LuaError` carrying the
    /// traceback and the original error value; a binding that lets it
    /// propagate re-raises that value unchanged.
    @discardableResult
    public func call(_ args: [LuaValue]) throws -> [LuaValue] {
        guard let state, !state.isClosed else { throw LuaError("Lua state is closed") }
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        guard lua_checkstack(L, Int32(clamping: args.count + 8)) != 0 else {
            throw LuaError("stack overflow (too many arguments)")
        }
        push(L)
        var n: Int32 = 0
        for a in args { n += try state.push(a, L) }
        let status = qvL_pcall(L, n, LUA_MULTRET)
        if status != LUA_OK { throw state.errorFromTop(L) }
        let newTop = lua_gettop(L)
        guard newTop > top else { return [] }
        return (top + 1...newTop).map { state.value(at: $0, L) }
    }

    /// `call` with variadic arguments.
    @discardableResult
    public func call(_ args: LuaValue...) throws -> [LuaValue] { try call(args) }

    /// The elements 1...#t of a table as values.
    public func arrayValues() -> [LuaValue] {
        guard let state, !state.isClosed else { return [] }
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        push(L)
        let n = Int(lua_rawlen(L, -1))
        var out: [LuaValue] = []
        for k in 0..<n {
            lua_rawgeti(L, top + 1, lua_Integer(k + 1))
            out.append(state.value(at: -1, L))
            lua_settop(L, top + 1)
        }
        return out
    }

    /// A raw field of a table (nil for other types).
    public func field(_ key: String) -> LuaValue {
        guard let state, !state.isClosed else { return .nil }
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        push(L)
        guard lua_type(L, -1) == LUA_TTABLE else { return .nil }
        lua_pushstring(L, key)
        lua_rawget(L, -2)
        return state.value(at: -1, L)
    }
}

extension LuaState {
    /// Pops the error left by a failed protected call into a LuaError.
    func errorFromTop(_ L: OpaquePointer) -> LuaError {
        let message = describe(at: -1, L)
        let value = LuaRef(state: self, L: L, index: -1)
        lua_pushstring(L, "qv.traceback")
        lua_rawget(L, LuaState.registry)
        let tb = string(at: -1, L)
        lua_settop(L, -2)
        lua_pushstring(L, "qv.traceback")
        lua_pushnil(L)
        lua_rawset(L, LuaState.registry)
        lua_settop(L, -2)
        return LuaError(message: message, traceback: tb, value: value)
    }
}

/// A strong, cheap stand-in for a weak reference to a LuaState: the state
/// clears it when it is deinitialized.
final class StateHandle {
    unowned(unsafe) var state: LuaState?
    init() {}
}
