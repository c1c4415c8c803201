import XCTest
import Foundation
@testable import Model

final class OutputTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("qv-out-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Decodes a PNG of ours with Python's zlib (an independent inflater)
    /// and checks size, channels and pixel values.
    private func pythonDecode(_ path: String) throws -> (Int, Int, Int, [UInt8]) {
        let script = """
        import struct, zlib, sys
        b = open(sys.argv[1], 'rb').read()
        assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
        pos, idat = 8, b''
        while pos < len(b):
            n, = struct.unpack('>I', b[pos:pos+4]); t = b[pos+4:pos+8]; d = b[pos+8:pos+8+n]
            assert zlib.crc32(t + d) == struct.unpack('>I', b[pos+8+n:pos+12+n])[0], 'crc'
            if t == b'IHDR': w, h, depth, ct = struct.unpack('>IIBB', d[:10])
            if t == b'IDAT': idat += d
            pos += 12 + n
        raw = zlib.decompress(idat); ch = 3 if ct == 2 else 1
        rows = [raw[y*(w*ch+1)+1:(y+1)*(w*ch+1)] for y in range(h)]
        assert all(raw[y*(w*ch+1)] == 0 for y in range(h))
        sys.stdout.write('%d %d %d\\n' % (w, h, ch)); sys.stdout.write(' '.join(str(v) for r in rows for v in r))
        """
        let p = Process(), pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, path]
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw XCTSkip("python3 could not decode (missing?)") }
        let lines = out.split(separator: "\n")
        let hdr = lines[0].split(separator: " ").map { Int($0)! }
        let px = lines.count > 1 ? lines[1].split(separator: " ").map { UInt8($0)! } : []
        return (hdr[0], hdr[1], hdr[2], px)
    }

    func testPNGDecodesToTheSamePixels() throws {
        let w = 300, h = 250  // > 65535 bytes of RGB: several stored blocks
        let px = (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 7) }
        let path = dir.appendingPathComponent("a.png").path
        try PNG.write(path: path, width: w, height: h, channels: 3, pixels: px)
        let (dw, dh, ch, back) = try pythonDecode(path)
        XCTAssertEqual([dw, dh, ch], [w, h, 3])
        XCTAssertEqual(back, px)
        XCTAssertThrowsError(try PNG.encode(width: 2, height: 2, channels: 3, pixels: [1, 2, 3]))
    }

    func testImageGridLayout() throws {
        let imgs: [Float] = [0, 1, 1, 0,  0.5, 0.5, 0.5, 0.5,  1, 1, 1, 1]
        let path = dir.appendingPathComponent("g.png").path
        try ImageGrid.write(path: path, images: imgs, count: 3, rows: 2, cols: 2, columns: 2, padding: 1)
        let (w, h, ch, px) = try pythonDecode(path)
        XCTAssertEqual([w, h, ch], [2 * 2 + 3, 2 * 2 + 3, 1])
        XCTAssertEqual(px[1 * w + 1], 0); XCTAssertEqual(px[1 * w + 2], 255)   // first tile, row 0
        XCTAssertEqual(px[1 * w + 4], 128)                                      // second tile
        XCTAssertEqual(px[0], 96)                                               // padding
        XCTAssertThrowsError(try ImageGrid.write(path: path, images: imgs, count: 4, rows: 2, cols: 2, columns: 2))
    }

    func testLinePlotRendersAndRejectsMismatchedSeries() throws {
        let path = dir.appendingPathComponent("p.png").path
        let e = (0..<50).map(Double.init)
        let plot = LinePlot(panels: [
            .init(title: "test LL (nats)", series: [.init(name: "ELBO", x: e, y: e.map { -120 + 30 * (1 - exp(-$0 / 10)) }),
                                                    .init(name: "LL", x: e, y: e.map { -110 + 25 * (1 - exp(-$0 / 10)) })]),
            .init(title: "active units", series: [.init(name: "active", x: e, y: e.map { 288 - 2 * $0 })]),
        ])
        try plot.write(path: path)
        let (w, h, ch, px) = try pythonDecode(path)
        XCTAssertEqual([w, h, ch], [1040, 320, 3])
        XCTAssert(px.contains(31) && px.contains(214), "series colours drawn")
        if let keep = ProcessInfo.processInfo.environment["QV_KEEP_PLOT"] { try? FileManager.default.copyItem(atPath: path, toPath: keep) }
        let bad = LinePlot(panels: [.init(title: "t", series: [.init(name: "s", x: [1, 2], y: [1])])])
        XCTAssertThrowsError(try bad.write(path: path))
    }

    func testTicksAreRound() {
        XCTAssertEqual(LinePlot.ticks(0, 10), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(LinePlot.ticks(-87.3, -81.2), [-86, -84, -82])
        // 1 + 5·0.2 is 2.0000000000000004 when summed: ticks are k·step, labels never "2."
        XCTAssertEqual(LinePlot.ticks(1, 2).map(LinePlot.format), ["1", "1.2", "1.4", "1.6", "1.8", "2"])
        XCTAssertEqual(LinePlot.format(2.0000000000000004), "2")
        XCTAssertEqual(LinePlot.format(-0.0000001), "-1e-07")
        // epochs: whole-number ticks only; one epoch (range padded to 0.5...1.5) gets the single tick 1
        XCTAssertEqual(LinePlot.ticks(0.5, 1.5, integer: true), [1])
        XCTAssertEqual(LinePlot.ticks(1, 3, integer: true), [1, 2, 3])
        XCTAssertEqual(LinePlot.ticks(1, 40, integer: true), [10, 20, 30, 40])
    }
}
