/// Reading gzip (RFC 1952) files, as the IDX files of MNIST and
/// Fashion-MNIST are distributed, through zlib (see `Zlib`, `InflateStream`).
///
/// Every malformed input is a thrown `GzipError`. The caller states the
/// largest output it expects, so a hostile or endless stream is an error
/// once it passes that size, never an unbounded allocation.
public enum Gzip {
    /// Decompresses all gzip members in `data` (zlib checks each CRC-32 and
    /// size), refusing output larger than `maxSize` bytes.
    public static func decompress(_ data: [UInt8], maxSize: Int) throws -> [UInt8] {
        guard isGzip(data) else { throw GzipError.notGzip }
        return try InflateStream(data, format: .gzip).readAll(maxSize: maxSize)
    }

    /// Whether `data` starts with the gzip magic bytes.
    public static func isGzip(_ data: [UInt8]) -> Bool {
        data.count >= 2 && data[0] == 0x1f && data[1] == 0x8b
    }

    /// The largest output DEFLATE can produce from `compressedSize` bytes
    /// (its maximum ratio is 1032:1): a bound no valid stream exceeds.
    public static func maxInflatedSize(compressedSize: Int) -> Int {
        compressedSize.multipliedReportingOverflow(by: 1032).overflow ? Int.max : compressedSize * 1032
    }
}

/// Why a gzip or zlib stream could not be read.
public enum GzipError: Error, CustomStringConvertible, Equatable {
    case notGzip, truncated, checksum
    /// The stream inflates to more than the caller's limit (bytes).
    case tooLarge(limit: Int)
    case malformed(String)

    public var description: String {
        switch self {
        case .notGzip: return "not a gzip file"
        case .truncated: return "truncated gzip data"
        case .checksum: return "gzip CRC-32 mismatch (corrupt file)"
        case .tooLarge(let limit): return "gzip data inflates to more than the expected \(limit) bytes"
        case .malformed(let why): return "malformed gzip data: \(why)"
        }
    }
}
