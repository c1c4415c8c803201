import Runtime

/// PNG encoding of 8-bit grey or RGB images: each row gets the PNG filter
/// (None, Sub, Up, Average or Paeth) that minimises the sum of absolute
/// filtered bytes — the heuristic the PNG specification recommends and
/// libpng uses — and the filtered rows are DEFLATE-compressed by zlib.
public enum PNG {
    /// zlib level for the image data (6 is zlib's default speed/size balance).
    public static let compressionLevel = 6

    /// Encodes `pixels` (row-major, `channels` bytes per pixel: 1 = grey,
    /// 3 = RGB) as a PNG file.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws -> [UInt8] {
        guard width > 0, height > 0, width < 1 << 31, height < 1 << 31, channels == 1 || channels == 3 else {
            throw OutputError.invalid("PNG: bad image size \(width)×\(height)×\(channels)")
        }
        guard pixels.count == width * height * channels else {
            throw OutputError.invalid("PNG: \(pixels.count) bytes for a \(width)×\(height)×\(channels) image")
        }
        var ihdr = [UInt8]()
        ihdr += bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        ihdr += [8, channels == 3 ? 2 : 0, 0, 0, 0]

        let idat = try Zlib.compress(filtered(pixels, stride: width * channels, height: height, bpp: channels),
                                     level: compressionLevel)
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        file += chunk("IHDR", ihdr)
        file += chunk("IDAT", idat)
        file += chunk("IEND", [])
        return file
    }

    /// Writes a PNG file atomically (see `AtomicFile`).
    public static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        try AtomicFile.write(try encode(width: width, height: height, channels: channels, pixels: pixels), to: path)
    }

    /// The PNG filter types (specification §9.2).
    enum Filter: UInt8, CaseIterable { case none = 0, sub, up, average, paeth }

    /// The image data as PNG scanlines: per row, a filter type byte and the
    /// row filtered by the adaptive choice.
    static func filtered(_ px: [UInt8], stride: Int, height: Int, bpp: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (stride + 1) * height)
        var candidate = [UInt8](repeating: 0, count: stride)
        let padded = [UInt8](repeating: 0, count: stride) + px  // a row of zeros above the first
        padded.withUnsafeBufferPointer { p in
            for y in 0..<height {
                let prior = UnsafeBufferPointer(rebasing: p[(y * stride)..<((y + 1) * stride)])
                let row = UnsafeBufferPointer(rebasing: p[((y + 1) * stride)..<((y + 2) * stride)])
                var best = (cost: Int.max, filter: Filter.none)
                for f in Filter.allCases {
                    apply(f, row, prior, bpp, into: &candidate)
                    let cost = candidate.reduce(0) { $0 + Int(Int8(bitPattern: $1).magnitude) }
                    if cost < best.cost { best = (cost, f) }
                }
                apply(best.filter, row, prior, bpp, into: &candidate)
                out[y * (stride + 1)] = best.filter.rawValue
                out.replaceSubrange((y * (stride + 1) + 1)...((y + 1) * (stride + 1) - 1), with: candidate)
            }
        }
        return out
    }

    /// Filters one row (`prior` is the row above, zeros for the first).
    static func apply(_ f: Filter, _ row: UnsafeBufferPointer<UInt8>, _ prior: UnsafeBufferPointer<UInt8>,
                      _ bpp: Int, into out: inout [UInt8]) {
        let n = row.count
        func left(_ i: Int) -> Int { i >= bpp ? Int(row[i - bpp]) : 0 }
        func upLeft(_ i: Int) -> Int { i >= bpp ? Int(prior[i - bpp]) : 0 }
        func put(_ i: Int, _ predictor: Int) { out[i] = UInt8(truncatingIfNeeded: Int(row[i]) - predictor) }
        switch f {
        case .none: for i in 0..<n { out[i] = row[i] }
        case .sub: for i in 0..<n { put(i, left(i)) }
        case .up: for i in 0..<n { put(i, Int(prior[i])) }
        case .average: for i in 0..<n { put(i, (left(i) + Int(prior[i])) / 2) }
        case .paeth: for i in 0..<n { put(i, paeth(left(i), Int(prior[i]), upLeft(i))) }
        }
    }

    /// The Paeth predictor (specification §9.4).
    static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = body.withUnsafeBufferPointer { Zlib.crc32($0) }
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc)
    }
}

/// Why an output file could not be made.
public enum OutputError: Error, CustomStringConvertible {
    case invalid(String)
    case io(String)
    public var description: String {
        switch self {
        case .invalid(let s), .io(let s): return s
        }
    }
}
