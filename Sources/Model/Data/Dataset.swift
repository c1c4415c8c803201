import Foundation
import Runtime

/// The image datasets qvlua knows by name.
public enum DatasetKind: String, CaseIterable, Sendable {
    case mnist
    case fashionMNIST = "fmnist"

    /// Where Debian's `dataset-fashion-mnist` installs its files.
    public static let debianFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Decompressed size and CRC-32 of each published file, to tell a corrupt
    /// or mislabelled copy from the real one.
    var knownFiles: [String: (size: Int, crc: UInt32)] {
        switch self {
        case .mnist: return [
            "train-images-idx3-ubyte": (47_040_016, 0xE9F4_D8B3),
            "train-labels-idx1-ubyte": (60_008, 0xE0CB_4AD2),
            "t10k-images-idx3-ubyte": (7_840_016, 0x9137_3BDF),
            "t10k-labels-idx1-ubyte": (10_008, 0x4AB9_EFF9),
        ]
        case .fashionMNIST: return [
            "train-images-idx3-ubyte": (47_040_016, 0xB4F2_9F28),
            "train-labels-idx1-ubyte": (60_008, 0x741A_4657),
            "t10k-images-idx3-ubyte": (7_840_016, 0x678F_E0B1),
            "t10k-labels-idx1-ubyte": (10_008, 0x8014_2C1F),
        ]
        }
    }
}

/// Images with pixel values in [0, 1], stored row-major as `count × pixels`.
public struct ImageSet: Sendable {
    public let images: [Float]
    public let labels: [UInt8]
    public let rows: Int, cols: Int
    public var count: Int { labels.count }
    public var pixels: Int { rows * cols }

    public init(images: [Float], labels: [UInt8], rows: Int, cols: Int) {
        precondition(images.count == labels.count * rows * cols)
        self.images = images; self.labels = labels; self.rows = rows; self.cols = cols
    }

    /// The examples in `range`, as a new set.
    public func slice(_ range: Range<Int>) -> ImageSet {
        ImageSet(images: Array(images[(range.lowerBound * pixels)..<(range.upperBound * pixels)]),
                 labels: Array(labels[range]), rows: rows, cols: cols)
    }
}

/// The train / validation / test splits of one dataset (50k / 10k / 10k for
/// MNIST and Fashion-MNIST, as in the paper).
public struct DatasetSplits: Sendable {
    public let kind: DatasetKind
    public let directory: String
    public let train: ImageSet, valid: ImageSet, test: ImageSet

    /// Loads `kind` from `directory` (default: Debian's Fashion-MNIST
    /// directory; MNIST needs a directory), verifying the known checksums.
    /// `validation` examples are taken from the end of the training file.
    public static func load(_ kind: DatasetKind, directory: String? = nil,
                            validation: Int = 10_000) throws -> DatasetSplits {
        let dir: String
        if let d = directory { dir = d } else if kind == .fashionMNIST {
            dir = DatasetKind.debianFashionMNISTDirectory
        } else {
            throw DatasetError.missing(path: "(no directory given for MNIST)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw DatasetError.missing(path: dir)
        }
        let trainAll = try loadPair(kind, dir, images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte")
        let test = try loadPair(kind, dir, images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte")
        guard validation >= 0, validation < trainAll.count else {
            throw DatasetError.mismatch(path: dir, why: "validation size \(validation) out of range")
        }
        let cut = trainAll.count - validation
        return DatasetSplits(kind: kind, directory: dir, train: trainAll.slice(0..<cut),
                             valid: trainAll.slice(cut..<trainAll.count), test: test)
    }

    private static func loadPair(_ kind: DatasetKind, _ dir: String, images: String, labels: String) throws -> ImageSet {
        let (ip, imgs) = try readVerified(kind, dir, images)
        let (lp, labs) = try readVerified(kind, dir, labels)
        guard imgs.dims.count == 3 else {
            throw DatasetError.mismatch(path: ip, why: "expected 3 dimensions, got \(imgs.dims)")
        }
        guard labs.dims.count == 1, labs.dims[0] == imgs.dims[0] else {
            throw DatasetError.mismatch(path: lp, why: "\(labs.dims) labels for \(imgs.dims[0]) images")
        }
        let scale: Float = 1 / 255
        return ImageSet(images: imgs.bytes.map { Float($0) * scale }, labels: labs.bytes,
                        rows: imgs.dims[1], cols: imgs.dims[2])
    }

    /// Reads `<dir>/<base>.gz` or `<dir>/<base>` and checks it against the
    /// published size and CRC-32.
    private static func readVerified(_ kind: DatasetKind, _ dir: String, _ base: String) throws -> (String, IDXArray) {
        let gz = dir + "/" + base + ".gz", raw = dir + "/" + base
        let path = FileManager.default.fileExists(atPath: gz) ? gz : raw
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.missing(path: gz) }
        let arr = try IDX.read(path: path)
        if let known = kind.knownFiles[base] {
            let header = 4 + 4 * arr.dims.count
            var whole = [UInt8](repeating: 0, count: header)
            whole[2] = 8; whole[3] = UInt8(arr.dims.count)
            for (d, n) in arr.dims.enumerated() {
                for k in 0..<4 { whole[4 + 4 * d + k] = UInt8((n >> (24 - 8 * k)) & 0xFF) }
            }
            let crc = crcOf(header: whole, body: arr.bytes)
            guard whole.count + arr.bytes.count == known.size, crc == known.crc else {
                throw DatasetError.mismatch(path: path, why: "checksum does not match the published \(kind.rawValue) file (corrupt, or another dataset)")
            }
        }
        return (path, arr)
    }

    private static func crcOf(header: [UInt8], body: [UInt8]) -> UInt32 {
        let h = header.withUnsafeBufferPointer { Zlib.crc32($0) }
        return body.withUnsafeBufferPointer { Zlib.crc32($0, continuing: h) }
    }
}

/// How grey levels in [0, 1] become binary pixels.
public enum Binarization: Sendable, Equatable {
    /// A fresh Bernoulli draw each time a batch is made (the paper's choice).
    case dynamic
    /// One Bernoulli draw per image, fixed by `seed` (the same every epoch).
    case fixed(seed: UInt64)
    /// Pixel > threshold.
    case threshold(Float)
    /// Grey levels as they are.
    case none
}

/// Seeded shuffling and batching over an `ImageSet`.
public struct Batcher {
    public let set: ImageSet
    public let batchSize: Int
    public let binarization: Binarization

    public init(_ set: ImageSet, batchSize: Int, binarization: Binarization) throws {
        guard batchSize > 0 else { throw DatasetError.mismatch(path: "", why: "batch size must be positive") }
        self.set = set; self.batchSize = batchSize; self.binarization = binarization
    }

    /// Number of batches per epoch (the last may be short).
    public var batchesPerEpoch: Int { (set.count + batchSize - 1) / batchSize }

    /// A random permutation of the example indices.
    public func shuffledOrder(_ g: inout Generator) -> [Int] {
        var order = Array(0..<set.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(g.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }

    /// The pixels of examples `indices`, binarized, as `indices.count × pixels`.
    public func batch(_ indices: ArraySlice<Int>, _ g: inout Generator) -> [Float] {
        let p = set.pixels
        var out = [Float](repeating: 0, count: indices.count * p)
        set.images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (row, idx) in indices.enumerated() {
                    let s = src.baseAddress! + idx * p, d = dst.baseAddress! + row * p
                    switch binarization {
                    case .none:
                        d.update(from: s, count: p)
                    case .threshold(let t):
                        for k in 0..<p { d[k] = s[k] > t ? 1 : 0 }
                    case .dynamic:
                        // The row's uniforms in one call (the generator's
                        // loop is inlined in Runtime; a per-pixel
                        // cross-module call cost ≈ 4 ns), then compared in
                        // place: the same draws in the same order.
                        g.fillUniform(UnsafeMutableBufferPointer(start: d, count: p))
                        for k in 0..<p { d[k] = s[k] > d[k] ? 1 : 0 }
                    case .fixed(let seed):
                        var fg = Generator(seed: seed &+ UInt64(idx) &* 0x9E37_79B9_7F4A_7C15)
                        for k in 0..<p { d[k] = s[k] > fg.uniform() ? 1 : 0 }
                    }
                }
            }
        }
        return out
    }
}
