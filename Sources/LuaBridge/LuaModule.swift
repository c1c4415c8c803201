import CLua

/// A module table (`qv`, `qv.nn`, ...) to which bindings are added.
///
///     let qv = state.module("qv")
///     qv.fn("seed", doc: "qv.seed(n)\nReseeds the global generator.") { args in
///         GlobalRandom.seed(UInt64(truncatingIfNeeded: try args.int(1, "n")))
///         return .none
///     }
///
/// Each function's docstring is what `help(qv.seed)` and `?qv.seed` show;
/// by convention its first line is the call signature.
public final class LuaModule {
    public let state: LuaState
    /// Full dotted name ("qv.nn").
    public let name: String
    let tableRef: Int32

    init(state: LuaState, name: String, doc: String) {
        self.state = state
        self.name = name
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        // The parent table: the globals, or the parent module.
        let parts = name.split(separator: ".").map(String.init)
        if parts.count > 1 {
            let parent = state.module(parts.dropLast().joined(separator: "."))
            lua_rawgeti(L, LuaState.registry, lua_Integer(parent.tableRef))
        } else {
            qvL_pushglobaltable(L)
        }
        let parentIdx = lua_gettop(L)
        lua_pushstring(L, parts.last!)
        if lua_rawget(L, parentIdx) != LUA_TTABLE {
            lua_settop(L, parentIdx)
            lua_createtable(L, 0, 16)
            lua_pushstring(L, parts.last!)
            lua_pushvalue(L, -2)
            lua_rawset(L, parentIdx)
        }
        // package.loaded[name] = table
        lua_pushstring(L, "_LOADED")
        if lua_rawget(L, LuaState.registry) == LUA_TTABLE {
            lua_pushstring(L, name)
            lua_pushvalue(L, -3)
            lua_rawset(L, -3)
        }
        lua_settop(L, parentIdx + 1)
        state.setDoc(doc, forTopOf: L)
        tableRef = luaL_ref(L, LuaState.registry)
    }

    deinit {
        if !state.isClosed { luaL_unref(state.L, LuaState.registry, tableRef) }
    }

    /// Binds a Swift function as `module.name`.
    @discardableResult
    public func fn(_ fname: String, doc: String = "", _ body: @escaping LuaFunctionBody) -> LuaModule {
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, LuaState.registry, lua_Integer(tableRef))
        lua_pushstring(L, fname)
        state.pushFunction(name: "\(name).\(fname)", L, body)
        state.setDoc(doc, forTopOf: L)
        lua_rawset(L, -3)
        return self
    }

    /// Sets `module.key = value` (constants, sub-tables, Lua functions).
    @discardableResult
    public func set(_ key: String, _ value: LuaValue, doc: String = "") throws -> LuaModule {
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, LuaState.registry, lua_Integer(tableRef))
        lua_pushstring(L, key)
        try state.pushOne(value, L)
        state.setDoc(doc, forTopOf: L)
        lua_rawset(L, -3)
        return self
    }

    /// Reads `module.key` (raw).
    public func get(_ key: String) -> LuaValue {
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, LuaState.registry, lua_Integer(tableRef))
        lua_pushstring(L, key)
        lua_rawget(L, -2)
        return state.value(at: -1, L)
    }

    /// Registers a class and exposes its methods table as
    /// `module.<ShortName>` (e.g. `qv.Tensor`), so that `help(qv.Tensor)`,
    /// completion and `qv.Tensor.sum(t)` work.
    @discardableResult
    public func add<T: AnyObject>(_ cls: LuaClass<T>) -> LuaModule {
        state.register(cls)
        let short = String(cls.name.split(separator: ".").last ?? Substring(cls.name))
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, LuaState.registry, lua_Integer(tableRef))
        lua_pushstring(L, short)
        guard let info = state.classesByType[ObjectIdentifier(T.self)] else { return self }
        lua_rawgeti(L, LuaState.registry, lua_Integer(info.methodsRef))
        lua_rawset(L, -3)
        return self
    }

    /// A submodule `name.sub`.
    public func submodule(_ sub: String, doc: String = "") -> LuaModule {
        state.module("\(name).\(sub)", doc: doc)
    }

    /// The module table as a value.
    public var value: LuaValue {
        let L = state.currentL
        lua_rawgeti(L, LuaState.registry, lua_Integer(tableRef))
        defer { lua_settop(L, -2) }
        return state.value(at: -1, L)
    }
}
