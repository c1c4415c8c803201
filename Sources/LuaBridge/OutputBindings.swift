import Model
import Runtime

/// `qv.image` and `qv.plot`: pictures written as PNG files.
extension QV {
    public static func openOutput(_ state: LuaState) {
        let image = state.module("qv").submodule("image", doc: "qv.image — image grids written as PNG.")
        image.fn("grid", doc: """
            qv.image.grid(path, images, {columns = 10, scale = 1, padding = 2, rows = 28, cols = 28}) -> path
            Writes images (a qv.Tensor [n, rows*cols], [n, rows, cols] or [n, 1, rows, cols], values in 0..1)
            as a grey PNG grid. rows/cols default to the tensor's last two dims, or 28×28 for flat images.
            """) { args in
            let path = try args.string(1, "path")
            let t = try args.object(2, Tensor.self, "images")
            let o = try args.options(3, allowed: ["columns", "scale", "padding", "rows", "cols"])
            guard t.rank >= 2, t.shape[0] > 0 else {
                throw args.argumentError(2, "images", "expected a tensor [n, ...] with n > 0, got shape \(t.shape)")
            }
            let n = t.shape[0], per = t.count / n
            var rows = t.rank >= 3 ? t.shape[t.rank - 2] : 28
            var cols = t.rank >= 3 ? t.shape[t.rank - 1] : 28
            rows = try o.optionalInt("rows") ?? rows
            cols = try o.optionalInt("cols") ?? cols
            guard rows >= 1, cols >= 1 else {
                throw args.argumentError(3, "options", "rows and cols must be >= 1, got \(rows)×\(cols)")
            }
            let (product, overflow) = rows.multipliedReportingOverflow(by: cols)
            guard !overflow, product == per else {
                throw args.argumentError(2, "images", "\(per) values per image do not make \(rows)×\(cols) images")
            }
            let columns = try o.int("columns", default: min(n, 10))
            let scale = try o.int("scale", default: 1), padding = try o.int("padding", default: 2)
            guard columns >= 1, scale >= 1, scale <= 32, padding >= 0 else {
                throw args.error("columns and scale must be >= 1 (scale <= 32), padding >= 0")
            }
            do {
                try ImageGrid.write(path: path, images: t.contiguous().toArray(), count: n, rows: rows, cols: cols,
                                    columns: columns, padding: padding, scale: scale)
            } catch { throw args.error("\(error)") }
            return .string(path)
        }

        let plot = state.module("qv").submodule("plot", doc: "qv.plot — line plots written as PNG.")
        plot.fn("lines", doc: """
            qv.plot.lines(path, panels) -> path
            Writes line plots side by side as a PNG. panels = {{title = "...", xlabel = "epoch",
            series = {{name = "...", x = {...}, y = {...}, lo = {...}, hi = {...}}, ...}}, ...}; NaN y values
            leave gaps; lo/hi (optional, one per x) shade a translucent band in the series' colour
            (e.g. min/max over seeds).
            """) { args in
            let path = try args.string(1, "path")
            let panelsRef = try args.table(2, "panels")
            var panels: [LinePlot.Panel] = []
            for (pi, pv) in panelsRef.arrayValues().enumerated() {
                guard case .ref(let panel) = pv else { throw args.error("panel \(pi + 1) must be a table") }
                let title = panel.field("title").stringValue ?? ""
                let xLabel = panel.field("xlabel").stringValue ?? "epoch"
                guard case .ref(let seriesRef) = panel.field("series") else {
                    throw args.error("panel \(pi + 1) needs a 'series' table")
                }
                var series: [LinePlot.Series] = []
                for (si, sv) in seriesRef.arrayValues().enumerated() {
                    guard case .ref(let s) = sv else { throw args.error("panel \(pi + 1) series \(si + 1) must be a table") }
                    func numbers(_ key: String) throws -> [Double] {
                        guard case .ref(let r) = s.field(key) else {
                            throw args.error("panel \(pi + 1) series \(si + 1) needs '\(key)', an array of numbers")
                        }
                        return try r.arrayValues().enumerated().map { k, v in
                            guard let d = v.doubleValue else {
                                throw args.error("panel \(pi + 1) series \(si + 1) \(key)[\(k + 1)] is \(v.typeName), not a number")
                            }
                            return d
                        }
                    }
                    let band: (lo: [Double], hi: [Double])?
                    if case .ref = s.field("lo") { band = (try numbers("lo"), try numbers("hi")) }
                    else if case .ref = s.field("hi") { band = (try numbers("lo"), try numbers("hi")) }
                    else { band = nil }
                    series.append(.init(name: s.field("name").stringValue ?? "series \(si + 1)",
                                        x: try numbers("x"), y: try numbers("y"), lo: band?.lo, hi: band?.hi))
                }
                panels.append(.init(title: title, xLabel: xLabel, series: series))
            }
            do { try LinePlot(panels: panels).write(path: path) } catch { throw args.error("\(error)") }
            return .string(path)
        }
    }
}
