import CSupport
import LuaBridge
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// `qvlua --kernel-backend`: the engine half of the Jupyter kernel
/// (jupyter/qvlua_kernel.py is the ZeroMQ half, built on ipykernel).
///
/// Requests arrive on standard input, one JSON object a line:
///
///     {"op": "execute", "code": "...", "n": 3}
///     {"op": "complete", "text": "qv.se"}        the word before the cursor
///     {"op": "inspect", "name": "qv.seed"}
///
/// Replies and display data go to file descriptor $QVLUA_KERNEL_FD (default
/// 3), one JSON header a line,
/// some followed by raw payload bytes:
///
///     {"type": "ready", "version": "..."}                         once, at start
///     {"type": "result", "text": "...", "html": "..."}            a cell's value ("html" optional)
///     {"type": "display", "parts": [{"mime": "image/png", "bytes": N}, ...]}  then the N bytes of each part
///     {"type": "done", "status": "ok", ...}                       ends every request
///     {"type": "done", "status": "error", "ename": "...", "evalue": "...", "traceback": [...]}
///
/// What the cell prints goes to standard output and standard error as
/// usual (line-buffered, so training progress streams). Both are flushed
/// before anything is written to the reply pipe, so a reader that drains
/// them before each reply sees everything in order. SIGINT (the notebook's stop
/// button) sets the interrupt flag, exactly as Ctrl-C in the REPL does.
final class KernelBackend {
    let session: ReplSession
    var state: LuaState { session.state }
    let out: UnsafeMutablePointer<FILE>
    var lastError: String?

    init?(state: LuaState) {
        let fd = getenv("QVLUA_KERNEL_FD").flatMap { Int32(String(cString: $0)) } ?? 3
        guard fcntl(fd, F_GETFD) != -1, let f = fdopen(fd, "w") else { return nil }
        out = f
        session = ReplSession(state: state)
        session.printError = { [unowned self] msg in self.lastError = msg }
    }

    /// Writes one header line (and payloads) to fd 3, after flushing the
    /// streams the cell prints to.
    func send(_ header: JSON, payloads: [[UInt8]] = []) {
        fflush(stdout)
        fflush(stderr)
        let text = ((try? header.text()) ?? #"{"type":"error"}"#) + "\n"
        fputs(text, out)
        for p in payloads where !p.isEmpty { p.withUnsafeBufferPointer { _ = fwrite($0.baseAddress, 1, p.count, out) } }
        fflush(out)
    }

    func run() -> Int32 {
        setvbuf(stdout, nil, _IOLBF, 0)
        setvbuf(stderr, nil, _IONBF, 0)
        installLuaHelpers()
        send(.object([("type", .string("ready")), ("version", .string(versionLine))]))
        // Requests are read from a duplicate of standard input, which
        // becomes /dev/null: a cell's io.read() sees end of file instead of
        // eating the next request.
        let requestFd = dup(0)
        let devnull = open("/dev/null", O_RDONLY)
        if devnull >= 0 { dup2(devnull, 0); close(devnull) }
        guard requestFd >= 0, let requests = fdopen(requestFd, "r") else { return 1 }
        var buf: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(buf) }
        while true {
            errno = 0
            let n = getline(&buf, &cap, requests)
            if n < 0 {
                if errno == EINTR { clearerr(requests); continue }
                break
            }
            let line = String(cString: buf!)
            guard let request = try? JSON.parse(line) else {
                send(doneError("ProtocolError", "not a JSON request: \(line.prefix(80))", []))
                continue
            }
            handle(request)
        }
        return 0
    }

    func handle(_ request: JSON) {
        guard case .string(let op)? = request["op"] else {
            send(doneError("ProtocolError", "request without \"op\"", []))
            return
        }
        switch op {
        case "execute":
            guard case .string(let code)? = request["code"] else { return send(doneError("ProtocolError", "execute needs \"code\"", [])) }
            var number = 0
            if case .int(let k)? = request["n"] { number = k }
            execute(code, number: number)
        case "complete":
            guard case .string(let text)? = request["text"] else { return send(doneError("ProtocolError", "complete needs \"text\"", [])) }
            let matches = session.complete(text)
            send(.object([("type", .string("done")), ("status", .string("ok")),
                          ("matches", .array(matches.map { .string($0) }))]))
        case "inspect":
            guard case .string(let name)? = request["name"] else { return send(doneError("ProtocolError", "inspect needs \"name\"", [])) }
            var members: [(String, JSON)] = [("type", .string("done")), ("status", .string("ok"))]
            if let text = session.helpText(name) {
                members += [("found", .bool(true)), ("text", .string(text))]
            } else {
                members.append(("found", .bool(false)))
            }
            send(.object(members))
        default:
            send(doneError("ProtocolError", "unknown op \"\(op)\"", []))
        }
    }

    func execute(_ code: String, number: Int) {
        // A stop pressed while idle is not meant for this cell.
        _ = qv_take_interrupt()
        lastError = nil
        session.chunkName = number > 0 ? "=cell[\(number)]" : "=cell"
        session.resultHandler = { [unowned self] text in
            var members: [(String, JSON)] = [("type", .string("result")), ("text", .string(text))]
            if !text.contains("\t"), let html = try? self.state.run("return qv.kernel.html(_)", name: "=(kernel)").first?.stringValue {
                members.append(("html", .string(html)))
            }
            self.send(.object(members))
        }
        let outcome = session.runCell(code)
        _ = qv_take_interrupt()
        switch outcome {
        case .ok, .incomplete:
            send(.object([("type", .string("done")), ("status", .string("ok"))]))
        case .error(let message):
            let full = lastError ?? message
            let lines = full.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let interrupted = message == "interrupted" || message.hasSuffix(": interrupted")
            send(doneError(interrupted ? "Interrupted" : "LuaError", message, lines))
        }
    }

    func doneError(_ ename: String, _ evalue: String, _ traceback: [String]) -> JSON {
        .object([("type", .string("done")), ("status", .string("error")), ("ename", .string(ename)),
                 ("evalue", .string(evalue)), ("traceback", .array(traceback.map { .string($0) }))])
    }

    /// `qv.kernel.send_display(mime, data, ...)` and the Lua half:
    /// `display`, `qv.kernel.html`.
    func installLuaHelpers() {
        let kernel = state.module("qv").submodule("kernel", doc: "qv.kernel — the Jupyter kernel's display helpers (only under `qvlua --kernel-backend`).")
        _ = kernel.fn("send_display", doc: """
            qv.kernel.send_display(mime, data [, mime2, data2 ...])
            Sends one display_data message to the notebook with the given MIME types (image/png data are raw bytes).
            """) { [unowned self] a in
            guard a.count >= 2, a.count % 2 == 0 else { throw a.error("expected mime, data pairs") }
            var parts: [JSON] = []
            var payloads: [[UInt8]] = []
            for i in stride(from: 1, to: a.count, by: 2) {
                let mime = try a.string(i, "mime")
                let data = try a.bytes(i + 1, "data")
                parts.append(.object([("mime", .string(mime)), ("bytes", .int(data.count))]))
                payloads.append(data)
            }
            self.send(.object([("type", .string("display")), ("parts", .array(parts))]), payloads: payloads)
            return .none
        }
        do {
            try state.run(KernelBackend.luaHelpers, name: "=qv.kernel")
        } catch {
            fputs("qvlua: kernel helpers: \(error)\n", stderr)
        }
    }

    static let luaHelpers = #"""
    local kernel = qv.kernel
    local concat, sort = table.concat, table.sort

    local function esc(s)
      return (tostring(s):gsub("[&<>\"]", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;"}))
    end
    local function cell(v)
      if math.type(v) == "float" then return ("%.5g"):format(v) end
      if type(v) == "table" or type(v) == "userdata" then return esc(qv.repr(v, {depth = 1, width = 40})) end
      return esc(tostring(v))
    end
    local function is_array(t)
      local n = #t
      if n == 0 then return false end
      for k in pairs(t) do
        if math.type(k) ~= "integer" or k < 1 or k > n then return false end
      end
      return true
    end

    --- HTML for a value that reads better as a table: a 1-D or 2-D tensor
    --- of at most 50x20 values, a list of records (log rows), or a list of
    --- numbers; nil for anything else.
    function kernel.html(x)
      local rows, header = {}, nil
      local mt = getmetatable(x)
      if type(x) == "userdata" and type(mt) == "table" and mt.__name == "qv.Tensor" then
        local d = x:dim()
        if d < 1 or d > 2 or x:size(1) > 50 or (d == 2 and x:size(2) > 20) then return nil end
        local t = x:totable()
        if d == 1 then t = {t} end
        header = {""}
        for j = 1, #t[1] do header[#header + 1] = tostring(j) end
        for i, r in ipairs(t) do
          local row = {tostring(i)}
          for _, v in ipairs(r) do row[#row + 1] = ("%.4g"):format(v) end
          rows[#rows + 1] = row
        end
      elseif type(x) == "table" and is_array(x) and #x <= 200 then
        if type(x[1]) == "table" and not getmetatable(x[1]) then
          local keys, seen = {}, {}
          for _, r in ipairs(x) do
            if type(r) ~= "table" then return nil end
            for k in pairs(r) do
              if type(k) == "string" and not seen[k] then seen[k] = true; keys[#keys + 1] = k end
            end
          end
          if #keys == 0 or #keys > 30 then return nil end
          sort(keys)
          header = {""}
          for _, k in ipairs(keys) do header[#header + 1] = k end
          for i, r in ipairs(x) do
            local row = {tostring(i)}
            for _, k in ipairs(keys) do row[#row + 1] = r[k] == nil and "" or cell(r[k]) end
            rows[#rows + 1] = row
          end
        else
          return nil
        end
      else
        return nil
      end
      local out = {"<table><thead><tr>"}
      for _, h in ipairs(header) do out[#out + 1] = "<th>" .. esc(h) .. "</th>" end
      out[#out + 1] = "</tr></thead><tbody>"
      for _, r in ipairs(rows) do
        out[#out + 1] = "<tr>"
        for j, v in ipairs(r) do out[#out + 1] = (j == 1 and "<th>" or "<td>") .. v .. (j == 1 and "</th>" or "</td>") end
        out[#out + 1] = "</tr>"
      end
      out[#out + 1] = "</tbody></table>"
      return concat(out)
    end

    local PNG = "\137PNG\r\n\26\n"

    --- display(x): shows x in the notebook. A PNG file's path (what
    --- qv.image.grid, qv.plot.lines and run results write) or PNG bytes
    --- become an image; tensors and lists of records a table; anything
    --- else its pretty-printed text. Returns nothing.
    function display(x)
      if type(x) == "string" then
        local data = x
        if x:sub(1, 8) ~= PNG then
          local f = io.open(x, "rb")
          if not f then error("display: no such file: " .. x, 2) end
          data = f:read("a")
          f:close()
          if data:sub(1, 8) ~= PNG then error("display: " .. x .. " is not a PNG file", 2) end
        end
        kernel.send_display("image/png", data)
        return
      end
      local text = qv.repr(x)
      local html = kernel.html(x)
      if html then kernel.send_display("text/plain", text, "text/html", html)
      else kernel.send_display("text/plain", text) end
    end
    qv.doc(display, [[
    display(x)
    Shows x in the notebook (Jupyter kernel only): a PNG file's path or PNG bytes as an image
    (display(qv.image.grid(...)) or display(results.paths.samples)), a tensor or a list of
    records as an HTML table, anything else as its pretty-printed text.]])
    qv.doc(kernel.html, [[
    qv.kernel.html(x) -> string | nil
    An HTML table for a small 1-D/2-D tensor or a list of records (such as training log rows); nil otherwise.]])
    """#
}
