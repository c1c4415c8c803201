import CBLAS
import CSupport
#if canImport(Glibc)
import Glibc
#endif

// OpenBLAS entry points exported by libopenblas but not declared in cblas.h:
// re-reading the OPENBLAS_* variables, and ending the worker threads (the
// next threaded call starts them again, with the timeout just read).
@_silgen_name("openblas_read_env") private func openblas_read_env()
@_silgen_name("blas_thread_shutdown_") private func blas_thread_shutdown_() -> Int32

/// OpenBLAS configuration.
///
/// * Kernels: Debian's OpenBLAS 0.3.21 picks its Haswell kernels on AVX-512
///   CPUs it does not recognise; with `OPENBLAS_CORETYPE=SkylakeX` it runs
///   its AVX-512 kernels, about twice as fast. The choice is made once, when
///   the library loads, before `main` runs, so the only way to change it is
///   to set the variable and re-execute the process.
/// * Worker threads: after each threaded call OpenBLAS's workers spin
///   (`sched_yield` loop) for 2^28 cycles (≈ 0.1 s) before sleeping, taking
///   a core from whatever runs next — on a 2-core machine the sampler's
///   sweep kernels ran up to 1.6× slower right after the network's GEMMs.
///   `OPENBLAS_THREAD_TIMEOUT=20` (2^20 cycles ≈ 0.4 ms) keeps them hot
///   between a step's back-to-back GEMMs but idle during the sampler (see
///   BENCHMARKS.md, "Boltzmann machines and samplers").
public enum BLASKernels {
    /// The core type OpenBLAS is running with, e.g. "SkylakeX" or "Haswell".
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Whether the CPU supports the AVX-512 kernels.
    public static var cpuHasAVX512: Bool { qv_cpu_has_avx512f() != 0 }

    /// log2 of the spin time (CPU cycles) of idle OpenBLAS workers that
    /// `relaunchWithFastKernelsIfNeeded` sets when the user has not set
    /// `OPENBLAS_THREAD_TIMEOUT`.
    public static let defaultThreadTimeout = 20

    /// Configures OpenBLAS and OpenMP for this process, for the executables' `main`:
    ///
    /// * `OPENBLAS_THREAD_TIMEOUT` (when unset) becomes
    ///   `defaultThreadTimeout`, in the environment (inherited by a re-exec
    ///   and by child processes) and for the running library.
    /// * Unless `QVLUA_NO_RELAUNCH` is set, re-executes the process once
    ///   with the variables the libraries read only when they load:
    ///   `OPENBLAS_CORETYPE=SkylakeX` when the CPU has AVX-512, OpenBLAS
    ///   chose a slower core and the variable is unset, and
    ///   `GOMP_SPINCOUNT=defaultOpenMPSpinCount` when neither it nor
    ///   `OMP_WAIT_POLICY` is set.
    ///
    /// Returns only if no re-exec happened; does nothing when nothing needs
    /// changing.
    public static func relaunchWithFastKernelsIfNeeded() {
        let setTimeout = getenv("OPENBLAS_THREAD_TIMEOUT") == nil
        if setTimeout { setenv("OPENBLAS_THREAD_TIMEOUT", "\(defaultThreadTimeout)", 1) }
        var set: [String] = []
        if getenv("QVLUA_NO_RELAUNCH") == nil {
            let core = coreName.lowercased()
            if getenv("OPENBLAS_CORETYPE") == nil, cpuHasAVX512, !core.contains("skylakex"),
               !core.contains("cooperlake"), !core.contains("sapphire") {
                setenv("OPENBLAS_CORETYPE", "SkylakeX", 1); set.append("OPENBLAS_CORETYPE")
            }
            if getenv("OMP_WAIT_POLICY") == nil, getenv("GOMP_SPINCOUNT") == nil {
                setenv("GOMP_SPINCOUNT", "\(defaultOpenMPSpinCount)", 1); set.append("GOMP_SPINCOUNT")
            }
        }
        if !set.isEmpty {
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // execv returned: keep running as configured at start-up.
            for name in set { unsetenv(name) }
        }
        if setTimeout { applyEnvironment() }
    }

    /// How long (busy-wait iterations) idle OpenMP workers — oneDNN's — spin
    /// before sleeping, set through `GOMP_SPINCOUNT` at the re-exec when
    /// neither it nor `OMP_WAIT_POLICY` is set. libgomp's default (300,000,
    /// ~0.1 ms, or forever under OMP_WAIT_POLICY=active) keeps a worker
    /// spinning on the second core while the engine's own kernels and
    /// OpenBLAS want it: with 2 threads P-conv's K·D = 8 step ran 222
    /// images/s (median of 5) with the default, 264 with 10,000 and 249
    /// with OMP_WAIT_POLICY=passive (BENCHMARKS.md, "2 threads").
    public static let defaultOpenMPSpinCount = 10_000

    /// Sets how long idle OpenBLAS workers spin before sleeping, 2^`log2Cycles`
    /// CPU cycles (OpenBLAS clamps to 4...30; its built-in default is 28),
    /// through `OPENBLAS_THREAD_TIMEOUT`. Ends the current workers; the next
    /// threaded BLAS call starts new ones. Call only while no BLAS call runs.
    public static func setThreadTimeout(_ log2Cycles: Int) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "\(log2Cycles)", 1)
        applyEnvironment()
    }

    /// The `OPENBLAS_THREAD_TIMEOUT` in effect (nil: OpenBLAS's default, 28).
    public static var threadTimeout: Int? {
        let v = Int(openblas_thread_timeout())
        return v > 0 ? v : nil
    }

    /// Makes the running OpenBLAS re-read its environment variables and
    /// restart its worker threads with them.
    private static func applyEnvironment() {
        openblas_read_env()
        _ = blas_thread_shutdown_()
    }

    /// Sets the number of OpenBLAS threads.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// The number of OpenBLAS threads.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with `n` OpenBLAS threads, then restores the count (for
    /// kernels that run one single-threaded GEMM per engine thread). Call
    /// only while no other thread uses BLAS.
    public static func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        let saved = threads
        if saved == n { return try body() }
        setThreads(n)
        defer { setThreads(saved) }
        return try body()
    }
}

@_silgen_name("openblas_thread_timeout") private func openblas_thread_timeout() -> Int32
