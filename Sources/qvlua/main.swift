import CSupport
import LuaBridge
import Runtime
#if canImport(Glibc)
import Glibc
#endif

// Must come first, before any Runtime code runs: Runtime's kernels are
// compiled for x86-64 Haswell (AVX2, FMA, BMI2, …; see Package.swift and
// BENCHMARKS.md). On an older CPU they would die with an illegal instruction;
// say why instead. This file is compiled without that flag.
if let missing = String(validatingCString: qv_cpu_missing_haswell_features()), !missing.isEmpty {
    fputs("""
        qvlua: this CPU lacks instructions qvlua is built for (x86-64 Haswell or newer: \
        AVX2, FMA, BMI2, …); missing: \(missing).
        Rebuild without "-target-cpu haswell" in Package.swift (slower kernels) to run here.

        """, stderr)
    exit(1)
}

// May re-exec the process with faster OpenBLAS kernels.
BLASKernels.relaunchWithFastKernelsIfNeeded()

let progname = "qvlua"

func errorMessage(_ s: String) {
    fflush(stdout)
    fputs("\(progname): \(s)\n", stderr)
    fflush(stderr)
}

func report(_ error: Error) {
    if let e = error as? LuaError {
        errorMessage(ReplSession.format(e))
    } else {
        errorMessage("\(error)")
    }
}

var versionLine: String {
    "qvlua \(QV.version) (\(QV.luaRelease), OpenBLAS \(BLASKernels.coreName))"
}

/// The directory holding scripts/lib: the nearest ancestor of the
/// executable's real path that has one.
func projectRoot() -> String? {
    guard let real = realpath("/proc/self/exe", nil) else { return nil }
    var dir = String(cString: real)
    free(real)
    while let slash = dir.lastIndex(of: "/") {
        dir = String(dir[..<slash])
        if dir.isEmpty { break }
        var st = stat()
        if stat(dir + "/scripts/lib", &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { return dir }
    }
    return nil
}

/// Library directories for package.path: QVLUA_PATH, else <root>/scripts/lib.
func libraryDirectories(ignoreEnvironment: Bool, root: String?) -> [String] {
    if !ignoreEnvironment, let p = getenv("QVLUA_PATH") {
        return String(cString: p).split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }
    return root.map { [$0 + "/scripts/lib"] } ?? []
}

func main() -> Int32 {
    let options: CommandLineOptions
    do {
        options = try CommandLineOptions(CommandLine.arguments)
    } catch let e as CommandLineOptions.UsageError {
        errorMessage(e.message)
        fputs(CommandLineOptions.usage + "\n", stderr)
        return 1
    } catch { return 1 }

    if options.showHelp {
        print(versionLine)
        print(CommandLineOptions.usage)
        return 0
    }
    if options.showVersion { print(versionLine) }

    let state = QV.newState(ignoreEnvironment: options.ignoreEnvironment)
    if options.warnings { state.enableWarnings() }

    // arg table: script at 0, interpreter and options negative, script arguments positive
    let argv = options.argv
    let scriptIndex = options.scriptIndex ?? 0
    var argTable: [Int: String] = [:]
    for (i, a) in argv.enumerated() { argTable[i - scriptIndex] = a }
    do {
        try state.setArgTable(argTable)
        let root = projectRoot()
        let dirs = libraryDirectories(ignoreEnvironment: options.ignoreEnvironment, root: root)
        let prefix = dirs.map { "\($0)/?.lua;\($0)/?/init.lua;" }.joined()
        try state.run("""
            local prefix, root = ...
            package.path = prefix .. package.path
            if root then qv.root = root end
            """, name: "=(qvlua)", args: [.string(prefix), root.map { .string($0) } ?? .nil])
    } catch {
        report(error)
        return 1
    }

    qv_install_sigint_handler()
    state.enableInterrupts()

    // LUA_INIT_5_4 / LUA_INIT
    if !options.ignoreEnvironment, let initp = getenv("LUA_INIT_5_4") ?? getenv("LUA_INIT") {
        let code = String(cString: initp)
        do {
            if code.hasPrefix("@") { try state.runFile(String(code.dropFirst())) } else {
                try state.run(code, name: "=LUA_INIT")
            }
        } catch { report(error); return 1 }
    }

    for action in options.actions {
        do {
            switch action {
            case .execute(let code):
                try state.run(code, name: "=(command line)")
            case .require(let global, let module):
                try state.run("local g, m = ...; _G[g] = require(m)", name: "=(command line)",
                              args: [.string(global), .string(module)])
            }
        } catch { report(error); return 1 }
    }

    if let script = options.script {
        do {
            let args = options.scriptArguments.map { LuaValue.string($0) }
            try state.runFile(script == "-" ? nil : script, args: args)
        } catch { report(error); return 1 }
    }

    let stdinIsTTY = isatty(0) != 0
    if options.interactive {
        Repl(session: ReplSession(state: state)).run()
    } else if options.script == nil && !options.hasExecute && !options.showVersion {
        if stdinIsTTY {
            print(versionLine + " — help() for help, Ctrl-D to exit")
            Repl(session: ReplSession(state: state)).run()
        } else {
            do { try state.runFile(nil) } catch { report(error); return 1 }
        }
    }
    fflush(stdout)
    return 0
}

exit(main())
