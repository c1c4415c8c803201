import LuaBridge
import XCTest

extension LuaState {
    /// Runs Lua code that must fail and returns its error message; a run
    /// that succeeds, or fails with something other than a `LuaError`, is a
    /// test failure at the caller's line.
    func errorOf(_ code: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try run(code)
            XCTFail("expected an error from: \(code)", file: file, line: line)
        } catch let e as LuaError {
            return e.message
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
        return ""
    }
}
