/// A gzip (RFC 1952) reader over a DEFLATE (RFC 1951) decoder, so that the
/// IDX files of MNIST and Fashion-MNIST load without a compression library.
///
/// Every malformed input is a thrown `GzipError`; output size is bounded by
/// DEFLATE's maximum ratio, so a hostile file cannot force a huge allocation
/// before it is found to be bad.
public enum Gzip {
    /// Decompresses all gzip members in `data`, checking each CRC-32 and size.
    public static func decompress(_ data: [UInt8]) throws -> [UInt8] {
        var out = OutputBuffer(capacity: expectedSize(data))
        var pos = 0
        repeat {
            pos = try decompressMember(data, at: pos, into: &out)
            while pos < data.count && data[pos] == 0 { pos += 1 }  // tolerate zero padding
        } while pos < data.count
        return out.array
    }

    /// Whether `data` starts with the gzip magic bytes.
    public static func isGzip(_ data: [UInt8]) -> Bool {
        data.count >= 2 && data[0] == 0x1f && data[1] == 0x8b
    }

    private static func expectedSize(_ data: [UInt8]) -> Int {
        guard data.count >= 18 else { return 0 }
        let n = data.count
        let isize = Int(data[n - 4]) | Int(data[n - 3]) << 8 | Int(data[n - 2]) << 16 | Int(data[n - 1]) << 24
        return min(isize, data.count * 1032)
    }

    private static func decompressMember(_ data: [UInt8], at start: Int, into out: inout OutputBuffer) throws -> Int {
        guard data.count - start >= 18 else { throw GzipError.truncated }
        guard data[start] == 0x1f, data[start + 1] == 0x8b else { throw GzipError.notGzip }
        guard data[start + 2] == 8 else { throw GzipError.malformed("unsupported compression method \(data[start + 2])") }
        let flags = data[start + 3]
        var pos = start + 10
        func need(_ n: Int) throws { if pos + n > data.count { throw GzipError.truncated } }
        if flags & 0x04 != 0 {  // FEXTRA
            try need(2)
            let xlen = Int(data[pos]) | Int(data[pos + 1]) << 8
            pos += 2; try need(xlen); pos += xlen
        }
        for bit: UInt8 in [0x08, 0x10] where flags & bit != 0 {  // FNAME, FCOMMENT
            while true { try need(1); pos += 1; if data[pos - 1] == 0 { break } }
        }
        if flags & 0x02 != 0 { try need(2); pos += 2 }  // FHCRC
        let memberStart = out.count
        var inflater = Inflater(data: data, position: pos)
        try inflater.run(into: &out)
        pos = inflater.bytePosition
        guard pos + 8 <= data.count else { throw GzipError.truncated }
        let crc = UInt32(data[pos]) | UInt32(data[pos + 1]) << 8 | UInt32(data[pos + 2]) << 16 | UInt32(data[pos + 3]) << 24
        let isize = UInt32(data[pos + 4]) | UInt32(data[pos + 5]) << 8 | UInt32(data[pos + 6]) << 16 | UInt32(data[pos + 7]) << 24
        let produced = out.count - memberStart
        guard UInt32(truncatingIfNeeded: produced) == isize else {
            throw GzipError.malformed("size mismatch: trailer says \(isize) bytes, got \(produced)")
        }
        guard out.crc32(from: memberStart) == crc else { throw GzipError.checksum }
        return pos + 8
    }
}

/// Why a gzip stream could not be read.
public enum GzipError: Error, CustomStringConvertible, Equatable {
    case notGzip, truncated, checksum
    case malformed(String)

    public var description: String {
        switch self {
        case .notGzip: return "not a gzip file"
        case .truncated: return "truncated gzip data"
        case .checksum: return "gzip CRC-32 mismatch (corrupt file)"
        case .malformed(let why): return "malformed gzip data: \(why)"
        }
    }
}

/// Growable byte buffer with fast back-reference copies. It owns raw
/// memory because copying out of an `Array` into itself forces a copy of
/// the whole array on every match.
struct OutputBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 4096)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var array: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    private mutating func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let newCapacity = max(capacity * 2, count + extra)
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        p.update(from: base, count: count)
        base.deallocate()
        base = p
        capacity = newCapacity
    }

    @inline(__always) mutating func append(_ byte: UInt8) {
        if count == capacity { reserve(1) }
        base[count] = byte
        count += 1
    }

    /// Copies `length` bytes starting `distance` back; overlapping copies repeat.
    @inline(__always) mutating func copyBack(distance: Int, length: Int) {
        reserve(length)
        let from = base + (count - distance), to = base + count
        if distance >= length {
            to.update(from: from, count: length)
        } else {
            for i in 0..<length { to[i] = from[i] }
        }
        count += length
    }

    func crc32(from start: Int) -> UInt32 {
        CRC32.checksum(UnsafeBufferPointer(start: base + start, count: count - start))
    }
}

/// CRC-32 (IEEE 802.3), as gzip uses it.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}

/// Canonical Huffman decoding table: a direct lookup on the first
/// `fastBits` bits, falling back to a bit-by-bit walk for longer codes.
struct Huffman {
    static let fastBits = 10
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int]
    var fast: [UInt16]  // (symbol << 4) | length; 0 = use the slow path

    init(lengths: ArraySlice<UInt8>) throws {
        symbols = []
        fast = [UInt16](repeating: 0, count: 1 << Huffman.fastBits)
        for l in lengths { counts[Int(l)] += 1 }
        counts[0] = 0
        var left = 1
        for len in 1...15 {
            left = left << 1 - counts[len]
            if left < 0 { throw GzipError.malformed("over-subscribed Huffman code") }
        }
        var offsets = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
        symbols = [Int](repeating: 0, count: offsets[15] + counts[15])
        var code = 0
        var nextCode = [Int](repeating: 0, count: 16)
        for len in 1...15 { code = (code + counts[len - 1]) << 1; nextCode[len] = code }
        for (sym, l) in zip(lengths.indices, lengths) where l > 0 {
            let len = Int(l)
            let s = sym - lengths.startIndex
            symbols[offsets[len]] = s
            offsets[len] += 1
            let c = nextCode[len]
            nextCode[len] += 1
            guard len <= Huffman.fastBits else { continue }
            var rev = 0
            for i in 0..<len where c & (1 << i) != 0 { rev |= 1 << (len - 1 - i) }
            var idx = rev
            while idx < (1 << Huffman.fastBits) {
                fast[idx] = UInt16(s << 4 | len)
                idx += 1 << len
            }
        }
    }
}

/// The DEFLATE decoder state: input bytes and a 64-bit bit buffer.
struct Inflater {
    let data: [UInt8]
    private var pos: Int
    private var bitBuf: UInt64 = 0
    private var bitCount = 0

    init(data: [UInt8], position: Int) { self.data = data; self.pos = position }

    /// Byte position after the stream, once the final block is decoded.
    var bytePosition: Int { pos - bitCount / 8 }

    @inline(__always) private mutating func refill() {
        while bitCount <= 56 {
            let byte: UInt64 = pos < data.count ? UInt64(data[pos]) : 0
            bitBuf |= byte << UInt64(bitCount)
            pos += 1
            bitCount += 8
        }
    }

    /// Throws once decoding has consumed bits past the end of the input
    /// (the refill pads with zeros, so this is where truncation shows).
    @inline(__always) private func checkInput() throws {
        if pos - bitCount / 8 > data.count { throw GzipError.truncated }
    }

    @inline(__always) private mutating func bits(_ n: Int) throws -> Int {
        if bitCount < n { refill() }
        let v = Int(bitBuf & ((1 << UInt64(n)) - 1))
        bitBuf >>= UInt64(n)
        bitCount -= n
        return v
    }

    @inline(__always) private mutating func decode(_ h: Huffman) throws -> Int {
        if bitCount < 15 { refill() }
        let entry = h.fast[Int(bitBuf & UInt64((1 << Huffman.fastBits) - 1))]
        if entry != 0 {
            let len = Int(entry & 15)
            bitBuf >>= UInt64(len); bitCount -= len
            return Int(entry >> 4)
        }
        var code = 0, first = 0, index = 0
        for len in 1...15 {
            code |= Int((bitBuf >> UInt64(len - 1)) & 1)
            let count = h.counts[len]
            if code - count < first {
                bitBuf >>= UInt64(len); bitCount -= len
                return h.symbols[index + (code - first)]
            }
            index += count; first += count
            first <<= 1; code <<= 1
        }
        throw GzipError.malformed("invalid Huffman code")
    }

    mutating func run(into out: inout OutputBuffer) throws {
        var last = false
        while !last {
            last = try bits(1) == 1
            switch try bits(2) {
            case 0: try stored(into: &out)
            case 1: try codes(Inflater.fixedLit, Inflater.fixedDist, into: &out)
            case 2:
                let (lit, dist) = try dynamicTables()
                try codes(lit, dist, into: &out)
            default: throw GzipError.malformed("invalid block type")
            }
            try checkInput()
        }
        // Drop the partial byte; hand whole unread bytes back to the caller.
        let drop = bitCount % 8
        bitBuf >>= UInt64(drop); bitCount -= drop
    }

    private mutating func stored(into out: inout OutputBuffer) throws {
        let drop = bitCount % 8
        bitBuf >>= UInt64(drop); bitCount -= drop
        let len = try bits(16), nlen = try bits(16)
        guard len == ~nlen & 0xFFFF else { throw GzipError.malformed("stored block length check failed") }
        for _ in 0..<len {
            if bitCount >= 8 { out.append(UInt8(try bits(8))); continue }
            guard pos < data.count else { throw GzipError.truncated }
            out.append(data[pos]); pos += 1
        }
    }

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                     35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                      3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
                                   513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
                                    8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    private static let fixedLit: Huffman = {
        var l = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { l[i] = 9 }
        for i in 256..<280 { l[i] = 7 }
        return try! Huffman(lengths: l[...])
    }()
    private static let fixedDist: Huffman = try! Huffman(lengths: [UInt8](repeating: 5, count: 30)[...])

    private mutating func codes(_ lit: Huffman, _ dist: Huffman, into out: inout OutputBuffer) throws {
        while true {
            let sym = try decode(lit)
            if sym < 256 { out.append(UInt8(sym)); try checkInput(); continue }
            if sym == 256 { return }
            let li = sym - 257
            guard li < 29 else { throw GzipError.malformed("invalid length code") }
            let length = Inflater.lengthBase[li] + (try bits(Inflater.lengthExtra[li]))
            let di = try decode(dist)
            guard di < 30 else { throw GzipError.malformed("invalid distance code") }
            let distance = Inflater.distBase[di] + (try bits(Inflater.distExtra[di]))
            guard distance <= out.count else { throw GzipError.malformed("distance too far back") }
            out.copyBack(distance: distance, length: length)
            try checkInput()
        }
    }

    private mutating func dynamicTables() throws -> (Huffman, Huffman) {
        let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
        guard nlen <= 286, ndist <= 30 else { throw GzipError.malformed("bad code counts") }
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var clen = [UInt8](repeating: 0, count: 19)
        for i in 0..<ncode { clen[order[i]] = UInt8(try bits(3)) }
        let codeTable = try Huffman(lengths: clen[...])
        var lengths = [UInt8](repeating: 0, count: nlen + ndist)
        var i = 0
        while i < nlen + ndist {
            let sym = try decode(codeTable)
            var repeatValue: UInt8 = 0, count = 0
            switch sym {
            case 0..<16: lengths[i] = UInt8(sym); i += 1; continue
            case 16:
                guard i > 0 else { throw GzipError.malformed("repeat with no previous length") }
                repeatValue = lengths[i - 1]; count = 3 + (try bits(2))
            case 17: count = 3 + (try bits(3))
            default: count = 11 + (try bits(7))
            }
            guard i + count <= nlen + ndist else { throw GzipError.malformed("too many code lengths") }
            for _ in 0..<count { lengths[i] = repeatValue; i += 1 }
            try checkInput()
        }
        guard lengths[256] != 0 else { throw GzipError.malformed("no end-of-block code") }
        return (try Huffman(lengths: lengths[0..<nlen]), try Huffman(lengths: lengths[nlen...]))
    }
}
