import XCTest
import Foundation
@testable import Model
import Runtime

final class OutputTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("qv-out-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Decodes a PNG of ours: checks the signature and chunk CRCs, inflates
    /// the IDAT data with zlib and undoes the PNG filters (an unfilterer
    /// written from the specification, separate from the encoder's).
    private func decode(_ path: String) throws -> (Int, Int, Int, [UInt8]) {
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(b.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func u32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        var pos = 8, w = 0, h = 0, ch = 0
        var idat: [UInt8] = []
        while pos < b.count {
            let n = u32(pos), type = String(decoding: b[(pos + 4)..<(pos + 8)], as: UTF8.self)
            let crc = b[(pos + 4)..<(pos + 8 + n)].withContiguousStorageIfAvailable { Zlib.crc32($0) }
            XCTAssertEqual(crc.map(Int.init), u32(pos + 8 + n), "CRC of \(type)")
            if type == "IHDR" { w = u32(pos + 8); h = u32(pos + 12); ch = b[pos + 17] == 2 ? 3 : 1 }
            if type == "IDAT" { idat += b[(pos + 8)..<(pos + 8 + n)] }
            pos += 12 + n
        }
        let stride = w * ch
        let raw = try Zlib.decompress(idat, maxSize: (stride + 1) * h)
        XCTAssertEqual(raw.count, (stride + 1) * h)
        var px = [UInt8](repeating: 0, count: stride * h)
        for y in 0..<h {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let a = x >= ch ? Int(px[y * stride + x - ch]) : 0
                let up = y > 0 ? Int(px[(y - 1) * stride + x]) : 0
                let c = x >= ch && y > 0 ? Int(px[(y - 1) * stride + x - ch]) : 0
                let p = a + up - c
                let paeth = abs(p - a) <= abs(p - up) && abs(p - a) <= abs(p - c) ? a : abs(p - up) <= abs(p - c) ? up : c
                let predictor = [0, a, up, (a + up) / 2, paeth][Int(filter)]
                px[y * stride + x] = UInt8(truncatingIfNeeded: Int(raw[y * (stride + 1) + 1 + x]) + predictor)
            }
        }
        return (w, h, ch, px)
    }

    func testPNGDecodesToTheSamePixels() throws {
        var g = Generator(seed: 3)
        for (w, h, ch) in [(300, 250, 3), (1, 1, 1), (7, 5, 1), (33, 2, 3)] {
            // Smooth ramps (favour Sub/Up/Paeth) next to noise (favours None).
            let px = (0..<(w * h * ch)).map { i in i % 5 == 0 ? UInt8(truncatingIfNeeded: g.next()) : UInt8(truncatingIfNeeded: i &* 31 &+ i / 7) }
            let path = dir.appendingPathComponent("a.png").path
            try PNG.write(path: path, width: w, height: h, channels: ch, pixels: px)
            let (dw, dh, dch, back) = try decode(path)
            XCTAssertEqual([dw, dh, dch], [w, h, ch])
            XCTAssertEqual(back, px, "\(w)×\(h)×\(ch)")
        }
        XCTAssertThrowsError(try PNG.encode(width: 2, height: 2, channels: 3, pixels: [1, 2, 3]))
    }

    func testEveryFilterRoundTrips() throws {
        var g = Generator(seed: 5)
        let w = 9, h = 4, bpp = 3
        let px = (0..<(w * h * bpp)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let padded = [UInt8](repeating: 0, count: w * bpp) + px
        for f in PNG.Filter.allCases {
            var out = [UInt8](repeating: 0, count: w * bpp)
            padded.withUnsafeBufferPointer { p in
                PNG.apply(f, UnsafeBufferPointer(rebasing: p[(w * bpp)..<(2 * w * bpp)]),
                          UnsafeBufferPointer(rebasing: p[0..<(w * bpp)]), bpp, into: &out)
            }
            // Re-encode the first row by hand with the decoder's rules.
            for x in 0..<(w * bpp) {
                let a = x >= bpp ? Int(px[x - bpp]) : 0
                let predictor = [0, a, 0, a / 2, a][Int(f.rawValue)]
                XCTAssertEqual(out[x], UInt8(truncatingIfNeeded: Int(px[x]) - predictor), "\(f) at \(x)")
            }
        }
    }

    func testImageGridLayout() throws {
        let imgs: [Float] = [0, 1, 1, 0,  0.5, 0.5, 0.5, 0.5,  1, 1, 1, 1]
        let path = dir.appendingPathComponent("g.png").path
        try ImageGrid.write(path: path, images: imgs, count: 3, rows: 2, cols: 2, columns: 2, padding: 1)
        let (w, h, ch, px) = try decode(path)
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
        let (w, h, ch, px) = try decode(path)
        XCTAssertEqual([w, h, ch], [1040, 320, 3])
        // Filtered and deflated, the plot is a small fraction of its stored
        // (uncompressed) size of (3w + 1)·h bytes: at least 3× smaller.
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        XCTAssertLessThan(size * 3, (3 * w + 1) * h, "plot PNG is \(size) bytes")
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
