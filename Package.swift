// swift-tools-version:6.0
import PackageDescription

/// Numeric targets are always optimized: sampler and tensor kernels in an
/// unoptimized debug build run 10–100× slower, which makes `swift test`
/// impractical for the statistical tests.
let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]
/// Tensor kernels are also compiled for AVX2 + FMA (any x86-64 server CPU
/// since 2013), so elementwise loops vectorize 8 floats wide: training runs
/// 1.45–1.6× faster than a generic x86-64 build (BENCHMARKS.md, "The
/// Haswell flag"). `qvlua` (not compiled with the flag) checks the CPU at
/// start-up and exits with a clear message on one without these features.
let kernels: [SwiftSetting] = [.unsafeFlags(["-O", "-target-cpu", "haswell"])]

let package = Package(
    name: "qvlua",
    products: [
        .executable(name: "qvlua", targets: ["qvlua"]),
        .library(name: "Runtime", targets: ["Runtime"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "LuaBridge", targets: ["LuaBridge"]),
    ],
    targets: [
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4",
                       providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CReadline", pkgConfig: "readline",
                       providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        // oneDNN (Intel's convolution kernels, what PyTorch CPU calls): no
        // pkg-config file in Debian's package; the header is <dnnl.h>.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .target(name: "CSupport"),
        // C loops for what Swift's SIMD types compile poorly (lane selects);
        // no FP contraction, so they match the Swift reference bit for bit.
        .target(name: "CRuntimeKernels",
                cSettings: [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-ffp-contract=off"])]),
        .target(name: "Runtime", dependencies: ["CBLAS", "CDNNL", "CSupport", "CRuntimeKernels"],
                swiftSettings: kernels),
        .target(name: "CModelKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Model", dependencies: ["Runtime", "CModelKernels", "CZlib", "CBLAS"],
                swiftSettings: optimized),
        .executableTarget(name: "bmbench", dependencies: ["Model", "Runtime"],
                          swiftSettings: optimized),
        .executableTarget(name: "vaebench", dependencies: ["Model", "Runtime"],
                          swiftSettings: optimized),
        .target(name: "LuaBridge", dependencies: ["CLua", "CMPI", "CSupport", "Runtime", "Model"]),
        .executableTarget(name: "qvlua", dependencies: ["LuaBridge", "CReadline", "CSupport"]),
        .executableTarget(name: "qvbench", dependencies: ["Runtime", "CBLAS"], swiftSettings: optimized),
        .target(name: "TestSupport", dependencies: ["Runtime"], path: "Tests/TestSupport", swiftSettings: optimized),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"], swiftSettings: optimized),
        .testTarget(name: "ModelTests", dependencies: ["Model", "TestSupport"],
                    resources: [.copy("Resources")], swiftSettings: optimized),
        .testTarget(name: "LuaBridgeTests", dependencies: ["LuaBridge", "CLua", "CSupport", "Runtime"]),
        .testTarget(name: "QvluaTests", dependencies: []),
    ],
    swiftLanguageModes: [.v5]
)
