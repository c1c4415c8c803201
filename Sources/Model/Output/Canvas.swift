/// An RGB raster with the few drawing operations plots and image grids need.
public struct Canvas {
    public typealias Color = (r: UInt8, g: UInt8, b: UInt8)
    public let width: Int, height: Int
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: Color = (255, 255, 255)) {
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = background.r; pixels[3 * i + 1] = background.g; pixels[3 * i + 2] = background.b
        }
    }

    /// Blends `color` into pixel (x, y) with opacity `alpha` in 0...1.
    @inline(__always)
    public mutating func blend(_ x: Int, _ y: Int, _ color: Color, _ alpha: Float = 1) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        let a = min(alpha, 1), i = 3 * (y * width + x)
        func mix(_ old: UInt8, _ new: UInt8) -> UInt8 {
            UInt8((Float(old) * (1 - a) + Float(new) * a).rounded())
        }
        pixels[i] = mix(pixels[i], color.r)
        pixels[i + 1] = mix(pixels[i + 1], color.g)
        pixels[i + 2] = mix(pixels[i + 2], color.b)
    }

    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: Color) {
        for yy in max(0, y)..<min(height, y + h) where w > 0 {
            for xx in max(0, x)..<min(width, x + w) { blend(xx, yy, color) }
        }
    }

    /// An anti-aliased line of about `thickness` pixels.
    public mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double,
                              _ color: Color, thickness: Double = 1.5) {
        // Non-finite or far-off coordinates (a plot of huge values) would
        // trap in the Int conversions below: skip or clip them first.
        guard x0.isFinite, y0.isFinite, x1.isFinite, y1.isFinite else { return }
        let lim = Double(4 * (width + height) + 64)
        guard max(x0, x1) > -lim, min(x0, x1) < lim, max(y0, y1) > -lim, min(y0, y1) < lim else { return }
        if abs(x0) > lim || abs(x1) > lim || abs(y0) > lim || abs(y1) > lim {
            // Shorten to the part within ±lim by bisection-free parametric clipping.
            var t0 = 0.0, t1 = 1.0
            let dxc = x1 - x0, dyc = y1 - y0
            for (p, q) in [(-dxc, x0 + lim), (dxc, lim - x0), (-dyc, y0 + lim), (dyc, lim - y0)] {
                if p == 0 { if q < 0 { return } else { continue } }
                let r = q / p
                if p < 0 { t0 = max(t0, r) } else { t1 = min(t1, r) }
            }
            guard t0 <= t1, t0.isFinite, t1.isFinite else { return }
            line(x0 + t0 * dxc, y0 + t0 * dyc, x0 + t1 * dxc, y0 + t1 * dyc, color, thickness: thickness)
            return
        }
        guard thickness.isFinite, thickness >= 0, thickness < lim else { return }
        let dx = x1 - x0, dy = y1 - y0
        let len = (dx * dx + dy * dy).squareRoot()
        let r = thickness / 2
        let minX = Int((min(x0, x1) - r - 1).rounded(.down)), maxX = Int((max(x0, x1) + r + 1).rounded(.up))
        let minY = Int((min(y0, y1) - r - 1).rounded(.down)), maxY = Int((max(y0, y1) + r + 1).rounded(.up))
        for py in max(0, minY)...max(0, min(height - 1, maxY)) {
            for px in max(0, minX)...max(0, min(width - 1, maxX)) {
                let cx = Double(px) + 0.5 - x0, cy = Double(py) + 0.5 - y0
                var t = len > 0 ? (cx * dx + cy * dy) / (len * len) : 0
                t = min(max(t, 0), 1)
                let ex = cx - t * dx, ey = cy - t * dy
                let d = (ex * ex + ey * ey).squareRoot()
                let cover = Float(min(max(r + 0.5 - d, 0), 1))
                if cover > 0 { blend(px, py, color, cover) }
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y); returns its width.
    @discardableResult
    public mutating func text(_ text: String, x: Int, y: Int, _ color: Color = (0, 0, 0)) -> Int {
        var cx = x
        for ch in text {
            for gy in 0..<BitmapFont.height {
                for gx in 0..<BitmapFont.width {
                    blend(cx + gx, y + gy, color, BitmapFont.coverage(ch, gx, gy))
                }
            }
            cx += BitmapFont.width
        }
        return cx - x
    }

    /// Width in pixels of `text` in the bitmap font.
    public static func textWidth(_ text: String) -> Int { text.count * BitmapFont.width }

    /// Encodes the canvas as PNG and writes it atomically.
    public func writePNG(path: String) throws {
        try PNG.write(path: path, width: width, height: height, channels: 3, pixels: pixels)
    }
}
