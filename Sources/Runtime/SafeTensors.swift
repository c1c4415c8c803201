#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing the safetensors format: an 8-byte little-endian
/// header length, a JSON header `{name: {dtype, shape, data_offsets},
/// "__metadata__": {string: string}}`, then the raw little-endian data.
///
/// Files are written as F32, atomically (temporary file in the same
/// directory, fsync, rename: `AtomicFile`). Reading accepts F32, F64, F16, BF16, I64,
/// I32, I16, I8, U8 and BOOL (converted to Float32) and validates
/// everything before allocating tensors, so a truncated or corrupt file is
/// a `TensorError`, never a crash or a huge allocation.
public enum SafeTensors {
    /// Largest header accepted (the reference implementation uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// The contents of a file: tensors by name, in file order, and metadata.
    public struct Contents {
        public var tensors: [(name: String, tensor: Tensor)]
        public var metadata: [String: String]
        /// The tensor called `name`, if present.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    }

    // MARK: Writing

    /// Serializes tensors (as F32, in the given order) and metadata.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) throws -> [UInt8] {
        var seen = Set<String>()
        var members: [(String, JSON)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for (name, t) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw TensorError("safetensors: duplicate or reserved tensor name '\(name)'")
            }
            let bytes = t.count * 4
            members.append((name, .object([("dtype", .string("F32")), ("shape", .array(t.shape.map { .int($0) })),
                                           ("data_offsets", .array([.int(offset), .int(offset + bytes)]))])))
            offset += bytes
        }
        let header = try JSON.object(members).text()
        var h = Array(header.utf8)
        while (h.count + 8) % 8 != 0 { h.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + h.count + offset)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        for (_, t) in tensors {
            let c = t.contiguousData()
            out.append(contentsOf: UnsafeRawBufferPointer(start: c.data, count: c.count * 4))
        }
        return out
    }

    /// Writes a safetensors file atomically.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String) throws {
        try AtomicFile.write(try encode(tensors, metadata: metadata), to: path)
    }

    /// Writes tensors given as a dictionary (sorted by name).
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        try write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: metadata, to: path)
    }

    // MARK: Reading

    /// Reads a safetensors file.
    public static func read(_ path: String) throws -> Contents {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TensorError("safetensors: cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw TensorError("safetensors: \(path) is not a regular file") }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        try bytes.withUnsafeMutableBytes { b in
            while got < size {
                let n = Glibc.read(fd, b.baseAddress! + got, size - got)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw TensorError("safetensors: reading \(path) failed") }
                got += n
            }
        }
        do { return try decode(bytes) } catch let e as TensorError { throw TensorError("\(e.message) (file \(path))") }
    }

    private struct Entry { let name: String; let dtype: String; let shape: [Int]; let begin: Int; let end: Int }

    private static let dtypeSizes: [String: Int] = ["F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
                                                    "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    /// Parses and validates safetensors bytes.
    public static func decode(_ bytes: [UInt8]) throws -> Contents {
        guard bytes.count >= 8 else { throw TensorError("safetensors: file too short (\(bytes.count) bytes) for the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8) else {
            throw TensorError("safetensors: header length \(n) exceeds the file size \(bytes.count) (truncated or corrupt file)")
        }
        guard n <= UInt64(maxHeaderBytes) else { throw TensorError("safetensors: header length \(n) is too large") }
        let hlen = Int(n)
        let dataStart = 8 + hlen, dataLen = bytes.count - dataStart
        let root: JSON
        do { root = try JSON.parse(bytes[8..<dataStart], maxDepth: 16) } catch let e as JSONError {
            throw TensorError("safetensors: malformed JSON header: \(e)")
        }
        guard case .object(let members) = root else { throw TensorError("safetensors: header is not a JSON object") }
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        var names = Set<String>()
        for (key, value) in members {
            guard names.insert(key).inserted else { throw TensorError("safetensors: duplicate key '\(key)' in header") }
            if key == "__metadata__" {
                guard case .object(let kv) = value else { throw TensorError("safetensors: __metadata__ is not an object") }
                for (k, v) in kv {
                    guard case .string(let s) = v else { throw TensorError("safetensors: metadata value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let fields) = value else { throw TensorError("safetensors: entry '\(key)' is not an object") }
            func field(_ f: String) -> JSON? { fields.first { $0.0 == f }?.1 }
            guard case .string(let dtype)? = field("dtype") else { throw TensorError("safetensors: entry '\(key)' has no dtype") }
            guard let esize = dtypeSizes[dtype] else { throw TensorError("safetensors: entry '\(key)' has unsupported dtype \(dtype)") }
            guard case .array(let shp)? = field("shape") else { throw TensorError("safetensors: entry '\(key)' has no shape") }
            guard case .array(let offs)? = field("data_offsets"), offs.count == 2,
                  case .int(let b) = offs[0], case .int(let e) = offs[1] else {
                throw TensorError("safetensors: entry '\(key)' has no valid data_offsets")
            }
            var shape: [Int] = []
            var numel = 1
            for d in shp {
                guard case .int(let x) = d, x >= 0 else { throw TensorError("safetensors: entry '\(key)' has an invalid shape") }
                let (m, o) = numel.multipliedReportingOverflow(by: x)
                guard !o, m <= dataLen else { throw TensorError("safetensors: entry '\(key)' shape is larger than the file") }
                numel = m; shape.append(x)
            }
            guard b >= 0, b <= e, e <= dataLen else {
                throw TensorError("safetensors: entry '\(key)' data_offsets [\(b),\(e)] are outside the data (\(dataLen) bytes; truncated file?)")
            }
            guard numel * esize == e - b else {
                throw TensorError("safetensors: entry '\(key)' has \(e - b) bytes but shape \(fmt(shape)) of \(dtype) needs \(numel * esize)")
            }
            entries.append(Entry(name: key, dtype: dtype, shape: shape, begin: b, end: e))
        }
        let sorted = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for i in sorted.indices.dropFirst() where sorted[i].begin < sorted[i - 1].end {
            throw TensorError("safetensors: entries '\(sorted[i - 1].name)' and '\(sorted[i].name)' overlap")
        }
        var out: [(name: String, tensor: Tensor)] = []
        try bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            for e in entries {
                let t = try Tensor.zeros(e.shape)
                convert(base + e.begin, e.dtype, t.count, t.data)
                out.append((e.name, t))
            }
        }
        return Contents(tensors: out, metadata: metadata)
    }

    private static func convert(_ src: UnsafeRawPointer, _ dtype: String, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        switch dtype {
        case "F32": for i in 0..<n { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case "F64": for i in 0..<n { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case "F16": for i in 0..<n { dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case "BF16": for i in 0..<n { dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case "I64": for i in 0..<n { dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case "I32": for i in 0..<n { dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case "I16": for i in 0..<n { dst[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case "I8": for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        case "U8": for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case "BOOL": for i in 0..<n { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        default: break
        }
    }

    private static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16, exp = Int(h >> 10) & 0x1F, man = UInt32(h & 0x3FF)
        if exp == 0 { let v = Float(man) * 0x1p-24; return sign != 0 ? -v : v }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
        return Float(bitPattern: sign | (UInt32(exp + 112) << 23) | (man << 13))
    }
}
