import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The qvlua binary under test: $QVLUA_BIN, else the one built beside this
/// test bundle (`swift test` builds it), else .build/release/qvlua.
func qvluaBinary() -> String {
    if let p = ProcessInfo.processInfo.environment["QVLUA_BIN"], !p.isEmpty { return p }
    if let real = realpath("/proc/self/exe", nil) {
        let exe = String(cString: real)
        free(real)
        let dir = (exe as NSString).deletingLastPathComponent
        let candidate = dir + "/qvlua"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return FileManager.default.currentDirectoryPath + "/.build/release/qvlua"
}

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs qvlua with pipes (not a terminal) and waits for it.
func runQvlua(_ args: [String], stdin: String? = nil, env: [String: String] = [:], cwd: String? = nil,
              timeout: TimeInterval = 30) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: qvluaBinary())
    p.arguments = args
    var e = ProcessInfo.processInfo.environment
    e["QVLUA_HISTORY"] = ""
    for (k, v) in env { e[k] = v }
    p.environment = e
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(stdin.data(using: .utf8)!) }
    try inp.fileHandleForWriting.close()
    // read both pipes concurrently so neither fills up
    final class Box: @unchecked Sendable { var data = Data() }
    let outBox = Box(), errBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        p.terminate()
        throw NSError(domain: "qvlua", code: 1, userInfo: [NSLocalizedDescriptionKey: "timed out: \(args)"])
    }
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus,
                     stdout: String(decoding: outBox.data, as: UTF8.self),
                     stderr: String(decoding: errBox.data, as: UTF8.self))
}

/// qvlua running on a pseudo-terminal, driven like a user at a keyboard.
final class PTYSession {
    let pid: pid_t
    let fd: Int32
    private var raw = [UInt8]()
    /// Everything read so far, with escape sequences and CRs removed.
    private(set) var transcript = ""
    private var cursor: String.Index

    init(args: [String] = [], env: [String: String] = [:]) throws {
        let bin = qvluaBinary()
        var e = ProcessInfo.processInfo.environment
        e["TERM"] = "xterm"
        e["INPUTRC"] = "/dev/null"
        e.removeValue(forKey: "LUA_INIT")
        e.removeValue(forKey: "LUA_INIT_5_4")
        for (k, v) in env { e[k] = v }
        // Prepare C strings before fork: the child only calls execve.
        let argv: [UnsafeMutablePointer<CChar>?] = ([bin] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = e.map { strdup("\($0.key)=\($0.value)") } + [nil]
        var master: Int32 = -1
        var ws = winsize(ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        let pid = forkpty(&master, nil, nil, &ws)
        if pid == 0 {
            execve(bin, argv, envp)
            _exit(127)
        }
        for p in argv { free(p) }
        for p in envp { free(p) }
        guard pid > 0 else { throw NSError(domain: "qvlua", code: 2, userInfo: [NSLocalizedDescriptionKey: "forkpty failed"]) }
        self.pid = pid
        self.fd = master
        self.cursor = transcript.startIndex
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(fd)
    }

    func send(_ s: String) {
        let bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            off += n
        }
    }

    /// Reads for up to `timeout` seconds, until `until` (if given) returns true.
    @discardableResult
    private func pump(timeout: TimeInterval, until: (() -> Bool)? = nil) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            if let until, until() { return true }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 50)
            if r > 0 {
                let n = read(fd, &buf, buf.count)
                if n <= 0 { return until?() ?? false }
                raw += buf[0..<n]
                let offset = transcript.distance(from: transcript.startIndex, to: cursor)
                transcript = PTYSession.clean(String(decoding: raw, as: UTF8.self))
                cursor = transcript.index(transcript.startIndex, offsetBy: min(offset, transcript.count))
            }
        }
        return until?() ?? false
    }

    static func clean(_ s: String) -> String {
        var out = ""
        var it = s.unicodeScalars.makeIterator()
        while let c = it.next() {
            if c == "\u{1B}" {
                // CSI: ESC [ params final-byte; other escapes: ESC + one char
                guard let n = it.next() else { break }
                if n == "[" {
                    while let d = it.next(), !(d.value >= 0x40 && d.value <= 0x7E) {}
                }
                continue
            }
            if c == "\r" || c == "\u{07}" { continue }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// Waits until `needle` appears after the previous match; returns the
    /// text up to and including it.
    @discardableResult
    func expect(_ needle: String, timeout: TimeInterval = 10,
                file: StaticString = #filePath, line: UInt = #line) -> String {
        var found: Range<String.Index>?
        pump(timeout: timeout) {
            found = self.transcript[self.cursor...].range(of: needle)
            return found != nil
        }
        guard let r = found else {
            XCTFail("timed out waiting for \(needle.debugDescription); transcript:\n\(transcript)", file: file, line: line)
            return ""
        }
        let text = String(transcript[cursor..<r.upperBound])
        cursor = r.upperBound
        return text
    }

    /// Waits for the process to exit; returns its exit status, or nil on timeout.
    func waitExit(timeout: TimeInterval = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            pump(timeout: 0.05)
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return (status >> 8) & 0xFF }
        }
        return nil
    }
}
