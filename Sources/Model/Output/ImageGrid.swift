/// Tiles of grey images (values in 0...1) laid out in a grid, for sample
/// and reconstruction pictures.
public enum ImageGrid {
    /// The most pixels a grid may have (256 M: a 16384² picture).
    public static let maxPixels = 1 << 28

    /// Writes `images` (`count × rows·cols` values in 0...1, row-major) as a
    /// grey PNG grid with `columns` tiles per row, `padding` pixels apart and
    /// each pixel drawn as a `scale`×`scale` block.
    public static func write(path: String, images: [Float], count: Int, rows: Int, cols: Int,
                             columns: Int, padding: Int = 2, scale: Int = 1) throws {
        guard count > 0, rows > 0, cols > 0, columns > 0, padding >= 0, scale >= 1 else {
            throw OutputError.invalid("image grid: bad layout (count \(count), \(rows)×\(cols), columns \(columns))")
        }
        // Checked: a huge columns, padding or scale must not overflow the
        // layout arithmetic or size a picture no PNG reader would open.
        func mul(_ a: Int, _ b: Int) throws -> Int {
            let (m, o) = a.multipliedReportingOverflow(by: b)
            guard !o, m <= maxPixels else { throw OutputError.invalid("image grid: layout too large (count \(count), \(rows)×\(cols), columns \(columns), padding \(padding), scale \(scale))") }
            return m
        }
        func add(_ a: Int, _ b: Int) throws -> Int { try mul(1, a) + mul(1, b) }
        guard images.count == (try? mul(try mul(count, rows), cols)) else {
            throw OutputError.invalid("image grid: \(images.count) values for \(count) images of \(rows)×\(cols)")
        }
        let columns = min(columns, count)   // more columns than images only adds blank space
        let gridRows = (count - 1) / columns + 1
        let tileW = try mul(cols, scale), tileH = try mul(rows, scale)
        let width = try add(mul(columns, tileW), mul(columns + 1, padding))
        let height = try add(mul(gridRows, tileH), mul(gridRows + 1, padding))
        _ = try mul(width, height)
        var px = [UInt8](repeating: 96, count: width * height)
        for n in 0..<count {
            let ox = padding + (n % columns) * (tileW + padding)
            let oy = padding + (n / columns) * (tileH + padding)
            for r in 0..<rows {
                for c in 0..<cols {
                    let v = images[n * rows * cols + r * cols + c]
                    let g = UInt8((min(max(v.isNaN ? 0 : v, 0), 1) * 255).rounded())
                    for sy in 0..<scale {
                        let base = (oy + r * scale + sy) * width + ox + c * scale
                        for sx in 0..<scale { px[base + sx] = g }
                    }
                }
            }
        }
        try PNG.write(path: path, width: width, height: height, channels: 1, pixels: px)
    }
}
