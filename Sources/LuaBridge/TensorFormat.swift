import Foundation
import Runtime

/// `tostring(t)` and the REPL's summaries: a header line with the shape,
/// dtype and autograd state, then a truncated view of the values (at most
/// `edge`·2 rows and columns of a 2-D slice, at most 3 slices of an n-D
/// tensor), never a wall of numbers.
enum TensorFormat {
    static let edge = 3

    /// "2x3", "scalar", "0x4".
    static func shapeString(_ s: [Int]) -> String {
        s.isEmpty ? "scalar" : s.map(String.init).joined(separator: "x")
    }

    /// `qv.Tensor(2x3, float32, grad_fn=linear)`.
    static func header(_ t: Tensor) -> String {
        var s = "qv.Tensor(\(shapeString(t.shape)), float32"
        if let g = t.gradFunctionName { s += ", grad_fn=\(g)" } else if t.requiresGrad { s += ", requires_grad" }
        return s + ")"
    }

    static func number(_ v: Float) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == v.rounded(), Swift.abs(v) < 1e6 { return String(Int(v)) }
        return String(format: "%.4g", Double(v))
    }

    /// The positions to show along a dimension of size n (nil = the gap).
    static func positions(_ n: Int) -> [Int?] {
        if n <= 2 * edge { return (0..<n).map { $0 } }
        return (0..<edge).map { $0 } + [nil] + ((n - edge)..<n).map { $0 }
    }

    static func full(_ t: Tensor) -> String {
        header(t) + "\n" + values(t)
    }

    static func values(_ t: Tensor) -> String {
        // Elements are read through the strides: no copy of a big tensor.
        let p = t.data
        let shape = t.shape, strides = t.strides
        if shape.isEmpty { return number(p[0]) }
        if t.count == 0 { return "[]" }
        let last = strides[shape.count - 1]
        if shape.count == 1 { return matrix(p, rows: 1, cols: shape[0], rowStride: 0, colStride: last, oneD: true) }
        if shape.count == 2 {
            return matrix(p, rows: shape[0], cols: shape[1], rowStride: strides[0], colStride: last, oneD: false)
        }
        // n-D: 2-D slices over the leading dimensions.
        let lead = Array(shape.dropLast(2))
        let nslices = lead.reduce(1, *)
        let shown: [Int?] = nslices <= 3 ? (0..<nslices).map { $0 } : [0, 1, nil, nslices - 1]
        var out: [String] = []
        for s in shown {
            guard let s else { out.append("... (\(nslices - 3) more slices)"); continue }
            var idx = [Int](repeating: 0, count: lead.count), rem = s
            for d in stride(from: lead.count - 1, through: 0, by: -1) { idx[d] = rem % lead[d]; rem /= lead[d] }
            let base = zip(idx, strides).reduce(0) { $0 + $1.0 * $1.1 }
            out.append("[" + idx.map { String($0 + 1) }.joined(separator: ",") + ",:,:] =")
            out.append(matrix(p + base, rows: shape[shape.count - 2], cols: shape[shape.count - 1],
                              rowStride: strides[shape.count - 2], colStride: last, oneD: false))
        }
        return out.joined(separator: "\n")
    }

    private static func matrix(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, rowStride: Int, colStride: Int, oneD: Bool) -> String {
        let rpos = positions(rows), cpos = positions(cols)
        var cells: [[String]] = []
        for r in rpos {
            guard let r else { cells.append([]); continue }
            cells.append(cpos.map { c in c.map { number(p[r * rowStride + $0 * colStride]) } ?? "..." })
        }
        let width = cells.flatMap { $0 }.map(\.count).max() ?? 1
        func pad(_ s: String) -> String { String(repeating: " ", count: Swift.max(0, width - s.count)) + s }
        let lines = cells.map { row -> String in
            row.isEmpty ? " ..." : "[" + row.map(pad).joined(separator: ", ") + "]"
        }
        if oneD { return lines[0] }
        var s = "["
        for (i, l) in lines.enumerated() {
            s += (i == 0 ? "" : " ") + l + (i == lines.count - 1 ? "]" : ",\n")
        }
        return s
    }
}
