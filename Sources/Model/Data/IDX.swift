import Foundation

/// An array read from an IDX file (the format of MNIST and Fashion-MNIST):
/// unsigned bytes with their dimensions.
public struct IDXArray: Sendable {
    public let dims: [Int]
    public let bytes: [UInt8]
}

/// Reads IDX files, gzip-compressed or raw.
public enum IDX {
    /// Reads and validates the IDX file at `path` (gzip or raw, by content).
    public static func read(path: String) throws -> IDXArray {
        let raw = try readFile(path)
        do {
            return Gzip.isGzip(raw) ? try inflate(raw) : try parse(raw)
        } catch let DatasetError.corrupt(_, why) {
            throw DatasetError.corrupt(path: path, why: why)
        } catch {
            throw DatasetError.corrupt(path: path, why: "\(error)")
        }
    }

    /// Parses an uncompressed IDX byte stream of unsigned bytes.
    public static func parse(_ b: [UInt8]) throws -> IDXArray {
        let dims = try header(b, available: b.count)
        let start = 4 + 4 * dims.count
        try checkBody(need: dims.reduce(1, *), have: b.count - start, dims)
        return IDXArray(dims: dims, bytes: Array(b[start...]))
    }

    /// Decompresses a gzip IDX file, inflating no more than its header
    /// implies: data beyond that (a "gzip bomb") is an error, not an allocation.
    public static func inflate(_ gz: [UInt8]) throws -> IDXArray {
        let stream = try InflateStream(gz, format: .gzip)
        let limit = Gzip.maxInflatedSize(compressedSize: gz.count)
        var head = try stream.read(upTo: 4)
        if head.count == 4 { head += try stream.read(upTo: 4 * Int(head[3])) }
        let dims = try header(head, available: limit)
        let total = dims.reduce(1, *)
        let body = try stream.read(upTo: total)
        try checkBody(need: total, have: body.count, dims)
        try stream.finish(expected: head.count + total)
        return IDXArray(dims: dims, bytes: body)
    }

    /// The dimensions in the header at the start of `b`; their product must
    /// fit in `available` bytes.
    private static func header(_ b: [UInt8], available: Int) throws -> [Int] {
        guard b.count >= 4, b[0] == 0, b[1] == 0 else {
            throw DatasetError.corrupt(path: "", why: "bad IDX magic number")
        }
        guard b[2] == 0x08 else {
            throw DatasetError.corrupt(path: "", why: "IDX element type 0x\(String(b[2], radix: 16)) is not unsigned byte")
        }
        let ndim = Int(b[3])
        guard ndim >= 1, ndim <= 4, b.count >= 4 + 4 * ndim else {
            throw DatasetError.corrupt(path: "", why: "bad IDX header (\(ndim) dimensions)")
        }
        var dims: [Int] = []
        var total = 1
        for d in 0..<ndim {
            let o = 4 + 4 * d
            let n = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            dims.append(n)
            total *= n
            guard total <= available else {
                throw DatasetError.corrupt(path: "", why: "IDX dimensions \(dims) exceed the file's possible size")
            }
        }
        return dims
    }

    private static func checkBody(need: Int, have: Int, _ dims: [Int]) throws {
        guard need == have else {
            throw DatasetError.corrupt(path: "", why: "IDX dimensions \(dims) need \(need) bytes, file has \(have)")
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw DatasetError.missing(path: path)
        }
        defer { try? fh.close() }
        do {
            return [UInt8](try fh.readToEnd() ?? Data())
        } catch {
            throw DatasetError.corrupt(path: path, why: "cannot read: \(error.localizedDescription)")
        }
    }
}

/// Why a dataset could not be loaded; each case names the file.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case missing(path: String)
    case corrupt(path: String, why: String)
    case mismatch(path: String, why: String)

    public var description: String {
        switch self {
        case .missing(let p): return "dataset file not found: \(p)"
        case .corrupt(let p, let why): return "corrupt dataset file \(p): \(why)"
        case .mismatch(let p, let why): return "dataset file \(p): \(why)"
        }
    }
}
