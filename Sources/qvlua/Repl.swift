import CReadline
import CSupport
import LuaBridge
#if canImport(Glibc)
import Glibc
#endif

/// The interactive loop around a `ReplSession`: readline's callback
/// interface on a terminal (so Ctrl-C at the prompt is seen as an
/// interrupted wait, never inside readline), plain prompted lines otherwise.
final class Repl {
    let session: ReplSession
    let historyFile: String?
    static let historyLimit: Int32 = 2000

    init(session: ReplSession) {
        self.session = session
        historyFile = Repl.historyPath()
    }

    /// QVLUA_HISTORY, else ~/.qvlua_history; an empty QVLUA_HISTORY disables history.
    static func historyPath() -> String? {
        if let p = getenv("QVLUA_HISTORY") {
            let s = String(cString: p)
            return s.isEmpty ? nil : s
        }
        if let h = getenv("HOME") { return String(cString: h) + "/.qvlua_history" }
        return nil
    }

    func run() {
        if isatty(0) != 0 { runReadline() } else { runPlain() }
    }

    // MARK: readline

    fileprivate var lineReady = false
    fileprivate var line: String?
    fileprivate var candidates: [String] = []
    fileprivate var candidateIndex = 0

    private func runReadline() {
        activeRepl = self
        rl_readline_name = UnsafePointer(strdup("qvlua"))
        rl_instream = stdin
        rl_outstream = stdout
        rl_catch_signals = 0
        rl_catch_sigwinch = 0
        rl_change_environment = 0
        rl_completer_word_break_characters = UnsafePointer(strdup(" \t\n\"\\'`@$><=;|&{(,+-*/%^~#[]?"))
        rl_attempted_completion_function = replCompleter
        using_history()
        stifle_history(Repl.historyLimit)
        if let h = historyFile {
            let fd = open(h, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            if fd >= 0 { close(fd) }
            _ = read_history(h)
        }

        // SIGINT stays blocked in this thread while we wait for input;
        // pselect unblocks it atomically, so a Ctrl-C is never lost between
        // check and wait. A SIGINT that the kernel hands to another thread
        // (OpenBLAS workers do not block it) only sets the flag: the wait
        // times out every 50 ms to look at it.
        var blockInt = sigset_t(), waitMask = sigset_t()
        sigemptyset(&blockInt)
        sigaddset(&blockInt, SIGINT)

        outer: while true {
            lineReady = false
            line = nil
            fflush(stdout)
            sigprocmask(SIG_BLOCK, &blockInt, &waitMask)
            sigdelset(&waitMask, SIGINT)
            rl_reset_screen_size()
            rl_callback_handler_install(session.prompt, replLineHandler)
            while !lineReady {
                if qv_take_interrupt() != 0 {
                    clearLineAfterInterrupt()
                    continue outer
                }
                let r = qv_wait_readable(0, &waitMask, 50)
                if r < 0 {
                    if errno == EINTR { continue }
                    rl_callback_handler_remove()
                    break outer
                }
                if r > 0 { rl_callback_read_char() }
            }
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGINT)
            sigprocmask(SIG_UNBLOCK, &unblock, nil)
            guard let text = line else {
                // Ctrl-D
                fputs("\n", stdout)
                break
            }
            addHistory(text)
            session.feed(text)
        }
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        if let h = historyFile { _ = history_truncate_file(h, Repl.historyLimit) }
        activeRepl = nil
    }

    private func clearLineAfterInterrupt() {
        rl_callback_sigcleanup()
        rl_point = rl_end
        rl_redisplay()
        rl_callback_handler_remove()
        fputs("^C\n", stdout)
        fflush(stdout)
        session.reset()
    }

    private var lastHistory: String?

    private func addHistory(_ text: String) {
        guard !text.allSatisfy({ $0 == " " || $0 == "\t" }), text != lastHistory else { return }
        lastHistory = text
        add_history(text)
        if let h = historyFile { _ = append_history(1, h) }
    }

    // MARK: plain input (standard input not a terminal, with -i)

    private func runPlain() {
        var buf: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(buf) }
        while true {
            fputs(session.prompt, stdout)
            fflush(stdout)
            errno = 0
            let n = getline(&buf, &cap, stdin)
            if n < 0 {
                if errno == EINTR, qv_take_interrupt() != 0 {
                    clearerr(stdin)
                    fputs("^C\n", stdout)
                    session.reset()
                    continue
                }
                fputs("\n", stdout)
                break
            }
            var text = String(cString: buf!)
            if text.hasSuffix("\n") { text.removeLast() }
            session.feed(text)
        }
    }
}

nonisolated(unsafe) private var activeRepl: Repl?

private let replLineHandler: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void = { p in
    guard let repl = activeRepl else { return }
    if let p {
        repl.line = String(cString: p)
        free(p)
    } else {
        repl.line = nil
    }
    repl.lineReady = true
    rl_callback_handler_remove()
}

private let replCompleter: @convention(c) (UnsafePointer<CChar>?, Int32, Int32)
    -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = { text, _, _ in
    rl_attempted_completion_over = 1
    rl_completion_append_character = 0
    guard let repl = activeRepl, let text else { return nil }
    repl.candidates = repl.session.complete(String(cString: text))
    repl.candidateIndex = 0
    if repl.candidates.isEmpty { return nil }
    return rl_completion_matches(text, replCompletionGenerator)
}

private let replCompletionGenerator: @convention(c) (UnsafePointer<CChar>?, Int32) -> UnsafeMutablePointer<CChar>? = { _, state in
    guard let repl = activeRepl else { return nil }
    if state == 0 { repl.candidateIndex = 0 }
    guard repl.candidateIndex < repl.candidates.count else { return nil }
    defer { repl.candidateIndex += 1 }
    return strdup(repl.candidates[repl.candidateIndex])
}
