import Foundation
import XCTest

/// Batch mode: the command line, exit codes, error output.
final class BatchTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "qvlua-batch-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func write(_ name: String, _ text: String) throws -> String {
        let p = tmp + "/" + name
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testExecutePrints() throws {
        let r = try runQvlua(["-e", "print(1+1)"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "2\n")
        XCTAssertEqual(r.stderr, "")
    }

    func testErrorExitsOneWithTraceback() throws {
        let r = try runQvlua(["-e", "error(\"boom\")"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("boom"), r.stderr)
        XCTAssertTrue(r.stderr.contains("stack traceback:"), r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("qvlua: "), r.stderr)
    }

    func testWrongArgumentTypeNamesFunctionAndArgument() throws {
        let r = try runQvlua(["-e", "qv.seed('x')"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("bad argument #1 to 'qv.seed' (n: expected integer, got string)"), r.stderr)
    }

    func testScriptArgumentsAndArgTable() throws {
        let s = try write("s.lua", "print(select('#', ...), ..., arg[0] ~= nil, arg[1], arg[2], arg[-1] ~= nil)")
        let r = try runQvlua([s, "a", "b"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "2\ta\ttrue\ta\tb\ttrue\n")  // a vararg in the middle gives one value
    }

    func testFailingScriptReportsFileAndLine() throws {
        let s = try write("bad.lua", "local x = 1\nlocal y = nil + x\n")
        let r = try runQvlua([s])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("bad.lua:2: attempt to perform arithmetic on a nil value"), r.stderr)
        XCTAssertTrue(r.stderr.contains("stack traceback:"), r.stderr)
        let syntax = try runQvlua([try write("syntax.lua", "x = = 1")])
        XCTAssertEqual(syntax.status, 1)
        XCTAssertTrue(syntax.stderr.contains("syntax.lua:1:"), syntax.stderr)
        let missing = try runQvlua([tmp + "/nope.lua"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("cannot open"), missing.stderr)
    }

    func testStdin() throws {
        let dash = try runQvlua(["-", "x"], stdin: "print('from stdin', ...)")
        XCTAssertEqual(dash.stdout, "from stdin\tx\n")
        let piped = try runQvlua([], stdin: "print(2 * 21)")
        XCTAssertEqual(piped.status, 0)
        XCTAssertEqual(piped.stdout, "42\n", "no script and stdin not a terminal: run stdin, like lua")
    }

    func testRequireOptionAndLibraryPath() throws {
        let lib = tmp + "/lib"
        _ = try write("lib/mymod.lua", "return {answer = 42}")
        _ = try write("lib/pkg/init.lua", "return {name = 'pkg'}")
        let r = try runQvlua(["-l", "mymod", "-l", "p=pkg", "-e", "print(mymod.answer, p.name)"],
                             env: ["QVLUA_PATH": lib], cwd: "/")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "42\tpkg\n")
        let bad = try runQvlua(["-l", "nosuchmodule"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("module 'nosuchmodule' not found"), bad.stderr)
    }

    func testPackagePathHasProjectLibraryFromAnyDirectory() throws {
        let r = try runQvlua(["-e", "print(package.path)"], env: ["QVLUA_PATH": ""], cwd: "/")
        // QVLUA_PATH set but empty: no library directories at all
        XCTAssertFalse(r.stdout.contains("scripts/lib"), r.stdout)
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "QVLUA_PATH")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: qvluaBinary())
        p.arguments = ["-E", "-e", "io.write(package.path)"]
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let path = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(path.hasSuffix(";./?.lua;./?/init.lua") || path.contains("./?.lua"), path)
        XCTAssertTrue(path.contains("/scripts/lib/?.lua;"), path)
        XCTAssertTrue(path.contains("/scripts/lib/?/init.lua;"), path)
    }

    func testVersionAndHelp() throws {
        let v = try runQvlua(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.hasPrefix("qvlua "), v.stdout)
        XCTAssertTrue(v.stdout.contains("Lua 5.4"), v.stdout)
        let h = try runQvlua(["--help"])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("usage: qvlua [options] [script [args]]"), h.stdout)
        let bad = try runQvlua(["--frobnicate"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("unrecognized option '--frobnicate'"), bad.stderr)
    }

    /// On a CPU without the Haswell features Runtime is compiled for, qvlua
    /// says so and exits 1 instead of dying with an illegal instruction
    /// (simulated: the check reports what QVLUA_TEST_CPU_MISSING names).
    func testCPUWithoutRequiredFeaturesGetsAClearMessage() throws {
        let r = try runQvlua(["-e", "print('ran')"], env: ["QVLUA_TEST_CPU_MISSING": "avx2 fma"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.hasPrefix("qvlua: this CPU lacks instructions qvlua is built for"), r.stderr)
        XCTAssertTrue(r.stderr.contains("missing: avx2 fma."), r.stderr)
        let ok = try runQvlua(["-e", "print('ran')"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "ran\n")
    }

    func testInteractiveAfterScriptWithPipedInput() throws {
        let s = try write("init.lua", "x = 40")
        let r = try runQvlua(["-i", s], stdin: "x + 2\nfunction f()\nreturn 'ok' end\nf()\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("> 42\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains(">> \"ok\"\n") || r.stdout.contains("\"ok\""), r.stdout)
    }

    func testExitCodes() throws {
        XCTAssertEqual(try runQvlua(["-e", "os.exit(3)"]).status, 3)
        XCTAssertEqual(try runQvlua(["-e", "os.exit(true)"]).status, 0)
        XCTAssertEqual(try runQvlua(["-e", "error({})"]).status, 1)
    }

    func testMillionUserdataRunInBoundedMemory() throws {
        // 10^6 short-lived Swift objects in userdata, no collectgarbage():
        // the peak resident size (VmHWM) must stay small.
        let r = try runQvlua(["-e", """
            local s = 0
            for i = 1, 1000000 do
              local g = qv.generator(i)
              s = s + g:rand()
            end
            local hwm
            for line in io.lines("/proc/self/status") do
              hwm = hwm or tonumber(line:match("^VmHWM:%s*(%d+)"))
            end
            print(s > 0, hwm < 200 * 1024, hwm)
            """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("true\ttrue\t"), r.stdout)
    }
}

/// The REPL through a real pseudo-terminal.
final class ReplPTYTests: XCTestCase {
    var history: String!

    override func setUp() {
        history = NSTemporaryDirectory() + "qvlua-history-\(getpid())-\(UUID().uuidString.prefix(8))"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: history) }

    func start(_ args: [String] = []) throws -> PTYSession {
        let s = try PTYSession(args: args, env: ["QVLUA_HISTORY": history])
        s.expect("> ")
        return s
    }

    func testAutoPrintAndExit() throws {
        let s = try start()
        s.send("1+1\r")
        s.expect("1+1\n2\n> ")
        s.send("{1, 'a', {b = true}}\r")
        s.expect("{1, \"a\", {b = true}}\n> ")
        s.send("_[2]\r")
        s.expect("\"a\"\n> ")
        s.send("\u{04}")
        XCTAssertEqual(s.waitExit(), 0, "Ctrl-D exits cleanly")
    }

    func testFunctionOverThreeLines() throws {
        let s = try start()
        s.send("function twice(x)\r")
        s.expect(">> ")
        s.send("  return 2 * x\r")
        s.expect(">> ")
        s.send("end\r")
        s.expect("> ")
        s.send("twice(21)\r")
        s.expect("\n42\n> ")
    }

    func testCtrlCInterruptsRunningLoopAndKeepsState() throws {
        let s = try start()
        s.send("x = 41\r")
        s.expect("> ")
        s.send("while true do end\r")
        s.expect("while true do end\n")
        usleep(300_000)
        s.send("\u{03}")
        s.expect("interrupted")
        s.expect("> ")
        s.send("x + 1\r")
        s.expect("\n42\n> ")
    }

    func testCtrlCInterruptsSwiftLoop() throws {
        let s = try start()
        s.send("qv.sleep(60)\r")
        s.expect("qv.sleep(60)\n")
        usleep(300_000)
        s.send("\u{03}")
        s.expect("interrupted")
        s.send("'alive'\r")
        s.expect("\"alive\"\n> ")
    }

    func testCtrlCAtPromptClearsLine() throws {
        let s = try start()
        s.send("this is not lua")
        s.expect("this is not lua")
        s.send("\u{03}")
        s.expect("^C\n> ")
        s.send("function f(\r")
        s.expect(">> ")
        s.send("\u{03}")
        s.expect("^C\n> ", timeout: 5)
        s.send("3 * 3\r")
        s.expect("\n9\n> ")
    }

    func testBadArgumentErrorAndSurvival() throws {
        let s = try start()
        s.send("qv.seed('x')\r")
        s.expect("bad argument #1 to 'qv.seed' (n: expected integer, got string)")
        s.expect("stack traceback:")
        s.expect("> ")
        s.send("2 * 3\r")
        s.expect("\n6\n> ")
    }

    func testTabCompletion() throws {
        let s = try start()
        s.send("qv.see\t")
        s.expect("qv.seed")
        s.send("(7)\r")
        s.expect("> ")
        s.send("qv.\t\t")
        // The whole listing: up to readline's redisplay of the line after it
        // (the listing is column-major, so its last row need not end with the
        // alphabetically last name).
        let listing = s.expect("\n> qv.")
        XCTAssertTrue(listing.contains("qv.clock"), listing)
        XCTAssertTrue(listing.contains("qv.version"), listing)
        s.send("\u{15}") // kill line
        s.send("s = 'abc'\r")
        s.expect("> ")
        s.send("s:upp\t")
        s.expect("s:upper")
        s.send("()\r")
        s.expect("\"ABC\"\n> ")
    }

    func testHelpAndLocals() throws {
        let s = try start()
        s.send("?qv.seed\r")
        s.expect("Reseeds the global random generator")
        s.expect("> ")
        s.send("local k = 7\r")
        s.expect("> ")
        s.send("k * 6\r")
        s.expect("\n42\n> ")
    }

    func testHistorySurvivesRestart() throws {
        do {
            let s = try start()
            s.send("print('hist' .. 'ory')\r")
            s.expect("history\n> ")
            s.send("\u{04}")
            XCTAssertEqual(s.waitExit(), 0)
        }
        let text = try String(contentsOfFile: history, encoding: .utf8)
        XCTAssertTrue(text.contains("print('hist' .. 'ory')"), text)
        let s2 = try start()
        s2.send("\u{1B}[A")   // up arrow recalls the previous session's line
        s2.expect("print('hist' .. 'ory')")
        s2.send("\r")
        s2.expect("history\n> ")
    }

    func testInteractiveFlagRunsScriptThenPrompt() throws {
        let dir = NSTemporaryDirectory() + "qvlua-i-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/setup.lua"
        try "greeting = 'hello from script'".write(toFile: script, atomically: true, encoding: .utf8)
        let s = try start(["-i", script])
        s.send("greeting\r")
        s.expect("\"hello from script\"\n> ")
    }
}
