/// The command line, parsed as the standalone `lua` interpreter does.
struct CommandLineOptions {
    enum Action {
        case execute(String)          // -e chunk
        case require(global: String, module: String)  // -l mod, -l g=mod
    }

    var actions: [Action] = []
    var interactive = false           // -i
    var showVersion = false           // -v, --version
    var showHelp = false              // -h, --help
    var ignoreEnvironment = false     // -E
    var warnings = false              // -W
    var kernelBackend = false         // --kernel-backend (the Jupyter kernel's engine)
    /// Index in argv of the script ("-" for stdin), or nil.
    var scriptIndex: Int?
    var argv: [String]

    struct UsageError: Error { let message: String }

    static let usage = """
        usage: qvlua [options] [script [args]]
        Available options are:
          -e stat   execute string 'stat'
          -i        enter interactive mode after executing 'script'
          -l mod    require library 'mod' into global 'mod'
          -l g=mod  require library 'mod' into global 'g'
          -v        show version information (also --version)
          -E        ignore environment variables (LUA_INIT, LUA_PATH, QVLUA_PATH, ...)
          -W        turn warnings on
          -h        show this help (also --help)
          --kernel-backend  serve the Jupyter kernel (jupyter/qvlua_kernel.py) on stdin and fd 3
          --        stop handling options
          -         stop handling options and execute stdin
        With no script, qvlua starts the REPL when standard input is a terminal
        and otherwise runs standard input as a script. See REPL.md.
        Environment: QVLUA_PATH (Lua library directories, ':'-separated; default
        <project>/scripts/lib), QVLUA_HISTORY (REPL history file, default
        ~/.qvlua_history; empty disables), LUA_INIT_5_4 / LUA_INIT.
        """

    init(_ argv: [String]) throws {
        self.argv = argv
        var i = 1
        while i < argv.count {
            let a = argv[i]
            if a == "--" { i += 1; if i < argv.count { scriptIndex = i }; break }
            if a == "-" { scriptIndex = i; break }
            guard a.hasPrefix("-") else { scriptIndex = i; break }
            switch a {
            case "-i": interactive = true
            case "-v", "--version": showVersion = true
            case "-h", "--help": showHelp = true
            case "-E": ignoreEnvironment = true
            case "-W": warnings = true
            case "--kernel-backend": kernelBackend = true
            case "-e", "-l":
                // the value may be glued ("-eprint(1)") or the next argument
                i += 1
                guard i < argv.count else { throw UsageError(message: "'\(a)' needs argument") }
                try addAction(a, argv[i])
            default:
                if a.hasPrefix("-e") || a.hasPrefix("-l"), a.count > 2 {
                    try addAction(String(a.prefix(2)), String(a.dropFirst(2)))
                } else {
                    throw UsageError(message: "unrecognized option '\(a)'")
                }
            }
            i += 1
        }
    }

    private mutating func addAction(_ flag: String, _ value: String) throws {
        if flag == "-e" {
            actions.append(.execute(value))
        } else if let eq = value.firstIndex(of: "=") {
            actions.append(.require(global: String(value[..<eq]), module: String(value[value.index(after: eq)...])))
        } else {
            actions.append(.require(global: value, module: value))
        }
    }

    var hasExecute: Bool { actions.contains { if case .execute = $0 { return true } else { return false } } }
    var script: String? { scriptIndex.map { argv[$0] } }
    /// Arguments after the script: the script's `...`.
    var scriptArguments: [String] {
        guard let s = scriptIndex else { return [] }
        return Array(argv[(s + 1)...])
    }
}
