// Shared by the fuzz targets: a private scratch folder (the readers take paths, as the command line gives them) and the
// rule every target checks: an input may be refused with an error, never crash, hang or leak.
import Foundation

public enum Scratch {
    /// $FUZZ_TMP (scripts/fuzz.sh makes one per run and removes it), else a folder under /dev/shm or the temp folder.
    public static let dir: String = {
        let env = ProcessInfo.processInfo.environment
        let base = env["FUZZ_TMP"] ?? (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        let d = (base as NSString).appendingPathComponent("auditor-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// The repository root: $FUZZ_REPO (scripts/fuzz.sh sets it: the build may be made from a mirror of the sources
    /// that holds no fixtures), else found from this source file (Fuzz/Sources/FuzzSupport/Scratch.swift).
    public static let repo: String = {
        if let r = ProcessInfo.processInfo.environment["FUZZ_REPO"], !r.isEmpty { return r }
        var p = #filePath as NSString
        for _ in 0..<4 { p = p.deletingLastPathComponent as NSString }
        return p as String
    }()

    /// Writes `bytes` to `name` in the scratch folder (truncating) and returns its path.
    @discardableResult
    public static func write(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
        let path = (dir as NSString).appendingPathComponent(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "fuzz: cannot write \(path)")
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "fuzz: short write to \(path)")
            done += n
        }
        close(fd)
        return path
    }

    @discardableResult
    public static func write(_ name: String, _ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { write(name, $0) }
    }

    /// Copies a repository file into the scratch folder under `name` (once per process).
    public static func copy(_ repoPath: String, to name: String) {
        let src = (repo as NSString).appendingPathComponent(repoPath)
        guard let data = FileManager.default.contents(atPath: src) else { fatalError("fuzz: missing \(src)") }
        write(name, [UInt8](data))
    }

    public static func mkdir(_ name: String) -> String {
        let d = (dir as NSString).appendingPathComponent(name)
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// The input as bytes (libFuzzer may pass a null pointer with count 0).
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: size == 0 ? nil : data, count: size)
}

/// Splits the input at its first NUL byte: (before, after); (all, empty) when there is none.
public func splitAtNUL(_ b: UnsafeRawBufferPointer) -> ([UInt8], [UInt8]) {
    guard let i = b.firstIndex(of: 0) else { return ([UInt8](b), []) }
    return ([UInt8](b[..<i]), [UInt8](b[(i + 1)...]))
}

/// libFuzzer's entry (LLVM 11+). SwiftPM links an executable's main under another name for testability, so the
/// targets keep their own main.swift and hand libFuzzer the test function here instead of using libFuzzer's main.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// Runs libFuzzer with the process's arguments and `test` as LLVMFuzzerTestOneInput; exits with its status.
public func runFuzzer(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}
