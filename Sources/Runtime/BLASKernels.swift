import CBLAS
import CSupport
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS kernel selection.
///
/// Debian's OpenBLAS 0.3.21 picks its Haswell kernels on AVX-512 CPUs it
/// does not recognise; with `OPENBLAS_CORETYPE=SkylakeX` it runs its AVX-512
/// kernels, about twice as fast. The choice is made once, when the library
/// loads, before `main` runs, so the only way to change it is to set the
/// variable and re-execute the process.
public enum BLASKernels {
    /// The core type OpenBLAS is running with, e.g. "SkylakeX" or "Haswell".
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Whether the CPU supports the AVX-512 kernels.
    public static var cpuHasAVX512: Bool { qv_cpu_has_avx512f() != 0 }

    /// Re-executes the current process with `OPENBLAS_CORETYPE=SkylakeX`
    /// when the CPU has AVX-512, OpenBLAS chose a slower core, and the user
    /// has not set the variable. Returns only if no re-exec happened.
    public static func relaunchWithFastKernelsIfNeeded() {
        guard getenv("OPENBLAS_CORETYPE") == nil, getenv("QVLUA_NO_RELAUNCH") == nil,
              cpuHasAVX512, !coreName.lowercased().contains("skylakex"),
              !coreName.lowercased().contains("cooperlake"),
              !coreName.lowercased().contains("sapphire") else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        let args = CommandLine.unsafeArgv
        execv("/proc/self/exe", args)
        // execv returned: keep running on the kernels we have.
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// Sets the number of OpenBLAS threads.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
