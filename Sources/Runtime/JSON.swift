/// A JSON (RFC 8259) value with the one encoder and strict parser qvlua's
/// Swift code uses: safetensors headers, the command sampler's problems and
/// anything else that reads or writes JSON.
///
/// Objects keep their members in order (and duplicates, for the caller to
/// judge), so a document written from a `JSON` value is byte-for-byte
/// predictable. Integers that fit in `Int` are `.int`; other numbers are
/// `.number`. JSON has no NaN or infinity: encoding one throws.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member called `key` of an object (the first, if repeated).
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    // MARK: Encoding

    /// The JSON text: compact (`{"a":1,"b":[2,3]}`), or with a space after
    /// each `,` and `:` when `spaced`.
    public func text(spaced: Bool = false) throws -> String {
        var out = ""
        try write(to: &out, comma: spaced ? ", " : ",", colon: spaced ? ": " : ":")
        return out
    }

    private func write(to out: inout String, comma: String, colon: String) throws {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .number(let d): out += try JSON.format(d)
        case .string(let s): out += JSON.quote(s)
        case .array(let items):
            out += "["
            for (k, v) in items.enumerated() {
                if k > 0 { out += comma }
                try v.write(to: &out, comma: comma, colon: colon)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (k, (key, v)) in members.enumerated() {
                if k > 0 { out += comma }
                out += JSON.quote(key) + colon
                try v.write(to: &out, comma: comma, colon: colon)
            }
            out += "}"
        }
    }

    /// `d` as a JSON number in the shortest form that reads back to the same
    /// `Double` (integral values keep a ".0", so they read back as `.number`).
    public static func format(_ d: Double) throws -> String {
        guard d.isFinite else { throw JSONError("\(d) is not a JSON number", offset: nil) }
        return "\(d)"
    }

    /// `s` as a JSON string literal, quotes included (control characters
    /// as `\uXXXX`; everything else as UTF-8).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    // MARK: Parsing

    /// Parses one JSON document (white space around it allowed, nothing
    /// else). Nesting deeper than `maxDepth` is an error, so hostile input
    /// cannot exhaust the stack.
    public static func parse<Bytes: Collection>(_ bytes: Bytes, maxDepth: Int = 64) throws -> JSON where Bytes.Element == UInt8 {
        var p = Parser(b: Array(bytes), maxDepth: maxDepth)
        let v = try p.value()
        p.skipWhitespace()
        guard p.i == p.b.count else { throw p.error("trailing characters") }
        return v
    }

    /// Parses the UTF-8 of `text`.
    public static func parse(_ text: String, maxDepth: Int = 64) throws -> JSON {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

/// Why JSON could not be parsed or written; `offset` is the byte where
/// parsing stopped.
public struct JSONError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public let offset: Int?
    public init(_ message: String, offset: Int?) { self.message = message; self.offset = offset }
    public var description: String { offset.map { "\(message) at byte \($0)" } ?? message }
}

private struct Parser {
    let b: [UInt8]
    let maxDepth: Int
    var i = 0
    var depth = 0

    init(b: [UInt8], maxDepth: Int) { self.b = b; self.maxDepth = maxDepth }

    func error(_ m: String) -> JSONError { JSONError(m, offset: i) }

    mutating func skipWhitespace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    private func peek(_ c: Unicode.Scalar) -> Bool { i < b.count && b[i] == UInt8(ascii: c) }

    mutating func value() throws -> JSON {
        skipWhitespace()
        guard i < b.count else { throw error("unexpected end") }
        switch b[i] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1; defer { depth -= 1 }
            guard depth <= maxDepth else { throw error("nesting too deep") }
            return b[i] == UInt8(ascii: "{") ? try object() : try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    private mutating func object() throws -> JSON {
        i += 1
        var members: [(String, JSON)] = []
        skipWhitespace()
        if peek("}") { i += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek("\"") else { throw error("expected a string key") }
            let k = try string()
            skipWhitespace()
            guard peek(":") else { throw error("expected ':'") }
            i += 1
            members.append((k, try value()))
            skipWhitespace()
            if peek(",") { i += 1; continue }
            if peek("}") { i += 1; return .object(members) }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func array() throws -> JSON {
        i += 1
        var items: [JSON] = []
        skipWhitespace()
        if peek("]") { i += 1; return .array(items) }
        while true {
            items.append(try value())
            skipWhitespace()
            if peek(",") { i += 1; continue }
            if peek("]") { i += 1; return .array(items) }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard i + u.count <= b.count, b[i..<i + u.count].elementsEqual(u) else { throw error("invalid literal") }
        i += u.count
    }

    private mutating func digits() -> Int {
        let start = i
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
        return i - start
    }

    /// RFC 8259's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() throws -> JSON {
        let start = i
        if peek("-") { i += 1 }
        let intStart = i
        guard digits() > 0, b[intStart] != 0x30 || i - intStart == 1 else { i = start; throw error("invalid number") }
        var integral = true
        if peek(".") {
            i += 1; integral = false
            guard digits() > 0 else { throw error("invalid number") }
        }
        if peek("e") || peek("E") {
            i += 1; integral = false
            if peek("+") || peek("-") { i += 1 }
            guard digits() > 0 else { throw error("invalid number") }
        }
        let s = String(decoding: b[start..<i], as: UTF8.self)
        if integral, let v = Int(s) { return .int(v) }
        guard let d = Double(s), d.isFinite else { i = start; throw error("number out of range") }
        return .number(d)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]; i += 1
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            v = v * 16 + d
        }
        return v
    }

    private mutating func string() throws -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw error("unterminated string") }
            let c = b[i]; i += 1
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard i < b.count else { throw error("unterminated escape") }
            let e = b[i]; i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var cp = try hex4()
                if cp >= 0xD800 && cp < 0xDC00 {
                    guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                    i += 2
                    let lo = try hex4()
                    guard lo >= 0xDC00 && lo < 0xE000 else { throw error("invalid surrogate pair") }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                } else if cp >= 0xDC00 && cp < 0xE000 { throw error("unpaired surrogate") }
                guard let sc = Unicode.Scalar(cp) else { throw error("invalid code point") }
                out.append(contentsOf: Array(String(Character(sc)).utf8))
            default: throw error("invalid escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return s
    }
}
