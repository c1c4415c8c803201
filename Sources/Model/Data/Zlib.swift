import CZlib

/// The few zlib (https://zlib.net) entry points qvlua uses: DEFLATE
/// compression in the zlib format (PNG's IDAT), bounded inflation of zlib
/// and gzip streams (datasets, tests), and CRC-32.
public enum Zlib {
    /// `data` compressed as one zlib stream (RFC 1950) at `level` 0…9.
    public static func compress(_ data: [UInt8], level: Int = 6) throws -> [UInt8] {
        precondition((0...9).contains(level), "zlib level must be in 0...9")
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &size, i.baseAddress, uLong(i.count), Int32(level))
            }
        }
        guard rc == Z_OK else { throw GzipError.malformed("zlib compress2 failed (code \(rc))") }
        out.removeSubrange(Int(size)...)
        return out
    }

    /// Inflates one zlib stream (RFC 1950), refusing output beyond `maxSize` bytes.
    public static func decompress(_ data: [UInt8], maxSize: Int) throws -> [UInt8] {
        let stream = try InflateStream(data, format: .zlib)
        return try stream.readAll(maxSize: maxSize)
    }

    /// CRC-32 (IEEE 802.3, as gzip and PNG use it) of `bytes`, continuing from `crc`.
    public static func crc32(_ bytes: UnsafeBufferPointer<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        UInt32(CZlib.crc32(uLong(crc), bytes.baseAddress, uInt(bytes.count)))
    }
}

/// A streaming inflater over an in-memory zlib or gzip stream: callers read
/// exactly as many bytes as they expect, so a stream that inflates to more
/// (a "gzip bomb") never costs more memory than the caller asked for.
/// Concatenated gzip members (and zero padding between them) are read as one
/// stream; zlib checks each member's CRC-32 and length.
public final class InflateStream {
    /// The container around the DEFLATE data.
    public enum Format { case zlib, gzip }

    private let format: Format
    private let strm: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableBufferPointer<UInt8>
    private var ended = false

    /// Prepares to inflate `data`; nothing is decompressed yet.
    public init(_ data: [UInt8], format: Format) throws {
        self.format = format
        input = .allocate(capacity: max(data.count, 1))
        _ = input.initialize(from: data)
        strm = .allocate(capacity: 1)
        strm.initialize(to: z_stream())
        strm.pointee.next_in = input.baseAddress
        strm.pointee.avail_in = uInt(data.count)
        // 15: the largest window; +16: gzip header and trailer instead of zlib's.
        let rc = qv_inflateInit2(strm, format == .gzip ? 15 + 16 : 15)
        guard rc == Z_OK else {
            strm.deallocate(); input.deallocate()
            throw GzipError.malformed("zlib inflateInit2 failed (code \(rc))")
        }
    }

    deinit {
        inflateEnd(strm)
        strm.deallocate()
        input.deallocate()
    }

    /// Whether the stream has ended (all input consumed by complete members).
    public var atEnd: Bool { ended }

    /// The next `count` bytes, or fewer if the stream ends cleanly first;
    /// throws `GzipError.truncated` if the input stops mid-stream.
    public func read(upTo count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let got = try out.withUnsafeMutableBufferPointer { try fill($0) }
        out.removeSubrange(got...)
        return out
    }

    /// Throws unless the stream ends here (no data beyond what was read).
    public func finish(expected: Int) throws {
        var probe: UInt8 = 0
        let extra = try withUnsafeMutablePointer(to: &probe) { try fill(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        guard extra == 0 else { throw GzipError.tooLarge(limit: expected) }
    }

    /// Everything left in the stream, refusing more than `maxSize` bytes.
    public func readAll(maxSize: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while !ended {
            let n = try chunk.withUnsafeMutableBufferPointer { try fill($0) }
            guard out.count + n <= maxSize else { throw GzipError.tooLarge(limit: maxSize) }
            out += chunk[0..<n]
        }
        return out
    }

    /// Inflates into `buffer` until it is full or the stream ends; returns
    /// the number of bytes written.
    private func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>) throws -> Int {
        var done = 0
        while done < buffer.count && !ended {
            strm.pointee.next_out = buffer.baseAddress! + done
            strm.pointee.avail_out = uInt(min(buffer.count - done, Int(UInt32.max)))
            let before = strm.pointee.avail_out
            let rc = inflate(strm, Z_NO_FLUSH)
            done += Int(before - strm.pointee.avail_out)
            switch rc {
            case Z_OK:
                continue
            case Z_STREAM_END:
                try nextMember()
            case Z_BUF_ERROR:
                // No progress possible: the input ran out mid-stream.
                if strm.pointee.avail_out > 0 { throw GzipError.truncated }
            case Z_DATA_ERROR:
                let why = strm.pointee.msg.map { String(cString: $0) } ?? "invalid data"
                if why == "incorrect data check" || why == "incorrect length check" { throw GzipError.checksum }
                throw GzipError.malformed(why)
            case Z_MEM_ERROR:
                throw GzipError.malformed("zlib is out of memory")
            default:
                throw GzipError.malformed("zlib inflate failed (code \(rc))")
            }
        }
        return done
    }

    /// After a member ends: skip zero padding, then start the next gzip
    /// member if input is left; a zlib stream must end the input.
    private func nextMember() throws {
        while strm.pointee.avail_in > 0 && format == .gzip && strm.pointee.next_in.pointee == 0 {
            strm.pointee.next_in += 1
            strm.pointee.avail_in -= 1
        }
        if strm.pointee.avail_in == 0 { ended = true; return }
        guard format == .gzip else { throw GzipError.malformed("data after the end of the zlib stream") }
        guard strm.pointee.avail_in >= 2, strm.pointee.next_in[0] == 0x1f, strm.pointee.next_in[1] == 0x8b else {
            throw GzipError.malformed("data after the end of the gzip stream")
        }
        inflateReset(strm)
    }
}
