import CLua
import CSupport
#if canImport(Glibc)
import Glibc
#endif

/// The evaluation half of the REPL, independent of the terminal: feed it
/// lines; it accumulates incomplete chunks (Lua's `<eof>` rule), evaluates
/// complete ones, auto-prints results and reports errors with tracebacks.
public final class ReplSession {
    public let state: LuaState
    /// Lines of the chunk being continued.
    public private(set) var pending: [String] = []
    /// Where errors go (default: standard error).
    public var printError: (String) -> Void = { msg in
        fflush(stdout)
        fputs(msg + "\n", stderr)
        fflush(stderr)
    }
    /// Chunk name used in messages ("stdin:1: ...").
    public var chunkName = "=stdin"
    /// When set, a chunk's auto-printed results (the text the REPL prints)
    /// are handed here instead of printed: a Jupyter cell's execute_result.
    public var resultHandler: ((String) -> Void)?

    public enum Outcome: Equatable {
        /// More lines are needed (the prompt becomes ">> ").
        case incomplete
        case ok
        case error(String)
    }

    public init(state: LuaState) { self.state = state }

    public var isContinuing: Bool { !pending.isEmpty }
    public var prompt: String { pending.isEmpty ? "> " : ">> " }

    /// Forgets a partly typed chunk (Ctrl-C at the prompt).
    public func reset() { pending.removeAll() }

    /// Feeds one line.
    @discardableResult
    public func feed(_ rawLine: String) -> Outcome {
        var line = rawLine
        if pending.isEmpty {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if let h = ReplSession.helpCall(line) { line = h }
            if trimmed.isEmpty { return .ok }
        }
        pending.append(line)
        let code = pending.joined(separator: "\n")
        let trimmedCode = code.trimmingSpaces()
        let silent = trimmedCode.hasSuffix(";")

        // 1. as an expression: "return <code>"
        let asExpression: LuaRef?
        var exprError: String?
        do { asExpression = try state.load("return " + code, name: chunkName) } catch {
            asExpression = nil
            exprError = (error as? LuaError)?.message
        }
        if let f = asExpression {
            pending.removeAll()
            return evaluate(f, silent: silent)
        }
        // 2. as statements, a leading `local` made global
        var statementError: String?
        let rewritten = (try? state.callPrelude("rewrite_local", [.string(code)]).first?.stringValue) ?? nil
        for candidate in [rewritten, code].compactMap({ $0 }) {
            do {
                let f = try state.load(candidate, name: chunkName)
                pending.removeAll()
                return evaluate(f, silent: silent)
            } catch {
                if statementError == nil || candidate == code { statementError = (error as? LuaError)?.message }
            }
        }
        // 3. incomplete?
        let msg = statementError ?? exprError ?? "syntax error"
        if msg.hasSuffix("<eof>") || (exprError?.hasSuffix("<eof>") ?? false) {
            return .incomplete
        }
        pending.removeAll()
        printError(msg)
        return .error(msg)
    }

    /// "?x" -> "help(\"x\")", "?expr" -> "help(expr)", "?" -> "help()"; nil
    /// for a line that does not start with "?".
    static func helpCall(_ line: String) -> String? {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        guard trimmed.hasPrefix("?") else { return nil }
        let what = trimmed.dropFirst().trimmingSpaces()
        let isName = what.first.map { $0.isLetter || $0 == "_" } == true
            && what.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == ":" }
        return what.isEmpty ? "help()" : isName ? "help(\"\(what)\")" : "help(\(what))"
    }

    /// Runs a whole chunk at once (a notebook cell), with the REPL's rules
    /// extended to many lines: the value of a final expression is shown
    /// (`return <last lines>`), a trailing ';' silences it, `?x` on a
    /// one-line cell is help, and a `local` at the start of a line (column
    /// 0) declares a global so that values survive between cells. A chunk
    /// that is incomplete is a syntax error.
    @discardableResult
    public func runCell(_ cell: String) -> Outcome {
        pending.removeAll()
        var code = cell
        if !code.contains("\n"), let h = ReplSession.helpCall(code) { code = h }
        let trimmed = code.trimmingSpaces()
        if trimmed.isEmpty { return .ok }
        let silent = trimmed.hasSuffix(";")
        // top-level locals become globals, line by line (unless that breaks the chunk)
        let lines = code.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let rewritten = lines.map { line -> String in
            guard line.hasPrefix("local") else { return line }
            return (try? state.callPrelude("rewrite_local", [.string(line)]).first?.stringValue) ?? line
        }
        if rewritten != lines, let f = compileCell(rewritten) { return evaluate(f, silent: silent) }
        if let f = compileCell(lines) { return evaluate(f, silent: silent) }
        do {
            _ = try state.load(code, name: chunkName)
            return .ok  // not reached: compileCell would have loaded it
        } catch let e as LuaError {
            printError(e.message)
            return .error(e.message)
        } catch {
            printError("\(error)")
            return .error("\(error)")
        }
    }

    /// A cell's chunk: the whole as an expression, else statements with a
    /// final expression of the last line(s) returned, else statements.
    private func compileCell(_ lines: [String]) -> LuaRef? {
        let code = lines.joined(separator: "\n")
        if let f = try? state.load("return " + code, name: chunkName) { return f }
        var i = lines.count - 1
        while i > 0 {
            let tail = lines[i...].joined(separator: "\n")
            if !tail.trimmingSpaces().isEmpty, (try? state.load("return " + tail, name: chunkName)) != nil,
               let f = try? state.load(lines[..<i].joined(separator: "\n") + "\nreturn " + tail, name: chunkName) {
                return f
            }
            i -= 1
        }
        return try? state.load(code, name: chunkName)
    }

    /// The text `help(name)` prints, for a name such as "qv.seed" or "t:sum"
    /// (nil when the name does not resolve).
    public func helpText(_ name: String) -> String? {
        let what = String(name.map { $0 == ":" ? "." : $0 })
        guard let r = try? state.callPrelude("help_text", [.string(what)]).first?.stringValue else { return nil }
        if r.hasPrefix("no such name") { return nil }
        return r
    }

    /// Runs a compiled chunk; prints its results unless silent.
    func evaluate(_ f: LuaRef, silent: Bool) -> Outcome {
        let L = state.L
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        // A pending Ctrl-C is not cleared here: one typed just after Enter
        // is meant for this chunk. (The prompt clears the flag while waiting.)
        f.push(L)
        if qvL_pcall(L, 0, LUA_MULTRET) != LUA_OK {
            return report(state.errorFromTop(L))
        }
        let n = lua_gettop(L) - top
        guard lua_checkstack(L, 4) != 0 else { return .ok }
        lua_rawgeti(L, LuaState.registry, lua_Integer(state.preludeRef))
        lua_pushstring(L, resultHandler == nil ? "show" : "show_text")
        lua_rawget(L, -2)
        qvL_remove(L, -2)
        qvL_insert(L, top + 1)
        lua_pushboolean(L, silent ? 1 : 0)
        qvL_insert(L, top + 2)
        lua_pushinteger(L, lua_Integer(n))
        qvL_insert(L, top + 3)
        if qvL_pcall(L, n + 2, 1) != LUA_OK {
            return report(state.errorFromTop(L))
        }
        if let handler = resultHandler, lua_type(L, -1) == LUA_TSTRING {
            var len = 0
            if let p = lua_tolstring(L, -1, &len) {
                let text = String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
                handler(text)
            }
        }
        return .ok
    }

    func report(_ e: LuaError) -> Outcome {
        let text = ReplSession.format(e)
        printError(text)
        return .error(e.message)
    }

    /// Message and traceback, without the frames of the REPL machinery.
    public static func format(_ e: LuaError) -> String {
        guard let tb = e.traceback else { return e.message }
        var lines = tb.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while let last = lines.last, last.trimmingSpaces() == "[C]: in ?" || last.contains("qv.prelude") {
            lines.removeLast()
        }
        if lines.count <= 1 { return e.message }
        return e.message + "\n" + lines.joined(separator: "\n")
    }

    /// Completion candidates for the word before the cursor.
    public func complete(_ text: String) -> [String] {
        guard let r = try? state.callPrelude("complete", [.string(text)]).first, case .ref(let t) = r else { return [] }
        return t.arrayValues().compactMap(\.stringValue)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let a = firstIndex(where: { !isSpace($0) }), let b = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[a...b])
    }
}
