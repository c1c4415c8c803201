import CLua
import Runtime
import Model

/// A Swift closure bound as a Lua function, kept alive by a userdata that
/// is the closure's upvalue 2 (released by its `__gc`).
final class Binding {
    let name: String
    let offset: Int32
    let kind: Arguments.Kind
    let body: LuaFunctionBody

    init(name: String, offset: Int32, kind: Arguments.Kind, body: @escaping LuaFunctionBody) {
        self.name = name; self.offset = offset; self.kind = kind; self.body = body
    }
}

/// The one adapter between Lua and every Swift binding. It never raises:
/// errors are pushed and reported with a negative return code, and the C
/// trampoline (shim.h) raises them after this frame has returned.
let bindingDispatch: lua_CFunction = { L in
    guard let L else { return 0 }
    guard let block = lua_touserdata(L, qvL_upvalueindex(2)),
          let p = block.load(as: UnsafeMutableRawPointer?.self) else {
        lua_pushstring(L, "attempt to call a released Swift function")
        return -1
    }
    let binding = Unmanaged<Binding>.fromOpaque(p).takeUnretainedValue()
    return LuaState.from(L).invoke(binding, L)
}

extension LuaState {
    func invoke(_ b: Binding, _ L: OpaquePointer) -> Int32 {
        let saved = currentL
        currentL = L
        defer { currentL = saved }
        do {
            let args = Arguments(L: L, state: self, function: b.name, offset: b.offset, kind: b.kind)
            let result = try b.body(args)
            return try push(result, L)
        } catch let e as LuaError {
            if let v = e.value {
                v.push(L)
                return -2
            }
            pushMessage(e.message, L)
        } catch let e as ArgumentError {
            pushMessage(e.message, L)
        } catch is Interrupt.Interrupted {
            pushMessage("interrupted", L)
        } catch let e as TensorError {
            pushMessage("\(b.name): \(e.message)", L)
        } catch let e as ModelError {
            pushMessage("\(b.name): \(luaText(e))", L)
        } catch {
            pushMessage("\(b.name): \(error)", L)
        }
        return -1
    }

    private func pushMessage(_ s: String, _ L: OpaquePointer) {
        if lua_checkstack(L, 2) == 0 { lua_settop(L, 0) }  // no to-be-closed slots in a C frame
        let n = s.utf8.count
        _ = s.withCString { lua_pushlstring(L, $0, n) }
    }
}
