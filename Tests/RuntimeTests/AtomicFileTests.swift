import XCTest
import Foundation
@testable import Runtime

final class AtomicFileTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "qv-atomic-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private var leftovers: [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.contains(".tmp-") } ?? [] }

    func testWritesAndReplacesRegularFiles() throws {
        let path = dir + "/a.txt"
        try AtomicFile.write("first", to: path)
        try AtomicFile.write([0, 255, 10], to: path)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), [0, 255, 10])
        try AtomicFile.write("", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "")
        XCTAssertEqual(leftovers, [])
    }

    func testRefusesWhatIsNotARegularFile() throws {
        let fifo = dir + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try AtomicFile.write("x", to: fifo)) { e in
            XCTAssertEqual("\(e)", "refusing to replace '\(fifo)': it is a FIFO, not a regular file")
        }
        XCTAssertThrowsError(try AtomicFile.write("x", to: dir)) { e in XCTAssert("\(e)".contains("it is a directory"), "\(e)") }
        XCTAssertThrowsError(try AtomicFile.write("x", to: "/dev/null")) { e in XCTAssert("\(e)".contains("character device"), "\(e)") }
        var st = stat()
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO is still there")
        XCTAssertEqual(leftovers, [])
    }

    func testFailureNamesThePathAndLeavesNoTemporaryFile() throws {
        XCTAssertThrowsError(try AtomicFile.write("x", to: dir + "/missing/a.txt")) { e in
            XCTAssert("\(e)".hasPrefix("cannot write '\(dir!)/missing/a.txt': "), "\(e)")
        }
        XCTAssertThrowsError(try AtomicFile.write("x", to: "")) { e in XCTAssertEqual("\(e)", "cannot write '': empty path") }
        XCTAssertEqual(leftovers, [])
    }
}
