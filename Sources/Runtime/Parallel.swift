import Dispatch
import Synchronization

/// Work splitting over the machine's cores.
public enum Parallel {
    /// Number of worker threads used by parallel kernels.
    public nonisolated(unsafe) static var threads: Int = max(1, min(ProcessInfoShim.cores, 64))

    /// Calls `body(chunkIndex, range)` for `chunks` contiguous pieces of
    /// `0..<count`, concurrently when there is more than one thread and
    /// `count >= minimum`. The split depends only on `count` and `chunks`,
    /// never on the number of threads, so per-chunk random streams give
    /// the same result on any machine.
    public static func forEachChunk(count: Int, chunks: Int, minimum: Int = 1,
                                    _ body: (Int, Range<Int>) -> Void) {
        let k = max(1, min(chunks, count))
        func range(_ c: Int) -> Range<Int> { chunkRange(c, count: count, chunks: chunks) }
        if k == 1 || threads == 1 || count < minimum || inBlock {
            for c in 0..<k { body(c, range(c)) }
        } else {
            DispatchQueue.concurrentPerform(iterations: k) { c in body(c, range(c)) }
        }
    }

    /// Chunk c of `forEachChunk(count:chunks:)`'s split of `0..<count`.
    public static func chunkRange(_ c: Int, count: Int, chunks: Int) -> Range<Int> {
        let k = max(1, min(chunks, count))
        return (count * c / k)..<(count * (c + 1) / k)
    }

    /// Splits `0..<count` into one piece per thread (for kernels with no
    /// randomness, where the split does not affect the result).
    public static func forEachRange(count: Int, minimum: Int, _ body: (Range<Int>) -> Void) {
        let k = count >= minimum ? threads : 1
        forEachChunk(count: count, chunks: k, minimum: minimum) { _, r in body(r) }
    }

    /// Calls `body(block, range)` for one block of `0..<count` per thread
    /// (one block when there are fewer than `minimum` items per thread, or
    /// when already inside a block), concurrently, with OpenBLAS on one
    /// thread and the parallel loops `body` reaches running inline on its
    /// thread. For kernels that alternate copies and GEMMs on batches of
    /// images: split into a sequence of parallel loops and threaded GEMMs,
    /// the engine's threads and OpenBLAS's take turns on the cores (on two
    /// threads P-conv's native convolution passes ran no faster than on
    /// one). The first error thrown by a block is rethrown.
    public static func forEachBlock(count: Int, minimum: Int = 2, _ body: (Int, Range<Int>) throws -> Void) throws {
        let k = blocks(count: count, minimum: minimum)
        if k == 1 { return try body(0, 0..<count) }
        let failure = Mutex<(any Error)?>(nil)
        BLASKernels.withThreads(1) {
            DispatchQueue.concurrentPerform(iterations: k) { c in
                pthread_setspecific(blockKey, UnsafeRawPointer(bitPattern: 1))
                defer { pthread_setspecific(blockKey, nil) }
                do { try body(c, chunkRange(c, count: count, chunks: k)) }
                catch { failure.withLock { if $0 == nil { $0 = error } } }
            }
        }
        if let e = failure.withLock({ $0 }) { throw e }
    }

    /// The number of blocks `forEachBlock(count:minimum:)` makes (to size
    /// per-block partial results beforehand).
    public static func blocks(count: Int, minimum: Int = 2) -> Int {
        threads > 1 && !inBlock && count >= threads * Swift.max(minimum, 1) ? threads : 1
    }

    /// Whether this thread is running a `forEachBlock` block.
    static var inBlock: Bool { pthread_getspecific(blockKey) != nil }
    private static let blockKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
}

enum ProcessInfoShim {
    static var cores: Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif
