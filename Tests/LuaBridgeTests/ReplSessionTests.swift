import LuaBridge
import XCTest

final class ReplSessionTests: XCTestCase {
    var state: LuaState!
    var session: ReplSession!
    var errors: [String] = []

    override func setUp() {
        state = QV.newState()
        session = ReplSession(state: state)
        errors = []
        session.printError = { [unowned self] in self.errors.append($0) }
        // capture auto-print into a global instead of stdout
        try! state.run("""
            printed = {}
            io.stdout = setmetatable({}, {__index = {
              write = function(self, ...) for _, s in ipairs({...}) do printed[#printed + 1] = s end return self end,
              flush = function(self) return self end}})
            """)
    }

    override func tearDown() { state.close() }

    var printed: String {
        guard case .ref(let t) = state.global("printed") else { return "" }
        return t.arrayValues().compactMap(\.stringValue).joined()
    }

    func testExpressionsAutoPrint() {
        XCTAssertEqual(session.feed("1+1"), .ok)
        XCTAssertEqual(printed, "2\n")
        XCTAssertEqual(session.feed("_ * 10"), .ok)
        XCTAssertEqual(printed, "2\n20\n")
        XCTAssertEqual(session.feed("1, 'a', nil"), .ok)
        XCTAssertTrue(printed.hasSuffix("1\t\"a\"\tnil\n"), printed)
    }

    func testTrailingSemicolonSilences() {
        XCTAssertEqual(session.feed("40 + 2;"), .ok)
        XCTAssertEqual(printed, "")
        XCTAssertEqual(state.global("_").intValue, 42)
    }

    func testContinuation() {
        XCTAssertEqual(session.feed("function f(x)"), .incomplete)
        XCTAssertEqual(session.prompt, ">> ")
        XCTAssertEqual(session.feed("  return x * 2"), .incomplete)
        XCTAssertEqual(session.feed("end"), .ok)
        XCTAssertEqual(session.prompt, "> ")
        XCTAssertEqual(session.feed("f(21)"), .ok)
        XCTAssertEqual(printed, "42\n")
        XCTAssertEqual(session.feed("{1,"), .incomplete)
        XCTAssertEqual(session.feed("2}"), .ok)
        XCTAssertTrue(printed.hasSuffix("{1, 2}\n"), printed)
        XCTAssertEqual(session.feed("for i = 1, 2 do"), .incomplete)
        session.reset()
        XCTAssertEqual(session.prompt, "> ")
    }

    func testLocalsSurvive() {
        XCTAssertEqual(session.feed("local x = 5"), .ok)
        XCTAssertEqual(session.feed("x"), .ok)
        XCTAssertEqual(printed, "5\n")
        XCTAssertEqual(session.feed("local function g() return x + 1 end"), .ok)
        XCTAssertEqual(session.feed("g()"), .ok)
        XCTAssertEqual(printed, "5\n6\n")
        XCTAssertEqual(session.feed("local a, b"), .ok)
        XCTAssertEqual(session.feed("local c <const> = 1; print(c)"), .ok, "attributes keep the local")
    }

    func testErrorsAreReportedAndSessionSurvives() {
        if case .error(let m) = session.feed("qv.seed('x')") {
            XCTAssertEqual(m, "stdin:1: bad argument #1 to 'qv.seed' (n: expected integer, got string)")
        } else { XCTFail() }
        XCTAssertTrue(errors.last?.contains("stack traceback") ?? false, errors.last ?? "")
        if case .error(let m) = session.feed("x = = 1") {
            XCTAssertTrue(m.contains("unexpected symbol"), m)
        } else { XCTFail() }
        XCTAssertEqual(session.feed("2+2"), .ok)
        XCTAssertEqual(printed, "4\n")
    }

    func testHelpShortcut() {
        XCTAssertEqual(session.feed("?qv.seed"), .ok)
        XCTAssertTrue(printed.contains("qv.seed(n)"), printed)
        XCTAssertEqual(session.feed("?"), .ok)
        XCTAssertTrue(printed.contains("help(x), ?x"), printed)
    }

    func testPrettyPrinter() throws {
        func repr(_ code: String) throws -> String { try state.run("return qv.repr(\(code))").first?.stringValue ?? "" }
        XCTAssertEqual(try repr("{3, 2, b = 1, a = 'x', [10] = true}"), "{3, 2, [10] = true, a = \"x\", b = 1}")
        XCTAssertEqual(try repr("{a = {b = {c = {d = 1}}}}"), "{a = {b = {c = {...}}}}")
        XCTAssertEqual(try repr("(function() local t = {}; t.self = t; return t end)()"), "{self = <cycle>}")
        XCTAssertEqual(try repr("'a\\nb'"), "\"a\\nb\"")
        let long = try repr("(function() local t = {} for i = 1, 100 do t[i] = i end return t end)()")
        XCTAssertTrue(long.contains("... (60 more)"), long)
        XCTAssertTrue(long.contains("\n"), "long tables are printed over several lines")
    }

    func testCompletion() throws {
        XCTAssertTrue(session.complete("qv.se").contains("qv.seed"))
        XCTAssertTrue(session.complete("pri").contains("print"))
        XCTAssertTrue(session.complete("wh").contains("while"))
        XCTAssertTrue(session.complete("string.fo").contains("string.format"))
        try state.run("s = 'abc'")
        XCTAssertTrue(session.complete("s:up").contains("s:upper"), "methods through the string metatable's __index")
        XCTAssertEqual(session.complete("nosuch.x"), [])
        try state.run("g = qv.generator(1)")
        XCTAssertEqual(session.complete("g:ra"), ["g:rand", "g:randn"], "userdata methods via the class metatable")
        XCTAssertTrue(session.complete("qv.Generator.sp").contains("qv.Generator.split"))
    }

    // MARK: whole cells (the Jupyter kernel)

    func testCellShowsFinalExpressionThroughResultHandler() {
        var results: [String] = []
        session.resultHandler = { results.append($0) }
        XCTAssertEqual(session.runCell("x = 20\nlocal y = 2\nx + y"), .ok)
        XCTAssertEqual(results, ["22"])
        XCTAssertEqual(printed, "", "results go to the handler, not to stdout")
        // a final expression over several lines, and a leading-local rewrite
        XCTAssertEqual(session.runCell("local t = {\n  b = 2,\n}\n{\n  t.b,\n  y }"), .ok)
        XCTAssertEqual(results.last, "{2, 2}")
        // a trailing ';' silences; a call's results are shown
        XCTAssertEqual(session.runCell("x * 2;"), .ok)
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(session.runCell("function f() return 7 end\nf()"), .ok)
        XCTAssertEqual(results.last, "7")
        // an indented local stays local to the cell
        XCTAssertEqual(session.runCell("do\n  local hidden = 1\nend\nhidden"), .ok)
        XCTAssertEqual(results.last, "nil")
    }

    func testCellErrorsAndIncompleteChunks() {
        XCTAssertEqual(session.runCell("error('boom')"), .error("stdin:1: boom"))
        XCTAssertTrue(errors.last?.contains("stack traceback") ?? false)
        // incomplete is a syntax error for a cell, and leaves nothing pending
        guard case .error(let m) = session.runCell("function g(") else { return XCTFail("expected an error") }
        XCTAssertTrue(m.contains("<eof>"), m)
        XCTAssertFalse(session.isContinuing)
    }

    func testHelpTextForInspect() {
        XCTAssertTrue(session.helpText("qv.seed")?.contains("qv.seed(n)") ?? false)
        XCTAssertNil(session.helpText("no_such_name_anywhere"))
        XCTAssertEqual(session.runCell("?qv.seed"), .ok)
        XCTAssertTrue(printed.contains("qv.seed(n)"), printed)
    }
}
