import CLua
import Foundation
import Runtime

/// Small utilities for training scripts: terminals, directories, and the
/// global generator's state (for an exact resume from a checkpoint).
extension QV {
    public static func openUtil(_ state: LuaState) {
        let qv = state.module("qv")
        qv.fn("isatty", doc: """
            qv.isatty([stream="stdout"]) -> boolean
            Whether "stdout", "stderr" or "stdin" (or a file descriptor number) is a terminal.
            """) { a in
            let fd: Int32
            if a.isNumber(1) { fd = Int32(clamping: try a.int(1, "stream")) } else {
                switch try a.choice(1, "stream", ["stdout", "stderr", "stdin"], default: "stdout") {
                case "stdin": fd = 0
                case "stderr": fd = 2
                default: fd = 1
                }
            }
            return .bool(isatty(fd) != 0)
        }
        qv.fn("mkdir", doc: "qv.mkdir(path) -> true\nCreates a directory and its missing parents (mkdir -p); fine if it exists.") { a in
            let path = try a.string(1, "path")
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw LuaError("qv.mkdir: cannot create '\(path)': \((error as NSError).localizedDescription)")
            }
            return .bool(true)
        }
        qv.fn("exists", doc: "qv.exists(path) -> boolean [, kind]\nWhether path exists; kind is \"file\" or \"directory\".") { a in
            let path = try a.string(1, "path")
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return .bool(false) }
            return .values(.bool(true), .string(isDir.boolValue ? "directory" : "file"))
        }
        qv.fn("write_file", doc: """
            qv.write_file(path, data)
            Writes the string data to path atomically: a temporary file in the same directory,
            flushed to disk, then renamed over path, so a killed run never leaves a torn file.
            Refuses to replace anything that is not a regular file (a directory, FIFO, device).
            """) { a in
            try a.expectAtMost(2)
            let path = try a.string(1, "path")
            let data = try a.bytes(2, "data")
            do { try AtomicFile.write(data, to: path) } catch { throw a.error("\(error)") }
            return .none
        }
        qv.fn("clean_temp_files", doc: """
            qv.clean_temp_files(dir) -> number
            Removes the temporary files that killed writers left in dir (.NAME.tmp-PID-XXXX of processes
            that no longer exist; qvlua writes every file through such a file and a rename). Returns how many.
            """) { a in
            try a.expectAtMost(1)
            return .int(AtomicFile.removeStaleTemporaries(in: try a.string(1, "dir")))
        }
        qv.fn("rng_state", doc: """
            qv.rng_state() -> string
            The global generator's state (64 hex digits); qv.set_rng_state(s) continues the same stream (exact resume).
            """) { a in
            try a.expectAtMost(0)
            return .string(GlobalRandom.generator.stateString)
        }
        qv.fn("set_rng_state", doc: "qv.set_rng_state(s)\nRestores a state returned by qv.rng_state().") { a in
            let s = try a.string(1, "state")
            guard let g = Generator(stateString: s) else {
                throw a.argumentError(1, "state", "expected 64 hex digits from qv.rng_state()")
            }
            GlobalRandom.generator = g
            return .none
        }
        qv.fn("storage_bytes", doc: "qv.storage_bytes() -> number\nBytes held by all live tensor storages (for memory checks).") { _ in
            .int(Storage.liveBytes)
        }
    }
}
