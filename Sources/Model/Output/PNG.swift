import Foundation

/// PNG encoding of 8-bit grey or RGB images. The image data goes into
/// stored (uncompressed) DEFLATE blocks: the files are larger than a
/// compressor's, but the encoder stays small and needs no library.
public enum PNG {
    /// Encodes `pixels` (row-major, `channels` bytes per pixel: 1 = grey,
    /// 3 = RGB) as a PNG file.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws -> [UInt8] {
        guard width > 0, height > 0, channels == 1 || channels == 3 else {
            throw OutputError.invalid("PNG: bad image size \(width)×\(height)×\(channels)")
        }
        guard pixels.count == width * height * channels else {
            throw OutputError.invalid("PNG: \(pixels.count) bytes for a \(width)×\(height)×\(channels) image")
        }
        var ihdr = [UInt8]()
        ihdr += bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        ihdr += [8, channels == 3 ? 2 : 0, 0, 0, 0]

        let stride = width * channels
        var raw = [UInt8]()
        raw.reserveCapacity((stride + 1) * height)
        for y in 0..<height {
            raw.append(0)  // filter type None
            raw += pixels[(y * stride)..<((y + 1) * stride)]
        }
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        file += chunk("IHDR", ihdr)
        file += chunk("IDAT", zlibStored(raw))
        file += chunk("IEND", [])
        return file
    }

    /// Writes a PNG file atomically (temporary name, then rename).
    public static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        let bytes = try encode(width: width, height: height, channels: channels, pixels: pixels)
        try AtomicFile.write(Data(bytes), to: path)
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = body.withUnsafeBufferPointer { CRC32.checksum($0) }
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc)
    }

    private static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var pos = 0
        repeat {
            let n = min(65_535, data.count - pos)
            let final: UInt8 = pos + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[pos..<(pos + n)]
            pos += n
        } while pos < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return out + bigEndian(b << 16 | a)
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

/// Writes files so that a killed process never leaves a torn one: the data
/// goes to a temporary file in the same directory, is flushed, then renamed.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw OutputError.io("cannot create \(tmp.path)")
        }
        do {
            let fh = try FileHandle(forWritingTo: tmp)
            try fh.write(contentsOf: data)
            try fh.synchronize()
            try fh.close()
            if rename(tmp.path, url.path) != 0 {
                throw OutputError.io("cannot rename \(tmp.path) to \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            if let e = error as? OutputError { throw e }
            throw OutputError.io("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
