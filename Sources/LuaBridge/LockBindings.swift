import CLua
import Runtime

// Exclusive locks on run directories (`qv.lock`, `qv.Lock`).

let lockClass: LuaClass<FileLock> = {
    LuaClass<FileLock>("qv.Lock", doc: """
        qv.Lock — an exclusive lock on a file (qv.lock), held until l:release() or until the object is
        collected or the process ends (the kernel drops it: a killed process leaves no stale lock).
        """)
        .property("path", doc: "the lock file") { l in .string(l.path) }
        .property("held", doc: "whether this object still holds the lock") { l in .bool(l.isHeld) }
        .method("release", doc: "l:release()\nReleases the lock (fine if already released).") { l, args in
            try args.expectAtMost(0)
            l.release()
            return .none
        }
        .tostring { l in "qv.Lock(\(l.path)\(l.isHeld ? "" : ", released"))" }
}()

extension QV {
    /// `qv.lock`: exclusive advisory locks (one writer per run directory).
    public static func openLock(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(lockClass)
        qv.fn("lock", doc: """
            qv.lock(path) -> qv.Lock
            Takes an exclusive lock on the file path (created if missing) or fails at once with an error
            naming the process that holds it. The training library locks OUT/.lock so that two runs never
            write one directory.
            """) { a in
            try a.expectAtMost(1)
            let path = try a.string(1, "path")
            do { return .object(try FileLock(path: path)) } catch let e as TensorError { throw a.error(e.message) }
        }
    }
}
