// swift-tools-version:6.0
// auditor: privacy auditing and unlearning for language models, on a CPU.
import PackageDescription

// Numeric modules are optimised in every configuration so that debug test runs on the real checkpoint stay fast.
let optimise: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

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

        .target(name: "Stats", dependencies: [], swiftSettings: optimise),
        .target(name: "LM", dependencies: []),
        .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: optimise),
        .target(name: "Checkpoint", dependencies: [], swiftSettings: optimise),
        .target(name: "Tokenizer", dependencies: [], swiftSettings: optimise),
        .target(name: "Model", dependencies: ["Tensor", "Checkpoint", "Tokenizer", "LM", "Stats"], swiftSettings: optimise),
        .target(name: "Attacks", dependencies: ["LM", "Stats", "CZlib"], swiftSettings: optimise),
        .target(name: "Store", dependencies: ["CSQLite"]),
        .target(name: "Report", dependencies: ["Store", "Stats", "CCmark"]),
        .target(name: "Audit", dependencies: [
            "Attacks", "LM", "Stats", "Model", "Checkpoint", "Store",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "AuditorCLI", dependencies: [
            "Audit", "Model", "Checkpoint", "Tokenizer", "Tensor", "LM", "Stats", "Attacks", "Store", "Report",
            .product(name: "Yams", package: "Yams"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "auditor", dependencies: ["AuditorCLI"]),
        .executableTarget(name: "auditor-bench", dependencies: ["Model", "Tensor", "Checkpoint", "Tokenizer", "LM", "Stats", "Attacks"],
                          swiftSettings: optimise),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Checkpoint"]),
        .testTarget(name: "StatsTests", dependencies: ["Stats"]),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "LM", "Stats", "Model", "Tensor"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "LM", "Stats", "Tensor", "Checkpoint", "Tokenizer"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"], exclude: ["Snapshots"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Store"], exclude: ["Snapshots"]),
        .testTarget(name: "CLITests", dependencies: ["AuditorCLI", "Checkpoint", "Stats", "Store"], exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v5]
)
