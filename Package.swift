// swift-tools-version:6.0
// auditor: privacy auditing and unlearning for language models, on a CPU.
import PackageDescription

// Runtime checks (bounds, overflow, preconditions) stay on everywhere except where a measurement says otherwise.
// Debug: the numeric modules are optimised, still checked, so that test runs on the real checkpoint stay fast.
let optimise: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
// Release: the hot kernels only, unchecked, because the benchmark showed it pays (README "Build settings").
let unchecked: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
// Every library target is in Swift 6 mode (full data-race checking). The tests stay in Swift 5 mode: several race
// tests share captured state with concurrentPerform workers on purpose, under a lock.
let tests: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "auditor",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "auditor", targets: ["auditor"]),
        .executable(name: "auditor-bench", targets: ["auditor-bench"]),
        // The readers of untrusted files, for the fuzzing package in Fuzz/ (which depends on this one by path).
        .library(name: "AuditorReaders", targets: ["Checkpoint", "Tokenizer", "Model", "Audit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries: module map + shim header + pkg-config, nothing else.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCmark", pkgConfig: "libcmark-gfm",
                       providers: [.apt(["libcmark-gfm-dev", "libcmark-gfm-extensions-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3", providers: [.apt(["libfftw3-dev"])]),

        .target(name: "Stats", dependencies: [], swiftSettings: optimise),
        .target(name: "LM", dependencies: []),
        .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: optimise + unchecked),
        .target(name: "Checkpoint", dependencies: [], swiftSettings: optimise),
        .target(name: "Tokenizer", dependencies: ["Checkpoint"], swiftSettings: optimise),
        .target(name: "Model", dependencies: ["Tensor", "Checkpoint", "Tokenizer", "LM", "Stats"], swiftSettings: optimise),
        .target(name: "Attacks", dependencies: ["LM", "Stats", "CZlib"], swiftSettings: optimise),
        // An OpenAI-compatible server (vLLM) as a backend: URLSession, never the local engine.
        .target(name: "Remote", dependencies: ["LM", "Tokenizer"]),
        .target(name: "Training", dependencies: ["Model", "Tensor", "Checkpoint", "Stats"], swiftSettings: optimise),
        .target(name: "Unlearning", dependencies: ["Training", "Model", "Tensor", "Stats"], swiftSettings: optimise),
        .target(name: "Store", dependencies: ["CSQLite"]),
        // Differential-privacy accountants (RDP, PLD); depends on nothing of the model side.
        .target(name: "Privacy", dependencies: ["CFFTW"], swiftSettings: optimise),
        .target(name: "Experiments", dependencies: ["Audit", "Training", "Unlearning", "Model", "Checkpoint", "Store", "Tensor", "Privacy", "Attacks", "Stats", "LM",
                                                  .product(name: "Yams", package: "Yams")]),
        .target(name: "Report", dependencies: ["Store", "Stats", "CCmark"]),
        .target(name: "Audit", dependencies: [
            "Attacks", "LM", "Stats", "Model", "Remote", "Checkpoint", "Store",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "AuditorCLI", dependencies: [
            "Audit", "Experiments", "Training", "Unlearning", "Model", "Remote", "Tensor", "LM", "Stats", "Attacks", "Store", "Report", "Privacy",
            .product(name: "Yams", package: "Yams"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "auditor", dependencies: ["AuditorCLI"]),
        .executableTarget(name: "auditor-bench", dependencies: ["Model", "Tensor", "Checkpoint", "Tokenizer", "LM", "Stats", "Attacks", "Training", "Unlearning"],
                          // A single-threaded top-level script over C globals (stdout, rusage): Swift 5 mode.
                          swiftSettings: optimise + [.swiftLanguageMode(.v5)]),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"], swiftSettings: tests),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], swiftSettings: tests),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Checkpoint"], swiftSettings: tests),
        // An in-memory model behind the attacks' interface, for tests only.
        .target(name: "FakeModels", dependencies: ["LM", "Stats"], path: "Tests/FakeModels"),

        .testTarget(name: "StatsTests", dependencies: ["Stats"], swiftSettings: tests),
        .testTarget(name: "PrivacyTests", dependencies: ["Privacy"], exclude: ["Fixtures"], swiftSettings: tests),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "LM", "Stats", "FakeModels", "Model", "Tensor"], swiftSettings: tests),
        .testTarget(name: "ModelTests", dependencies: ["Model", "LM", "Stats", "Tensor", "Checkpoint", "Tokenizer"], swiftSettings: tests),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Model", "Stats"], swiftSettings: tests),
        .testTarget(name: "UnlearningTests", dependencies: ["Unlearning", "Training", "Model", "Tensor", "Stats"], swiftSettings: tests),
        .testTarget(name: "StoreTests", dependencies: ["Store"], exclude: ["Snapshots"], swiftSettings: tests),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Store", "Stats"], exclude: ["Snapshots"], swiftSettings: tests),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "Attacks", "LM", "FakeModels", "Store", "Experiments", "Privacy"], swiftSettings: tests),
        // Against a real vLLM server (scripts/vllm-server.sh) found through AUDITOR_VLLM_URL.
        .testTarget(name: "RemoteTests", dependencies: ["Remote", "LM", "Model", "Audit", "Store"], swiftSettings: tests),
        .testTarget(name: "CLITests", dependencies: ["AuditorCLI", "Checkpoint", "Stats", "Store"], exclude: ["Snapshots"], swiftSettings: tests),
    ],
    swiftLanguageModes: [.v6]
)
