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

    /// Allocates uninitialized storage for `count` floats.
    public init(count: Int) {
        _ = Storage.mallocTuned
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let rounded = (bytes + 63) & ~63
        guard let raw = aligned_alloc(64, rounded) else {
            fatalError("qvlua: out of memory allocating \(bytes) bytes")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        Storage.live.add(count * MemoryLayout<Float>.stride, ordering: .relaxed)
    }

    /// Allocates storage with every element set to `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(count: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit {
        Storage.live.subtract(count * MemoryLayout<Float>.stride, ordering: .relaxed)
        free(pointer)
    }
}
