import CLua
import CSupport
import Runtime

/// The body of a Lua function written in Swift. Throw to raise a Lua error.
public typealias LuaFunctionBody = (Arguments) throws -> LuaValue

/// One Lua interpreter and the Swift state that goes with it.
///
/// Everything that touches it must run on the thread that created it.
/// Swift code never raises Lua errors: every call that may raise runs in a
/// C frame (see `Sources/CLua/shim.h`), and every call into Lua goes
/// through a protected call.
public final class LuaState {
    /// The main Lua thread.
    public let L: OpaquePointer
    /// The thread that is running the current binding (a coroutine's, when
    /// a binding is called from one). Callbacks and pushes use it.
    public internal(set) var currentL: OpaquePointer
    let extra: UnsafeMutablePointer<qvL_Extra>
    public private(set) var isClosed = false
    /// Cleared in deinit; what `LuaRef` holds instead of a weak reference.
    let handle = StateHandle()

    var classesByType: [ObjectIdentifier: ClassInfo] = [:]
    var docsRef: Int32 = 0
    var objectsRef: Int32 = 0
    var bindingMetaRef: Int32 = 0
    /// metatable of each registered class -> its tag (light userdata);
    /// also at registry[CLuaObjects.classTagsKey]
    var classTagsRef: Int32 = 0
    var preludeRef: Int32 = 0

    /// Bytes reported by `reportAllocation` since the collector last stepped.
    var pendingBytes = 0
    /// The collector is stepped each time this many unseen bytes accumulate.
    public var gcStepThreshold = 256 * 1024
    /// Total bytes reported (statistics, tests).
    public private(set) var reportedBytes = 0

    static let registry = qvL_registryindex()

    /// Creates a state with the standard Lua libraries, the docstring table,
    /// and the Lua prelude (`help`, `qv.repr`, completion).
    /// `ignoreEnvironment` (qvlua -E): the package library ignores
    /// LUA_PATH and LUA_CPATH.
    public init(openLibraries: Bool = true, ignoreEnvironment: Bool = false) {
        extra = .allocate(capacity: 1)
        extra.initialize(to: qvL_Extra(in_swift: 1, take_interrupt: nil, owner: nil))
        guard let L = qvL_newstate(extra) else { fatalError("qvlua: cannot create a Lua state") }
        self.L = L
        self.currentL = L
        extra.pointee.owner = Unmanaged.passUnretained(self).toOpaque()
        handle.state = self
        extra.pointee.take_interrupt = { qv_take_interrupt() }
        if ignoreEnvironment {
            lua_pushboolean(L, 1)
            lua_setfield(L, LuaState.registry, "LUA_NOENV")
        }
        if openLibraries { luaL_openlibs(L) }
        setUpRegistry()
        loadPrelude()
    }

    deinit {
        close()
        handle.state = nil
    }

    /// Closes the state: every userdata is finalized (its Swift object
    /// released). Further use is an error.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        lua_close(L)
        extra.deinitialize(count: 1)
        extra.deallocate()
    }

    /// The LuaState that owns a lua_State (any of its threads).
    public static func from(_ L: OpaquePointer) -> LuaState {
        let x = qvL_extra(L)!
        return Unmanaged<LuaState>.fromOpaque(x.pointee.owner!).takeUnretainedValue()
    }

    // MARK: registry

    private func newRef(_ L: OpaquePointer) -> Int32 { luaL_ref(L, LuaState.registry) }

    private func setUpRegistry() {
        // docstrings: weak keys (functions, tables) -> string
        lua_createtable(L, 0, 64)
        lua_createtable(L, 0, 1)
        lua_pushstring(L, "__mode"); lua_pushstring(L, "k"); lua_rawset(L, -3)
        lua_setmetatable(L, -2)
        docsRef = newRef(L)
        // userdata cache: light userdata (object address) -> userdata, weak values
        lua_createtable(L, 0, 0)
        lua_createtable(L, 0, 1)
        lua_pushstring(L, "__mode"); lua_pushstring(L, "v"); lua_rawset(L, -3)
        lua_setmetatable(L, -2)
        objectsRef = newRef(L)
        // metatable of the userdata that keeps a Swift closure alive
        lua_createtable(L, 0, 2)
        lua_pushstring(L, "__gc"); qvL_pushcfunction(L, bindingGC); lua_rawset(L, -3)
        lua_pushstring(L, "__name"); lua_pushstring(L, "qv.binding"); lua_rawset(L, -3)
        bindingMetaRef = newRef(L)
        lua_pushstring(L, CLuaObjects.bindingMetaKey)
        lua_rawgeti(L, LuaState.registry, lua_Integer(bindingMetaRef))
        lua_rawset(L, LuaState.registry)
        lua_createtable(L, 0, 32)
        lua_pushstring(L, CLuaObjects.classTagsKey)
        lua_pushvalue(L, -2)
        lua_rawset(L, LuaState.registry)
        classTagsRef = newRef(L)
    }

    private func loadPrelude() {
        do {
            let results = try run(Prelude.source, name: "=qv.prelude",
                                  args: [.ref(LuaRef(state: self, L: L, registryRef: docsRef, owned: false))])
            guard case .ref(let r)? = results.first else { fatalError("qvlua: prelude returned no table") }
            r.push(L)
            preludeRef = newRef(L)
        } catch {
            fatalError("qvlua: prelude failed: \(error)")
        }
    }

    /// Calls a function of the prelude's internal table.
    func callPrelude(_ name: String, _ args: [LuaValue]) throws -> [LuaValue] {
        let L = currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, LuaState.registry, lua_Integer(preludeRef))
        lua_pushstring(L, name)
        lua_rawget(L, -2)
        let fn = LuaRef(state: self, L: L, index: -1)
        return try fn.call(args)
    }

    // MARK: running Lua code

    /// Compiles a chunk; the result is a function (a `LuaRef`).
    /// `name` follows Lua's chunkname convention ("=stdin", "@file.lua").
    public func load(_ code: String, name: String = "=(load)") throws -> LuaRef {
        let L = currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let n = code.utf8.count
        let status = code.withCString { p in qvL_loadbuffer(L, p, n, name) }
        if status != LUA_OK {
            throw LuaError(message: string(at: -1, L) ?? "syntax error", traceback: nil, value: nil)
        }
        return LuaRef(state: self, L: L, index: -1)
    }

    /// Compiles a file (`-` or nil: standard input).
    public func loadFile(_ path: String?) throws -> LuaRef {
        let L = currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let status = path.map { qvL_loadfile(L, $0) } ?? qvL_loadfile(L, nil)
        if status != LUA_OK {
            throw LuaError(message: string(at: -1, L) ?? "cannot load \(path ?? "stdin")", traceback: nil, value: nil)
        }
        return LuaRef(state: self, L: L, index: -1)
    }

    /// Compiles and runs a chunk under a protected call; returns its results.
    @discardableResult
    public func run(_ code: String, name: String = "=(swift)", args: [LuaValue] = []) throws -> [LuaValue] {
        try load(code, name: name).call(args)
    }

    /// Compiles and runs a file.
    @discardableResult
    public func runFile(_ path: String?, args: [LuaValue] = []) throws -> [LuaValue] {
        try loadFile(path).call(args)
    }

    /// Turns Ctrl-C into the Lua error "interrupted": the SIGINT flag
    /// (CSupport) is checked every `instructions` VM instructions, and
    /// after every Swift binding returns (a loop of long BLAS calls runs
    /// few instructions between them).
    public func enableInterrupts(every instructions: Int32 = 1000) {
        qvL_set_interrupt_hook(L, instructions)
        interruptsEnabled = true
    }

    /// Whether `enableInterrupts` was called.
    public internal(set) var interruptsEnabled = false

    // MARK: globals

    /// Turns Lua warnings (`warn("...")`) on.
    public func enableWarnings() { qvL_warning_on(L) }

    /// Sets the global `arg` table (as the standalone interpreter does).
    public func setArgTable(_ entries: [Int: String]) throws {
        let L = currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        qvL_pushglobaltable(L)
        lua_pushstring(L, "arg")
        lua_createtable(L, Int32(entries.keys.filter { $0 > 0 }.count), Int32(entries.keys.filter { $0 <= 0 }.count))
        for (k, v) in entries {
            try push(.string(v), L)
            lua_rawseti(L, -2, lua_Integer(k))
        }
        lua_rawset(L, -3)
    }

    /// Sets a global without invoking metamethods of `_G`.
    public func setGlobal(_ name: String, _ value: LuaValue) throws {
        let L = currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        qvL_pushglobaltable(L)
        lua_pushstring(L, name)
        try push(value, L)
        lua_rawset(L, -3)
    }

    /// Reads a global without invoking metamethods of `_G`.
    public func global(_ name: String) -> LuaValue {
        let L = currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        qvL_pushglobaltable(L)
        lua_pushstring(L, name)
        lua_rawget(L, -2)
        return value(at: -1, L)
    }

    // MARK: garbage collection

    /// Tells the collector that `bytes` of memory it cannot see (Swift
    /// storage owned by a userdata) were allocated, and steps it in
    /// proportion, so loops that drop big objects run in bounded memory.
    public func reportAllocation(_ bytes: Int) {
        guard bytes > 0 else { return }
        reportedBytes &+= bytes
        pendingBytes += bytes
        if pendingBytes >= gcStepThreshold {
            let kb = pendingBytes / 1024
            pendingBytes -= kb * 1024
            let L = currentL
            if qvL_gc_isrunning(L) != 0 {
                _ = qvL_gc_step(L, Int32(clamping: kb))
            }
        }
    }

    /// Runs a full collection.
    public func collectGarbage() { _ = qvL_gc_collect(currentL) }

    /// Bytes in use by Lua's own allocator.
    public var luaMemoryBytes: Int {
        Int(qvL_gc_count_kb(currentL)) * 1024 + Int(qvL_gc_count_b(currentL))
    }

    // MARK: docstrings

    /// Attaches a docstring to the value on top of the stack (left there).
    func setDoc(_ doc: String, forTopOf L: OpaquePointer) {
        guard !doc.isEmpty else { return }
        lua_rawgeti(L, LuaState.registry, lua_Integer(docsRef))
        lua_pushvalue(L, -2)
        lua_pushstring(L, doc)
        lua_rawset(L, -3)
        lua_settop(L, -2)
    }

    /// The docstring of a value, if any.
    public func doc(of value: LuaValue) -> String? {
        let L = currentL
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        guard (try? push(value, L)) != nil else { return nil }
        lua_rawgeti(L, LuaState.registry, lua_Integer(docsRef))
        lua_pushvalue(L, -2)
        lua_rawget(L, -2)
        return string(at: -1, L)
    }

    // MARK: modules and classes

    /// The module table `name` ("qv", "qv.nn"), created on first use: a
    /// global (for a dotted name, a field of its parent module), also
    /// registered in `package.loaded` so `require(name)` returns it.
    public func module(_ name: String, doc: String = "") -> LuaModule {
        LuaModule(state: self, name: name, doc: doc)
    }

    /// Registers a class: its metatable is created and Swift objects of
    /// type T can be pushed (`.object(x)`) and checked (`args.object`).
    @discardableResult
    public func register<T: AnyObject>(_ cls: LuaClass<T>) -> LuaClass<T> {
        cls.install(in: self)
        return cls
    }

    /// The Lua type name of a Swift type: the registered class name, or the
    /// Swift type's name.
    public func luaTypeName(of type: Any.Type) -> String {
        classesByType[ObjectIdentifier(type)]?.name ?? String(describing: type)
    }

    func classInfo(for object: AnyObject) -> ClassInfo? {
        var t: AnyClass? = Swift.type(of: object)
        while let c = t {
            if let info = classesByType[ObjectIdentifier(c)] { return info }
            t = _getSuperclass(c)
        }
        return nil
    }
}

/// Releases the Swift closure held by a binding userdata.
let bindingGC: lua_CFunction = { L in
    guard let L, CLuaObjects.isBinding(L, 1), let block = lua_touserdata(L, 1) else { return 0 }
    let slot = block.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    if let p = slot.pointee {
        slot.pointee = nil
        Unmanaged<Binding>.fromOpaque(p).release()
    }
    return 0
}
