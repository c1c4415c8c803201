import Dispatch

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
        if k == 1 || threads == 1 || count < minimum {
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
