// swift-tools-version:6.0
// auditor: privacy auditing and unlearning for language models, on a CPU.
import PackageDescription

// Runtime checks (bounds, overflow, preconditions) stay on everywhere except where a measurement says otherwise.
// Debug: the numeric modules are optimised, still checked, so that test runs on the real checkpoint stay fast.
let optimise: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
// Release: the hot kernels only, unchecked, because the benchmark showed it pays (README "Build settings").
let unchecked: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
// Swift 6 language mode (full data-race checking) for the targets that take it now.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "auditor",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "auditor", targets: ["auditor"]),
        .executable(name: "auditor-bench", targets: ["auditor-bench"]),
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

        .target(name: "Stats", dependencies: [], swiftSettings: optimise + swift6),
        .target(name: "LM", dependencies: [], swiftSettings: swift6),
        .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: optimise + unchecked + swift6),
        .target(name: "Checkpoint", dependencies: [], swiftSettings: optimise + swift6),
        .target(name: "Tokenizer", dependencies: [], swiftSettings: optimise + swift6),
        .target(name: "Model", dependencies: ["Tensor", "Checkpoint", "Tokenizer", "LM", "Stats"], swiftSettings: optimise),
        .target(name: "Attacks", dependencies: ["LM", "Stats", "CZlib"], swiftSettings: optimise),
        .target(name: "Store", dependencies: ["CSQLite"], swiftSettings: swift6),
        .target(name: "Report", dependencies: ["Store", "Stats", "CCmark"], swiftSettings: swift6),
        .target(name: "Audit", dependencies: [
            "Attacks", "LM", "Stats", "Model", "Checkpoint", "Store",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "AuditorCLI", dependencies: [
            "Audit", "Model", "Tensor", "LM", "Stats", "Attacks", "Store", "Report",
            .product(name: "Yams", package: "Yams"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "auditor", dependencies: ["AuditorCLI"]),
        .executableTarget(name: "auditor-bench", dependencies: ["Model", "Tensor", "Checkpoint", "Tokenizer", "LM", "Stats", "Attacks"],
                          swiftSettings: optimise),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Checkpoint"]),
        // An in-memory model behind the attacks' interface, for tests only.
        .target(name: "FakeModels", dependencies: ["LM", "Stats"], path: "Tests/FakeModels", swiftSettings: swift6),

        .testTarget(name: "StatsTests", dependencies: ["Stats"]),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "LM", "Stats", "FakeModels", "Model", "Tensor"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "LM", "Stats", "Tensor", "Checkpoint", "Tokenizer"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"], exclude: ["Snapshots"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Store"], exclude: ["Snapshots"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "Attacks", "LM", "FakeModels", "Store"]),
        .testTarget(name: "CLITests", dependencies: ["AuditorCLI", "Checkpoint", "Stats", "Store"], exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v5]
)
