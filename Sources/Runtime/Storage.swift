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
        guard let raw = Storage.takeCached(rounded) ?? aligned_alloc(64, rounded)
                ?? { Storage.releaseCachedBuffers(); return aligned_alloc(64, rounded) }() else {
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
        let rounded = (Swift.max(count, 1) * MemoryLayout<Float>.stride + 63) & ~63
        if !Storage.cache(UnsafeMutableRawPointer(pointer), bytes: rounded) { free(pointer) }
    }

    // MARK: Reuse of large buffers

    /// A freed buffer kept for reuse: its size (rounded to 64 bytes) and address.
    private struct CachedBuffer: Sendable { let bytes: Int, address: UInt }
    private struct BufferCache: Sendable {
        var buffers: [CachedBuffer] = []
        var bytes = 0
        var limit = Swift.min(1 << 30, Storage.maxBytes / 8)
        /// Drops the oldest buffers until `bytes` ≤ `limit`; returns them (to free outside the lock).
        mutating func evict() -> [CachedBuffer] {
            var n = 0, freed = 0
            while bytes - freed > limit { freed += buffers[n].bytes; n += 1 }
            defer { buffers.removeFirst(n); bytes -= freed }
            return Array(buffers.prefix(n))
        }
    }
    /// Freed buffers of at least `cacheMinimum` bytes, oldest first. A
    /// training loop allocates the same large shapes every step, and a
    /// buffer handed back to the kernel (glibc mmaps everything over
    /// 32 MiB and trims its heap's top beyond 256 MiB) faults every page in
    /// again, zeroed, when the next step allocates it: at P-conv's K·D = 8
    /// (800 decoder rows, activations of 30–64 MB) the kernel's faulting and
    /// page clearing took ≈ 20% of the step's CPU time. A cached buffer
    /// keeps its pages. Contents are not cleared (storage is uninitialized
    /// by contract).
    private static let buffers = Mutex(BufferCache())
    /// Smallest buffer worth caching (malloc's own heap serves smaller ones well).
    public static let cacheMinimum = 1 << 20
    /// Most bytes kept in cached buffers (default 1 GiB, or an eighth of
    /// physical memory when that is less; 0 turns caching off). Setting it
    /// frees the oldest cached buffers beyond the new limit.
    public static var cacheLimit: Int {
        get { buffers.withLock { $0.limit } }
        set {
            let evicted = buffers.withLock { c -> [CachedBuffer] in c.limit = Swift.max(0, newValue); return c.evict() }
            for b in evicted { free(UnsafeMutableRawPointer(bitPattern: b.address)) }
        }
    }

    /// Bytes currently held in cached (freed, not yet reused) buffers.
    public static var cachedBytes: Int { buffers.withLock { $0.bytes } }

    /// Frees every cached buffer (memory goes back to malloc and the kernel).
    public static func releaseCachedBuffers() {
        let all = buffers.withLock { c -> [CachedBuffer] in
            defer { c.buffers = []; c.bytes = 0 }
            return c.buffers
        }
        for b in all { free(UnsafeMutableRawPointer(bitPattern: b.address)) }
    }

    /// The most recently cached buffer of exactly `bytes` bytes, removed from the cache.
    private static func takeCached(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= cacheMinimum else { return nil }
        let address = buffers.withLock { c -> UInt? in
            guard let i = c.buffers.lastIndex(where: { $0.bytes == bytes }) else { return nil }
            c.bytes -= bytes
            return c.buffers.remove(at: i).address
        }
        return address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
    }

    /// Keeps a freed buffer for reuse (evicting and freeing the oldest ones
    /// beyond `cacheLimit`); false when it is too small or too large to keep.
    private static func cache(_ p: UnsafeMutableRawPointer, bytes: Int) -> Bool {
        guard bytes >= cacheMinimum else { return false }
        let evicted = buffers.withLock { c -> [CachedBuffer]? in
            guard bytes <= c.limit else { return nil }
            c.buffers.append(CachedBuffer(bytes: bytes, address: UInt(bitPattern: p)))
            c.bytes += bytes
            return c.evict()
        }
        guard let evicted else { return false }
        for b in evicted { free(UnsafeMutableRawPointer(bitPattern: b.address)) }
        return true
    }
}
