import XCTest
import Foundation
@testable import Runtime

final class SafeTensorsTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "qv-st-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func sample() throws -> [(String, Tensor)] {
        [("enc.weight", try Tensor((0..<12).map { Float($0) * 0.25 - 1 }, shape: [3, 4])),
         ("enc.bias", Tensor([1.5, -2.5, 1e-8])),
         ("scalar", Tensor(scalar: 42)),
         ("empty", try Tensor.zeros([0, 3])),
         ("naïve \"quoted\"\n", try Tensor.arange(0, 5).t())]
    }

    func testRoundTrip() throws {
        let path = dir + "/a.safetensors"
        let meta = ["epoch": "3", "note": "ünïcode \"q\" \\ \n tab\t"]
        let ts = try sample()
        // A non-contiguous tensor is written by value.
        let nc = try Tensor((0..<6).map(Float.init), shape: [2, 3]).t()
        try SafeTensors.write(ts + [("nc", nc)], metadata: meta, to: path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp.\(getpid())"))
        let c = try SafeTensors.read(path)
        XCTAssertEqual(c.metadata, meta)
        XCTAssertEqual(c.tensors.count, ts.count + 1)
        for (name, t) in ts {
            XCTAssertEqual(c[name]?.shape, t.shape, name)
            XCTAssertEqual(c[name]?.toArray(), t.toArray(), name)
        }
        XCTAssertEqual(c["nc"]?.toArray(), [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(c["nc"]?.shape, [3, 2])
        // Header is 8-byte aligned like the reference writer's.
        let bytes = try SafeTensors.encode(ts)
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertThrowsError(try SafeTensors.encode([("a", Tensor([1])), ("a", Tensor([2]))]))
        XCTAssertThrowsError(try SafeTensors.read(dir + "/missing.safetensors"))
    }

    // MARK: Python interop

    func python(_ script: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func requireNumpy() throws {
        guard let (rc, _) = try? python("import numpy"), rc == 0 else { throw XCTSkip("python3 with numpy is not available") }
    }

    /// Loads a file in Python (the `safetensors` package when importable,
    /// else numpy + json) and defines `load(path) -> (dict, metadata)` and
    /// `save(path, dict, metadata)`.
    static let pyHelpers = """
    import json, struct, sys
    import numpy as np
    try:
        from safetensors.numpy import save_file, load_file
        from safetensors import safe_open
        HAVE = True
    except ImportError:
        HAVE = False
    DT = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32, 'U8': np.uint8}
    def load(path):
        if HAVE:
            with safe_open(path, framework='np') as f:
                meta = f.metadata() or {}
            return load_file(path), meta
        raw = open(path, 'rb').read()
        n = struct.unpack('<Q', raw[:8])[0]
        h = json.loads(raw[8:8 + n])
        meta = h.pop('__metadata__', {})
        out = {}
        for k, v in h.items():
            b, e = v['data_offsets']
            out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=DT[v['dtype']]).reshape(v['shape'])
        return out, meta
    def save(path, d, meta):
        if HAVE:
            save_file(d, path, metadata=meta); return
        h, off, blobs = {'__metadata__': meta}, 0, []
        for k, a in d.items():
            a = np.ascontiguousarray(a)
            inv = {v: k2 for k2, v in DT.items()}
            h[k] = {'dtype': inv[a.dtype.type], 'shape': list(a.shape), 'data_offsets': [off, off + a.nbytes]}
            off += a.nbytes; blobs.append(a.tobytes())
        hb = json.dumps(h).encode()
        hb += b' ' * ((8 - len(hb) % 8) % 8)
        open(path, 'wb').write(struct.pack('<Q', len(hb)) + hb + b''.join(blobs))
    """

    func testSwiftFileOpensInPython() throws {
        try requireNumpy()
        let path = dir + "/swift.safetensors"
        GlobalRandom.seed(11)
        let w = try Tensor.randn([7, 5])
        try SafeTensors.write([("w", w), ("b", Tensor([1, 2, 3])), ("s", Tensor(scalar: -0.5))],
                              metadata: ["format": "qvlua", "step": "12"], to: path)
        let expected = w.toArray().map { String($0.bitPattern) }.joined(separator: ",")
        let script = SafeTensorsTests.pyHelpers + """

        d, meta = load('\(path)')
        w = d['w']
        assert w.dtype == np.float32 and w.shape == (7, 5), (w.dtype, w.shape)
        bits = [int(x) for x in '\(expected)'.split(',')]
        assert list(w.reshape(-1).view(np.uint32)) == bits
        assert list(d['b']) == [1.0, 2.0, 3.0]
        assert d['s'].shape == () and d['s'] == -0.5
        assert meta == {'format': 'qvlua', 'step': '12'}, meta
        print('OK', 'safetensors' if HAVE else 'numpy')
        """
        let (rc, out) = try python(script)
        XCTAssertEqual(rc, 0, out)
        XCTAssert(out.contains("OK"), out)
    }

    func testPythonFileOpensInSwift() throws {
        try requireNumpy()
        let path = dir + "/py.safetensors"
        let script = SafeTensorsTests.pyHelpers + """

        d = {
          'a': (np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7).astype(np.float32),
          'd': np.array([1.5, -2.25, 1e300], dtype=np.float64),
          'h': np.array([0.5, -3.0, 65504.0, 6e-8], dtype=np.float16),
          'i': np.array([[1, -2], [3, 4]], dtype=np.int64),
        }
        save('\(path)', d, {'source': 'python'})
        print('OK')
        """
        let (rc, out) = try python(script)
        XCTAssertEqual(rc, 0, out)
        let c = try SafeTensors.read(path)
        XCTAssertEqual(c.metadata["source"], "python")
        XCTAssertEqual(c["a"]?.shape, [2, 3, 4])
        XCTAssertEqual(c["a"]?.toArray(), (0..<24).map { Float($0) / 7 })
        XCTAssertEqual(c["d"]?.toArray(), [1.5, -2.25, .infinity])
        XCTAssertEqual(c["h"]?.toArray()[0..<3], [0.5, -3, 65504])
        XCTAssertEqual(c["h"]!.toArray()[3], 5.96e-8, accuracy: 1e-9)
        XCTAssertEqual(c["i"]?.toArray(), [1, -2, 3, 4])
        XCTAssertEqual(c["i"]?.shape, [2, 2])
    }

    // MARK: Corruption

    func testCorruptFilesAreErrors() throws {
        let good = try SafeTensors.encode(try sample(), metadata: ["k": "v"])
        func header(_ json: String, data: Int = 16) -> [UInt8] {
            let h = Array(json.utf8)
            var b = [UInt8]()
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { b.append(contentsOf: $0) }
            return b + h + [UInt8](repeating: 0, count: data)
        }
        let cases: [[UInt8]] = [
            [], [1, 2, 3], Array(good.prefix(good.count - 1)), Array(good.prefix(20)),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + good.dropFirst(8),
            header("[]"), header("{"), header("{\"a\":1}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,24]}}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999],\"data_offsets\":[0,16]}}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}"),
            header("{\"a\":{\"dtype\":\"X99\",\"shape\":[4],\"data_offsets\":[0,16]}}"),
            header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}"),
            header("{\"__metadata__\":{\"a\":1}}"),
            header(String(repeating: "[", count: 100000)),
            header("{\"a\\ud800\":1}"),
        ]
        for (i, c) in cases.enumerated() {
            XCTAssertThrowsError(try SafeTensors.decode(c), "case \(i)") { XCTAssert($0 is TensorError, "case \(i): \($0)") }
        }
        XCTAssertNoThrow(try SafeTensors.decode(header("{}", data: 0)))
    }

    func testFuzzedFilesNeverCrash() throws {
        let good = try SafeTensors.encode(try sample(), metadata: ["epoch": "3"])
        let headerLen = Int(good[0]) | Int(good[1]) << 8
        var g = Generator(seed: 2024)
        var accepted = 0, rejected = 0
        let digits = Array("0123456789".utf8), specials = Array("{}[]\":,\\-.e9".utf8)
        for iter in 0..<4000 {
            var b = good
            let kind = iter % 6
            let edits = 1 + Int(g.next() % 4)
            for _ in 0..<edits {
                switch kind {
                case 0: // flip random bytes anywhere
                    let i = Int(g.next() % UInt64(b.count)); b[i] ^= UInt8(truncatingIfNeeded: g.next() | 1)
                case 1: // truncate
                    b = Array(b.prefix(Int(g.next() % UInt64(b.count))))
                case 2: // corrupt the header JSON with structural characters
                    if b.count > 8 { let i = 8 + Int(g.next() % UInt64(Swift.min(headerLen, b.count - 8))); b[i] = specials[Int(g.next() % UInt64(specials.count))] }
                case 3: // change digits in the header (shapes, offsets)
                    if b.count > 8 { let i = 8 + Int(g.next() % UInt64(Swift.min(headerLen, b.count - 8))); if digits.contains(b[i]) { b[i] = digits[Int(g.next() % 10)] } else { b.insert(digits[Int(g.next() % 10)], at: i) } }
                case 4: // corrupt the length prefix
                    b[Int(g.next() % 8)] = UInt8(truncatingIfNeeded: g.next())
                default: // insert or delete bytes inside the header
                    if b.count > 9 {
                        let i = 8 + Int(g.next() % UInt64(b.count - 8))
                        if g.next() % 2 == 0 { b.remove(at: i) } else { b.insert(UInt8(truncatingIfNeeded: g.next()), at: i) }
                    }
                }
                if b.isEmpty { break }
            }
            do { _ = try SafeTensors.decode(b); accepted += 1 }
            catch is TensorError { rejected += 1 }
            catch { XCTFail("unexpected error type: \(error)") }
        }
        XCTAssertGreaterThan(rejected, 2000)
        XCTAssertEqual(accepted + rejected, 4000)
    }
}
