#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock on a file (`flock`), held until `release()`
/// or deinit. The kernel drops it when the process dies, so a killed run
/// never leaves a stale lock behind. The holder's pid is written into the
/// file, for the message another process gets.
public final class FileLock {
    public let path: String
    private var fd: Int32

    /// Takes the lock or throws at once (never waits): a `TensorError`
    /// naming the path and, when known, the pid that holds it.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TensorError("cannot open lock file '\(path)': \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            let holder = FileLock.readPid(fd)
            close(fd)
            fd = -1
            if err == EWOULDBLOCK {
                if holder == Int(getpid()) {
                    throw TensorError("'\(path)' is locked by another object of this process (release or close it first)")
                }
                throw TensorError("'\(path)' is locked by another process\(holder.map { " (pid \($0))" } ?? "")")
            }
            throw TensorError("cannot lock '\(path)': \(String(cString: strerror(err)))")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Whether the lock is still held by this object.
    public var isHeld: Bool { fd >= 0 }

    /// Releases the lock (idempotent). The file stays: removing it would
    /// race with a process that has just opened it.
    public func release() {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }

    private static func readPid(_ fd: Int32) -> Int? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard n > 0 else { return nil }
        return Int(String(decoding: buf[0..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self))
    }
}
