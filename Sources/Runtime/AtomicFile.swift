#if canImport(Glibc)
import Glibc
#endif

/// Writing files so that a killed process or a crash never leaves a torn
/// one: every file qvlua writes (checkpoints, pictures, graphs, summaries)
/// goes through `AtomicFile.write`.
///
/// The data goes to a new temporary file in the target's directory, which
/// is flushed to disk (fsync) and renamed over the target; the directory is
/// then flushed so the rename itself survives a crash. A target that exists
/// but is not a regular file (a directory, FIFO, device node or socket) is
/// refused, never replaced. On any failure the temporary file is removed.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try bytes.withUnsafeBytes { try write($0, to: path) }
    }

    /// Writes the UTF-8 of `text` to `path` atomically.
    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Writes the bytes in `buffer` to `path` atomically.
    public static func write(_ buffer: UnsafeRawBufferPointer, to path: String) throws {
        guard !path.isEmpty else { throw FileError("cannot write '': empty path") }
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
            throw FileError("refusing to replace '\(path)': it is \(kind(st.st_mode)), not a regular file")
        }
        let (dir, name) = split(path)
        let tmp = "\(dir)/.\(name).tmp-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 16))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw FileError("cannot write '\(path)': cannot create a temporary file in '\(dir)': \(errorText())") }
        var failure: String?
        var done = 0
        while done < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { failure = errorText(); break }
            done += n
        }
        if failure == nil && fsync(fd) != 0 { failure = errorText() }
        if close(fd) != 0 && failure == nil { failure = errorText() }
        if failure == nil && rename(tmp, path) != 0 { failure = errorText() }
        if let failure {
            unlink(tmp)
            throw FileError("cannot write '\(path)': \(failure)")
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Removes the temporary files that killed writers left in `dir`
    /// (`.NAME.tmp-PID-XXXX` whose process no longer exists); returns how
    /// many. Files of live processes, and everything else, are left alone.
    @discardableResult
    public static func removeStaleTemporaries(in dir: String) -> Int {
        guard let d = opendir(dir) else { return 0 }
        defer { closedir(d) }
        var removed = 0
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("."), let r = name.ranges(of: ".tmp-").last else { continue }
            let rest = name[r.upperBound...].split(separator: "-")
            guard rest.count == 2, let pid = Int32(rest[0]), pid > 0 else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            if unlink("\(dir)/\(name)") == 0 { removed += 1 }
        }
        return removed
    }

    /// The directory (`.` when none is given) and file name of `path`.
    private static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }
}

/// A file could not be written; the message names the path and the reason.
public struct FileError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
