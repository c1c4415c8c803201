import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A reference-counted, 64-byte-aligned buffer of `Float`s shared by a tensor
/// and all of its views.
///
/// `Storage.liveBytes` counts the bytes held by all live storages, so a host
/// language with its own garbage collector (Lua) can see how much memory its
/// small tensor handles keep alive and collect accordingly.
public final class Storage: @unchecked Sendable {
    /// Number of `Float` elements.
    public let count: Int
    /// The first element. Always valid, even when `count == 0`.
    public let pointer: UnsafeMutablePointer<Float>

    private static let live = Atomic<Int>(0)

    /// Bytes currently held by all live storages in the process.
    public static var liveBytes: Int { live.load(ordering: .relaxed) }

    /// Keeps freed tensor buffers in malloc's heap instead of returning
    /// them to the kernel: glibc would otherwise mmap/munmap every buffer
    /// over 128 KiB, and each reuse would fault its pages in again (a
    /// measurable cost for batch-100 activations in a training loop).
    private static let mallocTuned: Bool = {
        #if canImport(Glibc)
        // mallopt is declared in <malloc.h>, which Glibc's module omits.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {  // RTLD_DEFAULT
            let mallopt = unsafeBitCast(sym, to: Mallopt.self)
            _ = mallopt(-3, 32 << 20)   // M_MMAP_THRESHOLD: the glibc maximum
            _ = mallopt(-1, 256 << 20)  // M_TRIM_THRESHOLD
        }
        #endif
        return true
    }()

    /// The most bytes one storage may hold: the machine's physical memory
    /// (a larger buffer could only be paged to death or killed by the
    /// kernel's OOM killer after malloc's optimistic success).
    public static let maxBytes: Int = {
        #if canImport(Glibc)
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        if pages > 0, size > 0 {
            let (b, o) = pages.multipliedReportingOverflow(by: size)
            if !o { return b }
        }
        #endif
        return 1 << 40
    }()

    /// Allocates uninitialized storage for `count` floats, or throws
    /// "cannot allocate N bytes for `what`" when the size is above
    /// `maxBytes` or malloc fails: no size a script can ask for aborts the
    /// process.
    public init(count: Int, for what: String = "a tensor") throws {
        _ = Storage.mallocTuned
        let (bytes, o) = Swift.max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard count >= 0, !o, bytes <= Storage.maxBytes else {
            throw TensorError(Storage.failure(count, what, "more than the machine's physical memory of \(Storage.maxBytes) bytes"))
        }
        let rounded = (bytes + 63) & ~63
        guard let raw = aligned_alloc(64, rounded) else {
            throw TensorError(Storage.failure(count, what, "out of memory"))
        }
        self.count = count
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        Storage.live.add(count * MemoryLayout<Float>.stride, ordering: .relaxed)
    }

    private static func failure(_ count: Int, _ what: String, _ why: String) -> String {
        let (b, o) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        return "cannot allocate \(o || count < 0 ? "\(count) × 4" : String(b)) bytes for \(what) (\(why))"
    }

    /// Allocates storage with every element set to `value`.
    public convenience init(count: Int, repeating value: Float, for what: String = "a tensor") throws {
        try self.init(count: count, for: what)
        pointer.initialize(repeating: value, count: count)
    }

    deinit {
        Storage.live.subtract(count * MemoryLayout<Float>.stride, ordering: .relaxed)
        free(pointer)
    }
}
