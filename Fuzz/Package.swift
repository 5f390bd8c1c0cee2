// swift-tools-version:6.0
// libFuzzer targets for auditor's readers of untrusted files. A separate package, so that the normal build and test
// runs never see the fuzzer flags: scripts/fuzz.sh builds it with -sanitize=fuzzer,address and runs one target or all.
import PackageDescription

let package = Package(
    name: "auditor-fuzz",
    dependencies: [.package(name: "auditor", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: []),
        // One executable per reader: its main.swift hands its test function to libFuzzer's driver (FuzzSupport.runFuzzer).
        .executableTarget(name: "fuzz-gguf", dependencies: ["FuzzSupport", .product(name: "AuditorReaders", package: "auditor")]),
        .executableTarget(name: "fuzz-safetensors", dependencies: ["FuzzSupport", .product(name: "AuditorReaders", package: "auditor")]),
        .executableTarget(name: "fuzz-tokenizer", dependencies: ["FuzzSupport", .product(name: "AuditorReaders", package: "auditor")]),
        .executableTarget(name: "fuzz-jsonl", dependencies: ["FuzzSupport", .product(name: "AuditorReaders", package: "auditor")]),
        .executableTarget(name: "fuzz-spec", dependencies: ["FuzzSupport", .product(name: "AuditorReaders", package: "auditor")]),
        .executableTarget(name: "fuzz-canary", dependencies: ["FuzzSupport", .product(name: "AuditorReaders", package: "auditor")]),
    ],
    swiftLanguageModes: [.v5]
)
