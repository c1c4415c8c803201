import Foundation

/// A small line-plot renderer for training curves: one or more panels, each
/// with its own y axis, several named series, tick labels and a legend.
public struct LinePlot {
    /// One curve: its name and (x, y) points; NaN y values leave gaps.
    /// `lo`/`hi` (optional, one per point) shade a band between them in the
    /// curve's colour, translucent (e.g. min/max over seeds).
    public struct Series {
        public var name: String
        public var x: [Double], y: [Double]
        public var lo: [Double]?, hi: [Double]?
        public init(name: String, x: [Double], y: [Double], lo: [Double]? = nil, hi: [Double]? = nil) {
            self.name = name; self.x = x; self.y = y; self.lo = lo; self.hi = hi
        }
    }

    /// One panel: a title, an x label and the series drawn in it.
    public struct Panel {
        public var title: String, xLabel: String
        public var series: [Series]
        public init(title: String, xLabel: String = "epoch", series: [Series]) {
            self.title = title; self.xLabel = xLabel; self.series = series
        }
    }

    public var panels: [Panel]
    public var panelWidth = 520, panelHeight = 320

    public init(panels: [Panel]) { self.panels = panels }

    static let palette: [Canvas.Color] = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14),
                                          (148, 103, 189), (140, 86, 75), (23, 190, 207), (227, 119, 194),
                                          (127, 127, 127), (188, 189, 34)]

    /// Renders all panels side by side and writes a PNG.
    public func write(path: String) throws {
        guard !panels.isEmpty else { throw OutputError.invalid("plot: no panels") }
        for p in panels { for s in p.series {
            if s.x.count != s.y.count {
                throw OutputError.invalid("plot: series '\(s.name)' has \(s.x.count) x and \(s.y.count) y values")
            }
            if (s.lo == nil) != (s.hi == nil) || (s.lo.map { $0.count != s.x.count } ?? false)
                || (s.hi.map { $0.count != s.x.count } ?? false) {
                throw OutputError.invalid("plot: series '\(s.name)' needs lo and hi together, one value per x")
            }
        } }
        var canvas = Canvas(width: panelWidth * panels.count, height: panelHeight)
        for (i, p) in panels.enumerated() { draw(p, into: &canvas, at: i * panelWidth) }
        try canvas.writePNG(path: path)
    }

    private func draw(_ panel: Panel, into c: inout Canvas, at ox: Int) {
        let left = ox + 70, right = ox + panelWidth - 20, top = 30, bottom = panelHeight - 45
        let xs = panel.series.flatMap { $0.x }.filter { $0.isFinite }
        let ys = panel.series.flatMap { $0.y + ($0.lo ?? []) + ($0.hi ?? []) }.filter { $0.isFinite }
        c.text(panel.title, x: ox + (panelWidth - Canvas.textWidth(panel.title)) / 2, y: 8)
        c.text(panel.xLabel, x: (left + right - Canvas.textWidth(panel.xLabel)) / 2, y: panelHeight - 20)
        var (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1), (y0, y1) = (ys.min() ?? 0, ys.max() ?? 1)
        // Whole-number x (epochs) and y (counts) get whole-number ticks; a
        // single value (one epoch) sits in the middle of a padded range.
        let integerX = !xs.isEmpty && xs.allSatisfy { $0 == $0.rounded() && abs($0) < 1e15 }
        if x1 <= x0 { let d = integerX ? 0.5 : max(abs(x0) * 0.05, 1e-3); x0 -= d; x1 += d }
        let integerY = !ys.isEmpty && ys.allSatisfy { $0 == $0.rounded() && abs($0) < 1e15 }
        if y1 <= y0 { let d = integerY ? 1 : max(abs(y0) * 0.05, 1e-3); y0 -= d; y1 += d }
        // Finite values can still span more than a Double holds (±1e308):
        // narrow such a range so every pixel coordinate stays finite.
        let half = Double.greatestFiniteMagnitude / 4
        if !(x1 - x0).isFinite { x0 = max(x0, -half); x1 = min(x1, half) }
        if !(y1 - y0).isFinite { y0 = max(y0, -half); y1 = min(y1, half) }
        let pad = (y1 - y0) * 0.05
        y0 -= pad; y1 += pad
        func px(_ x: Double) -> Double { Double(left) + (x - x0) / (x1 - x0) * Double(right - left) }
        func py(_ y: Double) -> Double { Double(bottom) - (y - y0) / (y1 - y0) * Double(bottom - top) }
        for t in LinePlot.ticks(y0, y1, integer: integerY) {
            let y = py(t)
            c.line(Double(left), y, Double(right), y, (225, 225, 225), thickness: 1)
            let label = LinePlot.format(t)
            c.text(label, x: left - 6 - Canvas.textWidth(label), y: Int(min(max(y, -1e6), 1e6)) - 7)
        }
        for t in LinePlot.ticks(x0, x1, integer: integerX) {
            let x = px(t)
            c.line(x, Double(bottom), x, Double(bottom) + 4, (0, 0, 0), thickness: 1)
            let label = LinePlot.format(t)
            c.text(label, x: Int(min(max(x, -1e6), 1e6)) - Canvas.textWidth(label) / 2, y: bottom + 6)
        }
        c.line(Double(left), Double(top), Double(left), Double(bottom), (0, 0, 0), thickness: 1)
        c.line(Double(left), Double(bottom), Double(right), Double(bottom), (0, 0, 0), thickness: 1)
        // Bands first, under every line: each pixel column between two
        // consecutive finite points is shaded from lo to hi (interpolated).
        for (k, s) in panel.series.enumerated() {
            guard let lo = s.lo, let hi = s.hi else { continue }
            let color = LinePlot.palette[k % LinePlot.palette.count]
            var prev: (x: Double, lo: Double, hi: Double)?
            var shaded = Set<Int>()
            func finite(_ i: Int) -> Bool { i >= 0 && i < s.x.count && s.x[i].isFinite && lo[i].isFinite && hi[i].isFinite }
            for i in s.x.indices {
                guard finite(i) else { prev = nil; continue }
                let cur = (x: px(s.x[i]), lo: py(lo[i]), hi: py(hi[i]))
                if !finite(i - 1) && !finite(i + 1) {
                    // an isolated point (e.g. the final test LL): a short bar 9 pixels wide
                    let r0 = Int(min(cur.lo, cur.hi).rounded()), r1 = Int(max(cur.lo, cur.hi).rounded())
                    for col in (Int(cur.x.rounded()) - 4)...(Int(cur.x.rounded()) + 4) where !shaded.contains(col) {
                        shaded.insert(col)
                        for row in max(top, r0)...max(max(top, r0), min(bottom, r1)) { c.blend(col, row, color, 0.22) }
                    }
                    prev = cur
                    continue
                }
                let from = prev ?? cur
                let c0 = Int(from.x.rounded()), c1 = Int(cur.x.rounded())
                for col in min(c0, c1)...max(c0, c1) where !shaded.contains(col) {
                    shaded.insert(col)
                    let t = c1 == c0 ? 1 : Double(col - c0) / Double(c1 - c0)
                    let a = from.lo + t * (cur.lo - from.lo), b = from.hi + t * (cur.hi - from.hi)
                    let r0 = Int(min(a, b).rounded()), r1 = Int(max(a, b).rounded())
                    for row in max(top, r0)...max(max(top, r0), min(bottom, r1)) { c.blend(col, row, color, 0.22) }
                }
                prev = cur
            }
        }
        for (k, s) in panel.series.enumerated() {
            let color = LinePlot.palette[k % LinePlot.palette.count]
            var prev: (Double, Double)?
            for (x, y) in zip(s.x, s.y) {
                guard x.isFinite, y.isFinite else { prev = nil; continue }
                let p = (px(x), py(y))
                if let q = prev { c.line(q.0, q.1, p.0, p.1, color, thickness: 2) }
                else { c.line(p.0, p.1, p.0, p.1, color, thickness: 3) }
                prev = p
            }
            // a lone point (the final test LL) as a visible marker
            let finite = zip(s.x, s.y).filter { $0.0.isFinite && $0.1.isFinite }
            if finite.count == 1 { c.line(px(finite[0].0), py(finite[0].1), px(finite[0].0), py(finite[0].1), color, thickness: 6) }
        }
        // The legend goes top right, or bottom right when fewer points lie there.
        let lw = LinePlot.legendWidth(panel.series), lh = 16 * panel.series.count + 8
        func covered(_ boxTop: Int) -> Int {
            panel.series.reduce(0) { n, s in
                n + zip(s.x, s.y).filter { x, y in
                    guard x.isFinite, y.isFinite else { return false }
                    let (qx, qy) = (px(x), py(y))
                    return qx >= Double(right - lw - 8) && qy >= Double(boxTop - 2) && qy <= Double(boxTop + lh + 2)
                }.count
            }
        }
        let legendTop = covered(top) > covered(bottom - lh - 4) ? bottom - lh - 4 : top
        drawLegend(panel.series, into: &c, right: right, top: legendTop)
    }

    static func legendWidth(_ series: [Series]) -> Int { 34 + (series.map { Canvas.textWidth($0.name) }.max() ?? 0) }

    private func drawLegend(_ series: [Series], into c: inout Canvas, right: Int, top: Int) {
        let width = LinePlot.legendWidth(series)
        let x = right - width - 4
        c.fill(x: x - 4, y: top, width: width + 8, height: 16 * series.count + 8, (255, 255, 255))
        for (k, s) in series.enumerated() {
            let color = LinePlot.palette[k % LinePlot.palette.count], ly = top + 4 + 16 * k
            c.line(Double(x), Double(ly + 7), Double(x + 20), Double(ly + 7), color, thickness: 2)
            c.text(s.name, x: x + 26, y: ly)
        }
    }

    /// About five round tick values covering [lo, hi] (whole numbers only
    /// when `integer`). Each tick is k·step, not a running sum, so that 2
    /// is 2 and not 2.0000000000000004.
    static func ticks(_ lo: Double, _ hi: Double, integer: Bool = false) -> [Double] {
        let span = hi - lo
        guard span > 0, span.isFinite else { return [lo] }
        let raw = span / 5, mag = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        if integer { step = max(step, 1) }
        var k = (lo / step - 1e-9).rounded(.up)
        var out: [Double] = []
        while k * step <= hi + step * 1e-9 && out.count < 50 {   // k + 1 == k for huge k
            let t = k * step
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            k += 1
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        if abs(v) >= 1e-3 && abs(v) < 1e6 {
            var s = String(format: "%.3f", v)
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            return s == "-0" ? "0" : s
        }
        return String(format: "%.2g", v)
    }
}
