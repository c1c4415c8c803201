import XCTest
import Foundation
@testable import Model
import Runtime

final class DatasetTests: XCTestCase {
    /// MNIST beside the project (../shared/data/mnist), as the tests use it.
    static var mnistDir: String {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/data/mnist").path
    }

    func testGzipRoundTripAgainstPython() throws {
        var g = Generator(seed: 9)
        // Mixed content: random bytes (stored/literal-heavy) and repeats (matches).
        var payload = (0..<50_000).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        payload += Array(repeating: 7, count: 70_000) + Array("qvlua ".utf8).flatMap { Array(repeating: $0, count: 3) }
        for level in [0, 1, 6, 9] {
            XCTAssertEqual(try Gzip.decompress(try gzipWithPython(payload, level: level), maxSize: payload.count), payload, "level \(level)")
        }
    }

    func testCorruptGzipIsAnErrorNeverACrash() throws {
        var g = Generator(seed: 4)
        var payload = [UInt8]()
        for i in 0..<20_000 { payload.append(UInt8(truncatingIfNeeded: i % 251 == 0 ? g.next() : UInt64(i / 97))) }
        let gz = try gzipWithPython(payload)
        XCTAssertEqual(try Gzip.decompress(gz, maxSize: 1 << 20), payload)
        for cut in stride(from: 0, to: gz.count, by: 97) {
            XCTAssertThrowsError(try Gzip.decompress(Array(gz[0..<cut]), maxSize: 1 << 20))
        }
        XCTAssertThrowsError(try Gzip.decompress(Array(gz.dropLast(8)), maxSize: 1 << 20)) { e in
            XCTAssertEqual(e as? GzipError, .truncated)
        }
        var badCRC = gz
        badCRC[gz.count - 6] ^= 1
        XCTAssertThrowsError(try Gzip.decompress(badCRC, maxSize: 1 << 20)) { e in XCTAssertEqual(e as? GzipError, .checksum) }
        XCTAssertThrowsError(try Gzip.decompress([1, 2, 3], maxSize: 10)) { e in XCTAssertEqual(e as? GzipError, .notGzip) }
        for _ in 0..<2000 {
            var bad = gz
            for _ in 0..<(1 + Int(g.next() % 4)) {
                let i = Int(g.next() % UInt64(bad.count))
                bad[i] ^= UInt8(1 << (g.next() % 8))
            }
            _ = try? Gzip.decompress(bad, maxSize: 1 << 20)  // must return or throw, never trap
        }
    }

    /// A small file that inflates to far more than expected (a "gzip bomb",
    /// or members repeated without end) stops at the caller's limit.
    func testGzipBombIsBoundedByTheExpectedSize() throws {
        let zeros = [UInt8](repeating: 0, count: 32 << 20)
        let gz = try gzipWithPython(zeros)
        XCTAssertLessThan(gz.count, 64 << 10)
        XCTAssertThrowsError(try Gzip.decompress(gz, maxSize: 1 << 20)) { e in
            XCTAssertEqual(e as? GzipError, .tooLarge(limit: 1 << 20))
            XCTAssertEqual("\(e)", "gzip data inflates to more than the expected 1048576 bytes")
        }
        // Concatenated members are one stream, bounded as a whole.
        let small = try gzipWithPython(Array(repeating: 1, count: 1000))
        XCTAssertEqual(try Gzip.decompress(small + small, maxSize: 2000).count, 2000)
        XCTAssertThrowsError(try Gzip.decompress(small + small + small, maxSize: 2000))
        XCTAssertThrowsError(try Gzip.decompress(small + [0, 0, 7, 7], maxSize: 2000))  // junk after padding
        XCTAssertEqual(try Gzip.decompress(small + [0, 0, 0], maxSize: 2000).count, 1000)
    }

    /// A gzip IDX file is inflated only as far as its header implies.
    func testGzipIDXReadsNoMoreThanItsHeaderImplies() throws {
        let idx: [UInt8] = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3] + [1, 2, 3, 4, 5, 6]
        let ok = try IDX.inflate(try gzipWithPython(idx))
        XCTAssertEqual(ok.dims, [2, 3]); XCTAssertEqual(ok.bytes, [1, 2, 3, 4, 5, 6])
        // The same header followed by 32 MiB more: an error, not 32 MiB of memory.
        let bomb = try gzipWithPython(idx + [UInt8](repeating: 0, count: 32 << 20))
        XCTAssertThrowsError(try IDX.inflate(bomb)) { e in XCTAssertEqual(e as? GzipError, .tooLarge(limit: 18)) }
        // A header that claims more than the file could ever hold.
        let huge = try gzipWithPython([0, 0, 8, 2, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try IDX.inflate(huge)) { e in XCTAssert("\(e)".contains("exceed the file's possible size"), "\(e)") }
        // Short body, truncated stream, corrupt stream.
        XCTAssertThrowsError(try IDX.inflate(try gzipWithPython(Array(idx.dropLast())))) { e in
            XCTAssert("\(e)".contains("need 6 bytes, file has 5"), "\(e)")
        }
        let gz = try gzipWithPython(idx)
        XCTAssertThrowsError(try IDX.inflate(Array(gz.prefix(gz.count / 2))))
        var corrupt = gz
        corrupt[gz.count - 5] ^= 0xFF
        XCTAssertThrowsError(try IDX.inflate(corrupt))
    }

    /// `payload` compressed by Python's gzip module (an independent encoder).
    private func gzipWithPython(_ payload: [UInt8], level: Int = 9) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory
        let src = dir.appendingPathComponent("qv-src-\(getpid())"), gz = dir.appendingPathComponent("qv-src-\(getpid()).gz")
        defer { try? FileManager.default.removeItem(at: src); try? FileManager.default.removeItem(at: gz) }
        try Data(payload).write(to: src)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import gzip,sys;open(sys.argv[2],'wb').write(gzip.compress(open(sys.argv[1],'rb').read(),\(level)))", src.path, gz.path]
        try p.run(); p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw XCTSkip("python3 not available") }
        return [UInt8](try Data(contentsOf: gz))
    }

    func testIDXHeaderValidation() {
        XCTAssertThrowsError(try IDX.parse([0, 0, 8]))
        XCTAssertThrowsError(try IDX.parse([1, 0, 8, 1, 0, 0, 0, 1, 5]))
        XCTAssertThrowsError(try IDX.parse([0, 0, 0x0D, 1, 0, 0, 0, 1, 5]))  // float type
        XCTAssertThrowsError(try IDX.parse([0, 0, 8, 1, 0, 0, 0, 2, 5]))     // short
        XCTAssertThrowsError(try IDX.parse([0, 0, 8, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        let ok = try? IDX.parse([0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 2, 5, 6])
        XCTAssertEqual(ok?.dims, [1, 2]); XCTAssertEqual(ok?.bytes, [5, 6])
    }

    func testMNISTLoadsWithChecksumsAndSplits() throws {
        guard FileManager.default.fileExists(atPath: Self.mnistDir) else { throw XCTSkip("no MNIST at \(Self.mnistDir)") }
        let d = try DatasetSplits.load(.mnist, directory: Self.mnistDir)
        XCTAssertEqual(d.train.count, 50_000); XCTAssertEqual(d.valid.count, 10_000); XCTAssertEqual(d.test.count, 10_000)
        XCTAssertEqual(d.train.pixels, 784)
        XCTAssertEqual(d.train.labels.prefix(5), [5, 0, 4, 1, 9])  // MNIST's well-known first labels
        XCTAssert(d.test.images.allSatisfy { $0 >= 0 && $0 <= 1 })
        // MNIST files are not Fashion-MNIST: the checksum says so, naming the file.
        XCTAssertThrowsError(try DatasetSplits.load(.fashionMNIST, directory: Self.mnistDir)) { e in
            XCTAssert("\(e)".contains("train-images-idx3-ubyte"), "\(e)")
        }
    }

    func testMissingDirectoryNamesThePath() {
        XCTAssertThrowsError(try DatasetSplits.load(.mnist, directory: "/nonexistent/mnist")) { e in
            XCTAssertEqual("\(e)", "dataset file not found: /nonexistent/mnist")
        }
    }

    func testBatchingIsSeededAndBinary() throws {
        let set = ImageSet(images: (0..<(10 * 4)).map { Float($0 % 7) / 6 }, labels: Array(repeating: 0, count: 10), rows: 2, cols: 2)
        let b = try Batcher(set, batchSize: 4, binarization: .dynamic)
        XCTAssertEqual(b.batchesPerEpoch, 3)
        var g1 = Generator(seed: 5), g2 = Generator(seed: 5)
        let o1 = b.shuffledOrder(&g1), o2 = b.shuffledOrder(&g2)
        XCTAssertEqual(o1, o2); XCTAssertEqual(o1.sorted(), Array(0..<10))
        let x1 = b.batch(o1[0..<4], &g1), x2 = b.batch(o2[0..<4], &g2)
        XCTAssertEqual(x1, x2)
        XCTAssert(x1.allSatisfy { $0 == 0 || $0 == 1 })
        let f = try Batcher(set, batchSize: 4, binarization: .fixed(seed: 1))
        XCTAssertEqual(f.batch([3, 1], &g1), f.batch([3, 1], &g2))
    }
}
