import XCTest
@testable import Runtime

final class JSONTests: XCTestCase {
    func testEncodingIsCompactOrderedAndEscaped() throws {
        let v = JSON.object([("b", .int(1)), ("a", .array([.number(0.5), .bool(true), .null, .string("x\"\\\n\u{1}\u{7F}é😀")]))])
        XCTAssertEqual(try v.text(), #"{"b":1,"a":[0.5,true,null,"x\"\\\n\u0001\u007fé😀"]}"#)
        XCTAssertEqual(try v.text(spaced: true), #"{"b": 1, "a": [0.5, true, null, "x\"\\\n\u0001\u007fé😀"]}"#)
        XCTAssertEqual(try JSON.number(3).text(), "3.0")
        XCTAssertEqual(try JSON.number(1e300).text(), "1e+300")
        XCTAssertEqual(try JSON.number(-1e-5).text(), "-1e-05")
        XCTAssertThrowsError(try JSON.array([.number(.nan)]).text())
        XCTAssertThrowsError(try JSON.number(.infinity).text())
    }

    /// The safetensors header is written through `JSON`: pinned byte for byte.
    func testSafetensorsHeaderBytes() throws {
        let bytes = try SafeTensors.encode([("w", try Tensor.zeros([2, 3])), ("b\"", Tensor([1]))], metadata: ["k": "v\n"])
        let n = Int(bytes[0]) | Int(bytes[1]) << 8
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces),
                       #"{"__metadata__":{"k":"v\n"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"# +
                       #""b\"":{"dtype":"F32","shape":[1],"data_offsets":[24,28]}}"#)
    }

    func testParsingRoundTripsAndKeepsKinds() throws {
        let text = #" {"a": [1, -0, 2.5, 1e2, -3E-2, 12345678901234567890, true, false, null], "s": "\u00e9\u00E9\/\b\f\n\r\t\"\\", "e": {}, "z": []} "#
        let v = try JSON.parse(text)
        XCTAssertEqual(v["a"], .array([.int(1), .int(0), .number(2.5), .number(100), .number(-0.03), .number(12345678901234567890),
                                       .bool(true), .bool(false), .null]))
        XCTAssertEqual(v["s"], .string("éé/\u{8}\u{C}\n\r\t\"\\"))
        XCTAssertEqual(v["e"], .object([])); XCTAssertEqual(v["z"], .array([]))
        XCTAssertEqual(try JSON.parse(#""\ud83d\ude00""#), .string("😀"))
        for doc in [v, JSON.string("\u{0}\u{1F}\u{7F}😀"), .object([("k", .number(0.1)), ("k", .int(-7))])] {
            XCTAssertEqual(try JSON.parse(try doc.text()), doc)
        }
    }

    func testMalformedDocumentsAreErrorsWithOffsets() {
        let bad = ["", "{", "[1,]", #"{"a" 1}"#, #"{"a": 1,}"#, "{1: 2}", "[1] x", #""abc"#, "tru", "01", "1.", ".5", "+1",
                   "1e", "-", "NaN", "1e999", #""\ud83d""#, #""\ude00""#, #""\ud83d\u0041""#, #""\u12""#, #""\x""#, "\"a\nb\""]
        for s in bad { XCTAssertThrowsError(try JSON.parse(s), s) }
        XCTAssertThrowsError(try JSON.parse(String(repeating: "[", count: 65) + String(repeating: "]", count: 65))) { e in
            XCTAssertEqual((e as? JSONError)?.message, "nesting too deep")
        }
        XCTAssertNoThrow(try JSON.parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertThrowsError(try JSON.parse("[1, x]")) { e in XCTAssertEqual("\(e)", "invalid number at byte 4") }
        XCTAssertThrowsError(try JSON.parse([0x22, 0xFF, 0x22])) { e in XCTAssertEqual((e as? JSONError)?.message, "invalid UTF-8 in string") }
    }
}
