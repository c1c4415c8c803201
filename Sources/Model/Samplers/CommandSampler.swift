#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime

/// A sampler that is another program: the problem goes to the program's
/// standard input as one JSON object, samples come back on its standard
/// output as text. Any language works (a Python script calling dimod or a
/// hardware client, a shell script, a compiled binary).
///
/// **Input** (one JSON object, then end of file), in dimod's binary
/// quadratic model vocabulary, variables numbered 0..N−1 (the graph's
/// node indices):
///
///     {"format": "qvlua-problem-1", "vartype": "SPIN", "num_variables": 4,
///      "num_reads": 100, "linear": [h0, h1, h2, h3],
///      "quadratic": [[0, 2, J02], [1, 3, J13]], "offset": 0.25, "params": {}}
///
/// The target distribution is p(x) ∝ exp(−E(x)), E(x) = Σ linear_l x_l +
/// Σ quadratic_uv x_u x_v + offset, with x ∈ {−1, +1} for `"SPIN"` (the
/// machine's Ising form, `BoltzmannMachine.toIsing()`: E equals the
/// machine's H) or x ∈ {0, 1} for `"BINARY"` (the machine itself: linear =
/// bias, quadratic = weights, offset 0). `params` carries the user's extra
/// settings unchanged.
///
/// **Output**: exactly `num_reads` lines, one sample per line, N values
/// separated by spaces, tabs or commas (brackets are ignored, so a printed
/// Python list works): ±1 for SPIN, 0/1 for BINARY. Empty lines and lines
/// starting with `#` are skipped.
///
/// A non-zero exit status, output that does not parse, or running past
/// `timeout` seconds (the program and its process group are killed) is an
/// error naming the command, with the end of its standard error. Ctrl-C
/// kills the program too. Stats: "seconds" (wall time), "reads".
public struct CommandSampler: Sampler {
    public enum Problem: String, Sendable { case ising, qubo }

    /// The program and its arguments; `arguments[0]` is looked up in PATH.
    public var arguments: [String]
    /// Seconds before the program is killed.
    public var timeout: Double
    public var problem: Problem
    /// Extra settings passed through as the input's "params" object.
    public var params: [String: JSON]

    public init(arguments: [String], timeout: Double = 60, problem: Problem = .ising,
                params: [String: JSON] = [:]) {
        self.arguments = arguments; self.timeout = timeout; self.problem = problem
        self.params = params
    }

    /// The command as one readable string (for messages).
    public var commandLine: String {
        arguments.map { a in a.contains(" ") || a.isEmpty ? "'\(a)'" : a }.joined(separator: " ")
    }

    /// The JSON text written to the program's standard input.
    public func problemText(_ bm: BoltzmannMachine, count: Int) throws -> String {
        let linear: [Float], quadratic: [Float], offset: Double
        switch problem {
        case .ising:
            let m = bm.toIsing()
            linear = m.h; quadratic = m.J; offset = m.offset
        case .qubo:
            linear = bm.bias; quadratic = bm.weights; offset = 0
        }
        let doc = JSON.object([
            ("format", .string("qvlua-problem-1")), ("vartype", .string(problem == .ising ? "SPIN" : "BINARY")),
            ("num_variables", .int(bm.units)), ("num_reads", .int(count)),
            ("linear", .array(linear.map { .number(Double($0)) })),
            ("quadratic", .array(zip(bm.graph.edges, quadratic).map { e, q in .array([.int(e.u), .int(e.v), .number(Double(q))]) })),
            ("offset", .number(offset)),
            ("params", .object(params.keys.sorted().map { ($0, params[$0]!) })),
        ])
        do { return try doc.text(spaced: true) + "\n" } catch {
            throw ModelError("command sampler: cannot send the problem: \(error) (a non-finite parameter?)")
        }
    }

    /// Parses the program's output into count × units values in {0, 1}.
    public func parseSamples(_ text: String, units: Int, count: Int) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(units * count)
        var rows = 0, lineNo = 0
        let who = "command sampler (\(commandLine))"
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.first == "#" || line == "\r" { continue }
            let fields = line.split(whereSeparator: { " \t\r,[]".contains($0) })
            if fields.isEmpty { continue }
            rows += 1
            guard rows <= count else {
                throw ModelError("\(who): more than the \(count) samples asked for (line \(lineNo))")
            }
            guard fields.count == units else {
                throw ModelError("\(who): output line \(lineNo) has \(fields.count) values, expected \(units)")
            }
            for f in fields {
                guard let v = Double(f) else {
                    throw ModelError("\(who): output line \(lineNo): '\(f)' is not a number")
                }
                switch problem {
                case .ising:
                    guard v == 1 || v == -1 else {
                        throw ModelError("\(who): output line \(lineNo): spin values must be -1 or +1, got '\(f)'")
                    }
                    out.append(v > 0 ? 1 : 0)
                case .qubo:
                    guard v == 1 || v == 0 else {
                        throw ModelError("\(who): output line \(lineNo): binary values must be 0 or 1, got '\(f)'")
                    }
                    out.append(Float(v))
                }
            }
        }
        guard rows == count else {
            throw ModelError("\(who): expected \(count) samples, the output has \(rows)")
        }
        return out
    }

    public func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try checkCount(count, "command sampler")
        try validate()
        let input = Array(try problemText(bm, count: count).utf8)
        var ts0 = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts0)
        let r = try Subprocess.run(arguments, input: input, timeout: timeout)
        var ts1 = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts1)
        let seconds = Double(ts1.tv_sec - ts0.tv_sec) + Double(ts1.tv_nsec - ts0.tv_nsec) * 1e-9
        let who = "command sampler (\(commandLine))"
        if r.timedOut {
            throw ModelError("\(who): timed out after \(timeout) s (killed)\(r.stderrTail)")
        }
        if let sig = r.signal {
            throw ModelError("\(who): killed by signal \(sig)\(r.stderrTail)")
        }
        if r.status != 0 {
            throw ModelError("\(who): exited with status \(r.status)\(r.stderrTail)")
        }
        let z = try parseSamples(String(decoding: r.stdout, as: UTF8.self), units: bm.units, count: count)
        return SampleSet(units: bm.units, samples: z, energies: try bm.energies(z, batch: count),
                         stats: ["seconds": seconds, "reads": Double(count)])
    }
}

/// Runs a program with input on its standard input, collecting standard
/// output and error, with a deadline; never blocks past it. The program
/// runs in its own process group, which is killed (SIGKILL) on timeout or
/// Ctrl-C (then `Interrupt.Interrupted` is thrown).
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        /// The signal that ended the program, if one did.
        public var signal: Int32?
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public var timedOut: Bool

        /// ": <last lines of standard error>" or "".
        public var stderrTail: String {
            let s = String(decoding: stderr.suffix(2000), as: UTF8.self)
                .qvTrimmed(" \n\r\t")
            return s.isEmpty ? "" : ": " + s
        }
    }

    /// Largest standard output accepted (bytes).
    public static let maxOutput = 1 << 30

    public static func run(_ arguments: [String], input: [UInt8], timeout: Double) throws -> Result {
        guard let program = arguments.first, !program.isEmpty else { throw ModelError("subprocess: no command") }
        let who = arguments.joined(separator: " ")
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0 else { throw ModelError("\(who): cannot create a pipe") }
        guard pipe(&outPipe) == 0 else {
            close(inPipe[0]); close(inPipe[1]); throw ModelError("\(who): cannot create a pipe")
        }
        guard pipe(&errPipe) == 0 else {
            for fd in inPipe + outPipe { close(fd) }
            throw ModelError("\(who): cannot create a pipe")
        }
        // Close-on-exec, so the child keeps only the ends dup2'ed onto 0, 1, 2.
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        // The child: pipes on 0, 1, 2; own process group; default signals.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(); sigemptyset(&none)
        var defaults = sigset_t(); sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGQUIT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, program, &actions, &attr, &argv, environ)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw ModelError("cannot run '\(program)': \(String(cString: strerror(rc)))")
        }

        // Writing to a pipe whose reader has gone raises SIGPIPE: block it in
        // this thread while talking to the child and discard one left pending.
        var pipeSet = sigset_t(); sigemptyset(&pipeSet); sigaddset(&pipeSet, SIGPIPE)
        var oldMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSet, &oldMask)
        defer {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 && sigismember(&oldMask, SIGPIPE) == 0 {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&pipeSet, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &oldMask, nil)
        }

        var inFd: Int32 = inPipe[1], outFd: Int32 = outPipe[0], errFd: Int32 = errPipe[0]
        for fd in [inFd, outFd, errFd] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if input.isEmpty { close(inFd); inFd = -1 }
        defer { for fd in [inFd, outFd, errFd] where fd >= 0 { close(fd) } }

        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var written = 0
        var status: Int32 = 0, signal: Int32? = nil, reaped = false, timedOut = false
        var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts)
        let deadline = Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9 + timeout
        var buf = [UInt8](repeating: 0, count: 65536)

        func killGroup() {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            var st: Int32 = 0
            while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
            reaped = true
        }
        func reap(block: Bool) {
            var st: Int32 = 0
            let r = waitpid(pid, &st, block ? 0 : WNOHANG)
            if r == pid {
                reaped = true
                if st & 0x7f == 0 { status = (st >> 8) & 0xff } else { signal = st & 0x7f; status = -1 }
            }
        }

        while !(reaped && outFd < 0 && errFd < 0) {
            do { try Interrupt.check() } catch { killGroup(); throw error }
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let now = Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
            if now >= deadline { timedOut = true; killGroup(); break }
            let waitMs = Int32(max(1, min(50, (deadline - now) * 1000)))
            if outFd < 0 && errFd < 0 {
                // Output closed; wait for the exit.
                reap(block: false)
                if !reaped { usleep(UInt32(min(waitMs, 10)) * 1000) }
                continue
            }
            var fds: [pollfd] = []
            if inFd >= 0 { fds.append(pollfd(fd: inFd, events: Int16(POLLOUT), revents: 0)) }
            if outFd >= 0 { fds.append(pollfd(fd: outFd, events: Int16(POLLIN), revents: 0)) }
            if errFd >= 0 { fds.append(pollfd(fd: errFd, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), waitMs)
            if n < 0 && errno != EINTR { killGroup(); throw ModelError("\(who): poll failed") }
            if n <= 0 { if !reaped { reap(block: false) }; continue }
            for p in fds where p.revents != 0 {
                if p.fd == inFd {
                    let k = input.withUnsafeBytes { b in write(inFd, b.baseAddress! + written, min(65536, input.count - written)) }
                    if k > 0 {
                        written += k
                        if written == input.count { close(inFd); inFd = -1 }
                    } else if k < 0 && errno != EAGAIN && errno != EINTR {
                        // The child stopped reading (EPIPE): not an error by itself.
                        close(inFd); inFd = -1
                    }
                } else {
                    let k = read(p.fd, &buf, buf.count)
                    if k > 0 {
                        if p.fd == outFd {
                            stdout.append(contentsOf: buf[0..<k])
                            if stdout.count > maxOutput { killGroup(); throw ModelError("\(who): more than \(maxOutput) bytes of output") }
                        } else {
                            stderr.append(contentsOf: buf[0..<k])
                            if stderr.count > 1 << 20 { stderr.removeFirst(stderr.count - (1 << 19)) }
                        }
                    } else if k == 0 || (errno != EAGAIN && errno != EINTR) {
                        if p.fd == outFd { close(outFd); outFd = -1 } else { close(errFd); errFd = -1 }
                    }
                }
            }
        }
        if !reaped { reap(block: true) }
        return Result(status: status, signal: signal, stdout: stdout, stderr: stderr, timedOut: timedOut)
    }
}

extension String {
    fileprivate func qvTrimmed(_ set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
