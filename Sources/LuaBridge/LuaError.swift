/// An error on the Lua side of the bridge.
///
/// Thrown by bindings (`throw LuaError("...")` becomes a Lua error with the
/// caller's position, "script.lua:3: ..."), and by every call from Swift into
/// Lua that failed (`LuaState.run`, `LuaRef.call`): then `traceback` holds the
/// Lua stack at the point of failure and `value` the original error value,
/// which a binding that lets the error propagate re-raises unchanged.
public struct LuaError: Error, CustomStringConvertible {
    public var message: String
    /// "stack traceback:\n\t..." for errors caught by a protected call.
    public var traceback: String?
    /// The original Lua error value (which need not be a string).
    public var value: LuaRef?

    public init(_ message: String) { self.message = message }
    init(message: String, traceback: String?, value: LuaRef?) {
        self.message = message; self.traceback = traceback; self.value = value
    }

    public var description: String { message }
    /// The message followed by the traceback, as the REPL prints it.
    public var messageWithTraceback: String {
        guard let tb = traceback, !tb.isEmpty else { return message }
        return message + "\n" + tb
    }
    /// Whether this is a Ctrl-C interruption.
    public var isInterrupt: Bool { message == "interrupted" || message.hasSuffix(": interrupted") }
}

/// A wrong argument: formatted as Lua's own "bad argument #2 to 'qv.f' (...)".
public struct ArgumentError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
