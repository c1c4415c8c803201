import CLua
import Runtime

/// `qv.save` / `qv.load`: safetensors files (readable by PyTorch, NumPy,
/// `safetensors`), written atomically (temporary file, fsync, rename).
extension QV {
    public static func openSerialization(_ state: LuaState) {
        let qv = state.module("qv")
        qv.fn("save", doc: """
            qv.save(path, {name = Tensor, ...} [, {key = "value", ...}])
            Writes the tensors (float32) and string metadata (numbers and booleans are written as strings) to a safetensors file, atomically.
            """) { a in
            let path = try a.string(1, "path")
            let tensors = try a.stringKeyedTensors(2, "tensors")
            let meta = try a.stringKeyedStrings(3, "metadata")
            try a.expectAtMost(3)
            do {
                try SafeTensors.write(tensors, metadata: meta, to: path)
            } catch let e as TensorError {
                throw LuaError("qv.save: cannot write '\(path)': \(stripSafetensors(e.message))")
            } catch {
                throw LuaError("qv.save: \(error)")
            }
            return .none
        }
        qv.fn("load", doc: """
            qv.load(path) -> tensors, metadata
            Reads a safetensors file: a table {name = Tensor, ...} and a table of metadata strings.
            Any dtype is converted to float32. A truncated or corrupt file is an error naming the path.
            """) { a in
            let path = try a.string(1, "path")
            try a.expectAtMost(1)
            let c: SafeTensors.Contents
            do { c = try SafeTensors.read(path) } catch let e as TensorError {
                var m = stripSafetensors(e.message)
                if let r = m.range(of: " (file \(path))") { m.removeSubrange(r) }
                throw LuaError("qv.load: cannot read '\(path)': \(m)")
            }
            var ts: [String: LuaValue] = [:]
            for (n, t) in c.tensors { ts[n] = .object(t) }
            return .values(.table(ts), .table(c.metadata.mapValues { .string($0) }))
        }
    }

    static func stripSafetensors(_ m: String) -> String {
        m.hasPrefix("safetensors: ") ? String(m.dropFirst("safetensors: ".count)) : m
    }
}
