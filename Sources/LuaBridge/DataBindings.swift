import CLua
import Foundation
import Model
import Runtime

/// `qv.data`: the MNIST / Fashion-MNIST loaders of Model as Lua objects.
///
///     local ds = qv.data.load("fmnist")            -- or ("mnist", {dir = ".../mnist"})
///     print(#ds.train, #ds.valid, #ds.test)         -- 50000 10000 10000
///     for x, y in ds.train:batches{size = 100, binarize = "dynamic"} do ... end
///
/// Images are rows of 784 grey levels in [0, 1]. Labels are 1-based class
/// indices (the file's class k is k + 1 here), like every index in qvlua's
/// Lua API, so `logp:gather(2, y:view(-1, 1))` and `logits:argmax(2):eq(y)`
/// work directly. `qv.data.classes.fmnist[y]` names a Fashion-MNIST class.
final class DataSplitsObject {
    let splits: DatasetSplits
    let train: ImageSetObject, valid: ImageSetObject, test: ImageSetObject
    init(_ s: DatasetSplits) {
        splits = s
        train = ImageSetObject(s.train, "train"); valid = ImageSetObject(s.valid, "valid"); test = ImageSetObject(s.test, "test")
    }
}

final class ImageSetObject {
    let set: ImageSet
    let name: String
    init(_ s: ImageSet, _ name: String) { set = s; self.name = name }
}

/// Loaded datasets, shared while any Lua object holds them (a second
/// `qv.data.load` of the same files does not read them again).
private final class WeakSplits { weak var value: DataSplitsObject?; init(_ v: DataSplitsObject) { value = v } }
private nonisolated(unsafe) var loadedSplits: [String: WeakSplits] = [:]

extension QV {
    public static func openData(_ state: LuaState) {
        let data = state.module("qv.data", doc: """
            qv.data — datasets. qv.data.load(name [, {dir=, validation=10000}]) -> splits with .train, .valid, .test.
            Labels are 1-based class indices (file label + 1).
            """)
        let setClass = LuaClass<ImageSetObject>("qv.data.Set", doc: """
            qv.data.Set — images (rows of grey levels in [0, 1]) and 1-based labels.
            #set, set:images(first, count), set:labels(first, count), set:batches{size=100, binarize="dynamic", shuffle=true}
            """)
            .method("images", doc: "set:images([first=1 [, count=all]]) -> Tensor\nImages first..first+count-1 as a [count, rows*cols] tensor of grey levels.") { s, a in
                let (lo, n) = try range(s, a)
                let p = s.set.pixels
                return .object(try Tensor(Array(s.set.images[(lo * p)..<((lo + n) * p)]), shape: [n, p]))
            }
            .method("labels", doc: "set:labels([first=1 [, count=all]]) -> Tensor\nLabels as 1-based class indices (float values), shape [count].") { s, a in
                let (lo, n) = try range(s, a)
                return .object(Tensor(s.set.labels[lo..<(lo + n)].map { Float($0) + 1 }))
            }
            .method("subset", doc: "set:subset([first=1 [, count=all]]) -> qv.data.Set\nExamples first..first+count-1 as a set of their own (e.g. a small training set for tests).") { s, a in
                let (lo, n) = try range(s, a)
                return .object(ImageSetObject(s.set.slice(lo..<(lo + n)), "\(s.name)[\(lo + 1)..\(lo + n)]"))
            }
            .method("batches", doc: """
                set:batches{size=100, binarize="none", shuffle=true, drop_last=false, threshold=0.5, seed=0} -> iterator
                for x, y in set:batches{...}: x a [B, pixels] tensor, y [B] 1-based labels. Shuffling and "dynamic"
                binarization (a fresh Bernoulli draw per batch) use the global generator, so qv.seed reproduces the run;
                "static" binarizes each image once (fixed by seed), "threshold" is pixel > threshold, "none" grey levels.
                """) { s, a in
                let o = try a.options(1, allowed: ["size", "binarize", "shuffle", "drop_last", "threshold", "seed"])
                let size = try o.int("size", default: 100)
                let bz = try o.string("binarize", default: "none")
                let bin: Binarization
                switch bz {
                case "none": bin = .none
                case "dynamic": bin = .dynamic
                case "static": bin = .fixed(seed: UInt64(bitPattern: Int64(try o.int("seed", default: 0))))
                case "threshold": bin = .threshold(try o.float("threshold", default: 0.5))
                default:
                    throw ArgumentError("bad option 'binarize' to '\(a.function)' (expected 'none', 'dynamic', 'static' or 'threshold', got '\(bz)')")
                }
                let shuffle = try o.bool("shuffle", default: true), dropLast = try o.bool("drop_last", default: false)
                let it = try modelOp(a, renamed: ["batchSize": "size"]) {
                    try BatchIterator(s.set, batchSize: size, binarization: bin, shuffle: shuffle, dropLast: dropLast,
                                      generator: &GlobalRandom.generator)
                }
                return .function(name: "qv.data.Set:batches iterator") { _ in
                    guard let b = try it.next(generator: &GlobalRandom.generator) else { return .nil }
                    return .values(.object(b.images), .object(Tensor(b.labels.map { Float($0) + 1 })))
                }
            }
            .property("count", doc: "number of examples", get: { s in .int(s.set.count) })
            .property("rows", doc: "image height", get: { s in .int(s.set.rows) })
            .property("cols", doc: "image width", get: { s in .int(s.set.cols) })
            .property("pixels", doc: "rows * cols", get: { s in .int(s.set.pixels) })
            .len { s in .int(s.set.count) }
            .tostring { s in "qv.data.Set(\(s.name), \(s.set.count) images of \(s.set.rows)x\(s.set.cols))" }
            .extraBytes { s in s.set.images.count * 4 }
        data.add(setClass)
        let splitsClass = LuaClass<DataSplitsObject>("qv.data.Splits", doc: "qv.data.Splits — .train, .valid, .test sets of one dataset (qv.data.load).")
            .property("train", doc: "training set", get: { d in .object(d.train) })
            .property("valid", doc: "validation set (the end of the training file)", get: { d in .object(d.valid) })
            .property("test", doc: "test set", get: { d in .object(d.test) })
            .property("name", doc: "\"mnist\" or \"fmnist\"", get: { d in .string(d.splits.kind.rawValue) })
            .property("dir", doc: "directory the files were read from", get: { d in .string(d.splits.directory) })
            .tostring { d in "qv.data.Splits(\(d.splits.kind.rawValue): train \(d.train.set.count), valid \(d.valid.set.count), test \(d.test.set.count))" }
        data.add(splitsClass)

        data.fn("load", doc: """
            qv.data.load(name [, {dir=, validation=10000}]) -> qv.data.Splits
            Loads "fmnist" (default directory /usr/share/datasets/fashion-mnist) or "mnist" (dir required) from IDX files
            (.gz or not), checking the published checksums. validation examples come from the end of the training file.
            """) { a in
            let name = try a.choice(1, "name", ["fmnist", "fashion-mnist", "mnist"])
            let o = try a.options(2, allowed: ["dir", "validation"])
            let kind: DatasetKind = name == "mnist" ? .mnist : .fashionMNIST
            let dir = try o.optionalString("dir")
            let validation = try o.int("validation", default: 10_000)
            let key = "\(kind.rawValue)|\(dir ?? "")|\(validation)"
            if let cached = loadedSplits[key]?.value { return .object(cached) }
            do {
                let s = DataSplitsObject(try DatasetSplits.load(kind, directory: dir, validation: validation))
                loadedSplits[key] = WeakSplits(s)
                return .object(s)
            } catch let e as DatasetError {
                throw LuaError("qv.data.load: \(e)")
            }
        }
        _ = try? data.set("classes", .table([
            "fmnist": .strings(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]),
            "mnist": .strings((0...9).map { String($0) }),
        ]), doc: "qv.data.classes.fmnist[y] / .mnist[y] — class names by 1-based label")
    }

    private static func range(_ s: ImageSetObject, _ a: Arguments) throws -> (Int, Int) {
        let n = s.set.count
        let first = try a.int(1, "first", default: 1)
        guard first >= 1, first <= n + 1 else { throw a.argumentError(1, "first", "index \(first) is out of range 1..\(n)") }
        let count = try a.int(2, "count", default: n - first + 1)
        guard count >= 0, first - 1 + count <= n else {
            throw a.argumentError(2, "count", "\(first)+\(count)-1 exceeds the set size \(n)")
        }
        return (first - 1, count)
    }
}
