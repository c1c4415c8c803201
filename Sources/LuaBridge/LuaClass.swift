import CLua

/// What the bridge knows about a registered class at run time.
final class ClassInfo {
    let name: String
    let metatableRef: Int32
    let methodsRef: Int32
    let extraBytes: (AnyObject) -> Int
    /// Stored first in every userdata block of the class (see ObjectBlock).
    var tag: UnsafeRawPointer { UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()) }
    init(name: String, metatableRef: Int32, methodsRef: Int32, extraBytes: @escaping (AnyObject) -> Int) {
        self.name = name; self.metatableRef = metatableRef; self.methodsRef = methodsRef
        self.extraBytes = extraBytes
    }
}

/// A Swift class exposed to Lua as a userdata type with its own metatable.
///
///     let cls = LuaClass<Counter>("qv.Counter", doc: "A counter.")
///         .method("add", doc: "c:add(n) -> number") { c, args in
///             c.value += try args.int(1, "n"); return .int(c.value)
///         }
///         .property("value", doc: "current value",
///                   get: { c in .int(c.value) },
///                   set: { c, args in c.value = try args.int(1) })
///         .tostring { c in "qv.Counter(\(c.value))" }
///     state.module("qv").add(cls)        // also exposes qv.Counter
///
/// A LuaClass is a description: the same one may be registered in several
/// states. Objects are held in a userdata by a retained reference, released by
/// `__gc`. Methods receive the checked `self`; in their `Arguments`,
/// 1 is the first argument after `self`. Field reads look up methods first,
/// then properties, then the `index` fallback; writes go to property
/// setters, then the `newindex` fallback.
public final class LuaClass<T: AnyObject> {
    public typealias Method = (T, Arguments) throws -> LuaValue

    /// Lua-visible name, the metatable's `__name` ("qv.Tensor").
    public let name: String
    public let doc: String
    var methods: [(name: String, doc: String, body: Method)] = []
    var functions: [(name: String, doc: String, body: LuaFunctionBody)] = []
    var properties: [String: (doc: String, get: (T) throws -> LuaValue, set: ((T, Arguments) throws -> Void)?)] = [:]
    var indexer: Method?
    var newIndexer: ((T, Arguments) throws -> Void)?
    var metamethods: [(name: String, body: LuaFunctionBody)] = []
    var tostringBody: ((T) -> String)?
    var extraBytesBody: ((T) -> Int)?

    public init(_ name: String, doc: String = "") {
        self.name = name
        self.doc = doc
    }

    /// A method: `obj:name(...)`.
    @discardableResult
    public func method(_ mname: String, doc: String = "", _ body: @escaping Method) -> Self {
        methods.append((mname, doc, body)); return self
    }

    /// A function in the class table without `self` (`qv.Tensor.name(...)`).
    @discardableResult
    public func function(_ fname: String, doc: String = "", _ body: @escaping LuaFunctionBody) -> Self {
        functions.append((fname, doc, body)); return self
    }

    /// A field `obj.name`; with `set`, assignable (`obj.name = v`: the
    /// value is argument 1 of the setter's `Arguments`).
    @discardableResult
    public func property(_ pname: String, doc: String = "", get: @escaping (T) throws -> LuaValue,
                         set: ((T, Arguments) throws -> Void)? = nil) -> Self {
        properties[pname] = (doc, get, set); return self
    }

    /// Fallback for reads of keys that are not methods or properties
    /// (`t[3]`): the key is argument 1. Return `.nil` for unknown keys.
    @discardableResult
    public func index(_ body: @escaping Method) -> Self { indexer = body; return self }

    /// Fallback for writes to keys that are not properties: key is
    /// argument 1, value argument 2.
    @discardableResult
    public func newindex(_ body: @escaping (T, Arguments) throws -> Void) -> Self { newIndexer = body; return self }

    /// A metamethod with raw arguments (`__add`, `__eq`, `__lt`, `__le`,
    /// `__unm`, `__concat`, `__len`, `__call`, `__close`, ...). For binary
    /// operators either operand may be the object: use
    /// `args.objectIfPresent(1, T.self)`.
    @discardableResult
    public func meta(_ event: String, _ body: @escaping LuaFunctionBody) -> Self {
        metamethods.append((event, body)); return self
    }

    /// `tostring(obj)`, and the REPL's one-line summary.
    @discardableResult
    public func tostring(_ body: @escaping (T) -> String) -> Self { tostringBody = body; return self }

    /// `#obj`.
    @discardableResult
    public func len(_ body: @escaping (T) throws -> LuaValue) -> Self {
        let n = name
        return meta("__len") { args in
            guard let o = args.objectIfPresent(1, T.self) else { throw LuaError("\(n).__len: bad self") }
            return try body(o)
        }
    }

    /// `obj(...)`: the arguments after the object are 1, 2, ...
    @discardableResult
    public func call(_ body: @escaping Method) -> Self {
        let n = name
        return meta("__call") { args in
            guard let o = args.objectIfPresent(1, T.self) else { throw LuaError("\(n).__call: bad self") }
            let shifted = Arguments(L: args.L, state: args.state, function: n, offset: args.offset + 1, kind: .function)
            return try body(o, shifted)
        }
    }

    /// Bytes of Swift memory an object owns (e.g. a tensor's storage),
    /// reported to the Lua collector when the object is pushed.
    @discardableResult
    public func extraBytes(_ body: @escaping (T) -> Int) -> Self { extraBytesBody = body; return self }

    // MARK: installation

    func install(in state: LuaState) {
        guard state.classesByType[ObjectIdentifier(T.self)] == nil else { return }
        let L = state.currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let cname = name

        // methods table
        lua_createtable(L, 0, Int32(methods.count + functions.count))
        let methodsIdx = lua_gettop(L)
        for m in methods {
            let body = m.body
            lua_pushstring(L, m.name)
            state.pushFunction(name: "\(cname):\(m.name)", L, offset: 1, kind: .method) { args in
                try body(try args.object(0, T.self), args)
            }
            state.setDoc(m.doc, forTopOf: L)
            lua_rawset(L, methodsIdx)
        }
        for f in functions {
            lua_pushstring(L, f.name)
            state.pushFunction(name: "\(cname).\(f.name)", L, f.body)
            state.setDoc(f.doc, forTopOf: L)
            lua_rawset(L, methodsIdx)
        }
        state.setDoc(doc, forTopOf: L)

        // metatable
        lua_createtable(L, 0, 16)
        let mt = lua_gettop(L)
        func setField(_ key: String) { lua_pushstring(L, key); qvL_insert(L, -2); lua_rawset(L, mt) }
        lua_pushstring(L, cname); setField("__name")
        lua_pushstring(L, cname); setField("__qvclass")
        qvL_pushcfunction(L, objectGC); setField("__gc")
        lua_pushvalue(L, methodsIdx); setField("__methods")
        lua_createtable(L, 0, Int32(properties.count))
        for (pname, p) in properties {
            lua_pushstring(L, pname); lua_pushstring(L, p.doc); lua_rawset(L, -3)
        }
        setField("__properties")

        // __index: the methods table itself, or methods then a Swift getter
        let props = properties
        let indexer = self.indexer
        if props.isEmpty && indexer == nil {
            lua_pushvalue(L, methodsIdx); setField("__index")
        } else {
            state.pushFunction(name: "\(cname).__index", L, offset: 1, kind: .method) { args in
                let o = try args.object(0, T.self)
                if case .string(let key) = args.value(1), let p = props[key] { return try p.get(o) }
                if let indexer { return try indexer(o, args) }
                return .nil
            }
            let getter = LuaRef(state: state, L: L, index: -1)
            lua_settop(L, -2)
            let methodsTable = LuaRef(state: state, L: L, index: methodsIdx)
            if let f = try? state.callPrelude("make_index", [.ref(methodsTable), .ref(getter)]).first {
                try? state.pushOne(f, L)
                setField("__index")
            }
        }

        // __newindex
        let newIndexer = self.newIndexer
        state.pushFunction(name: "\(cname).__newindex", L, offset: 1, kind: .method) { args in
            let o = try args.object(0, T.self)
            if case .string(let key) = args.value(1), let p = props[key] {
                guard let set = p.set else { throw LuaError("field '\(key)' of \(cname) is read-only") }
                try set(o, Arguments(L: args.L, state: args.state, function: "\(cname).\(key)", offset: 2, kind: .field(key)))
                return .none
            }
            if let newIndexer {
                try newIndexer(o, args)
                return .none
            }
            let k: String
            if case .string(let s) = args.value(1) { k = "'\(s)'" } else { k = "of type \(args.typeName(1))" }
            throw LuaError("cannot set field \(k) of \(cname)")
        }
        setField("__newindex")

        if let ts = tostringBody {
            state.pushFunction(name: "\(cname).__tostring", L) { args in
                guard let o = args.objectIfPresent(1, T.self) else { return .string(cname) }
                return .string(ts(o))
            }
            setField("__tostring")
        }
        for m in metamethods {
            state.pushFunction(name: "\(cname).\(m.name)", L, m.body)
            setField(m.name)
        }
        state.setDoc(doc, forTopOf: L)

        // registry[name] = metatable (as luaL_newmetatable does), and a ref
        lua_pushstring(L, cname); lua_pushvalue(L, mt); lua_rawset(L, LuaState.registry)
        lua_pushvalue(L, mt)
        let metatableRef = luaL_ref(L, LuaState.registry)
        lua_pushvalue(L, methodsIdx)
        let methodsRef = luaL_ref(L, LuaState.registry)

        let extra = extraBytesBody
        let info = ClassInfo(
            name: cname, metatableRef: metatableRef, methodsRef: methodsRef,
            extraBytes: { o in (o as? T).flatMap { o in extra.map { $0(o) } } ?? 0 })
        state.classesByType[ObjectIdentifier(T.self)] = info
        // classTags[metatable] = tag: what objectSlot checks
        lua_rawgeti(L, LuaState.registry, lua_Integer(state.classTagsRef))
        lua_pushvalue(L, mt)
        lua_pushlightuserdata(L, UnsafeMutableRawPointer(mutating: info.tag))
        lua_rawset(L, -3)
    }
}

/// `__gc` of every object userdata: releases the retained Swift object.
/// Does nothing for a value that is not such a userdata (`__gc` can be
/// called by hand: `getmetatable(t).__gc(io.stdout)`).
let objectGC: lua_CFunction = { L in
    guard let L, case .live(let p, let block) = CLuaObjects.slot(L, 1) else { return 0 }
    block.storeBytes(of: nil, toByteOffset: ObjectBlock.objectOffset, as: UnsafeMutableRawPointer?.self)
    Unmanaged<AnyObject>.fromOpaque(p).release()
    return 0
}
