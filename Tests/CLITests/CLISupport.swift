// CLI test helpers: run the built `auditor` binary, scratch copies of fixtures, one-line error checks, a GGUF layout map.
import Foundation
import XCTest

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
func fixture(_ rel: String) -> String { repoRoot.appendingPathComponent("Fixtures").appendingPathComponent(rel).path }

/// The directory holding the test bundle and the products `swift test` built beside it (.build/debug).
var productsDirectory: URL {
    #if os(macOS)
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") { return bundle.bundleURL.deletingLastPathComponent() }
    fatalError("cannot find the .xctest bundle")
    #else
    return Bundle.main.bundleURL
    #endif
}

var auditorBinary: URL { productsDirectory.appendingPathComponent("auditor") }

struct RunResult {
    let code: Int32
    let out: String
    let err: String
    /// False when the process died of a signal (a trap, an abort, a segfault).
    let exited: Bool
}

/// The default hang guard of `runAuditor`. Commands on the tiny fixtures take well under a second on a quiet machine;
/// this is over a hundred times that, so that a loaded machine never trips it: a hang guard, not a timing test.
/// A command that takes longer on a quiet machine passes its own `timeout` of at least ten times its quiet duration.
let runTimeoutSeconds = 120

/// Runs the built `auditor` with `args`; stdout and stderr go to files (no pipe can fill up and stall it).
/// COLUMNS is pinned so help text wraps the same everywhere. A run past `timeout` seconds is stopped and fails the test.
@discardableResult
func runAuditor(_ args: [String], timeout: Int = runTimeoutSeconds, in directory: URL? = nil, environment extra: [String: String] = [:],
                file: StaticString = #filePath, line: UInt = #line) -> RunResult {
    let binary = auditorBinary
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        XCTFail("no auditor binary at \(binary.path): run the tests with `swift test`, which builds it", file: file, line: line)
        return RunResult(code: -1, out: "", err: "", exited: false)
    }
    let dir = makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
    let p = Process()
    p.executableURL = binary
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["COLUMNS"] = "80"
    env["LINES"] = "24"
    env.removeValue(forKey: "AUDITOR_MODEL")
    for (k, v) in extra { env[k] = v }
    p.environment = env
    if let directory { p.currentDirectoryURL = directory }
    p.standardInput = FileHandle.nullDevice
    do {
        try Data().write(to: outURL)
        try Data().write(to: errURL)
        let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
        defer { try? outHandle.close(); try? errHandle.close() }
        p.standardOutput = outHandle
        p.standardError = errHandle
        let finished = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in finished.signal() }
        try p.run()
        if finished.wait(timeout: .now() + .seconds(timeout)) == .timedOut {
            p.terminate()
            p.waitUntilExit()
            XCTFail("auditor \(args.joined(separator: " ")) ran past \(timeout) s and was stopped", file: file, line: line)
        }
    } catch {
        XCTFail("cannot run \(binary.path): \(error)", file: file, line: line)
        return RunResult(code: -1, out: "", err: "", exited: false)
    }
    let out = String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self)
    let err = String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
    return RunResult(code: p.terminationStatus, out: out, err: err, exited: p.terminationReason == .exit)
}

extension XCTestCase {
    /// `runAuditor` under the short name (a method, so that it is not shadowed by XCTestCase's own `run()`).
    @discardableResult
    func run(_ args: [String], timeout: Int = runTimeoutSeconds, in directory: URL? = nil, environment: [String: String] = [:],
             file: StaticString = #filePath, line: UInt = #line) -> RunResult {
        runAuditor(args, timeout: timeout, in: directory, environment: environment, file: file, line: line)
    }

    /// A fresh empty directory, removed when the test ends.
    func scratchDirectory() -> URL {
        let u = makeTemporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: u) }
        return u
    }

    /// A copy of Fixtures/`rel` (a file or a directory) in a fresh scratch directory: damage the copy, never the fixture.
    func scratchCopy(_ rel: String) throws -> URL {
        let src = URL(fileURLWithPath: fixture(rel))
        let dst = scratchDirectory().appendingPathComponent(src.lastPathComponent)
        try FileManager.default.copyItem(at: src, to: dst)
        return dst
    }
}

/// The SmolLM2 GGUF that scripts/setup.sh caches; a skip locally when it is missing, a failure in CI (which runs setup).
func cachedSmolLM2() throws -> String {
    let env = ProcessInfo.processInfo.environment
    let model = (env["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor") + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    guard FileManager.default.fileExists(atPath: model) else {
        if env["CI"] != nil { XCTFail("SmolLM2 is not cached: scripts/setup.sh must run before the tests") }
        throw XCTSkip("SmolLM2 not cached; run scripts/setup.sh")
    }
    return model
}

func makeTemporaryDirectory() -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("auditor-cli-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// Writes `lines` joined by newlines (with a final newline) and returns the path.
func writeLines(_ lines: [String], to url: URL) throws -> String {
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
    return url.path
}

/// The signs of a crash rather than a handled error, whatever the exit code says.
func assertNoCrash(_ r: RunResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(r.exited, "\(what): killed by signal \(r.code)\nstderr:\n\(r.err)", file: file, line: line)
    for sign in ["Fatal error", "Program crashed", "Backtrac", "Stack dump", "Current stack trace", "Segmentation fault"] {
        XCTAssertFalse(r.err.contains(sign) || r.out.contains(sign), "\(what): output shows '\(sign)'\nstderr:\n\(r.err)",
                       file: file, line: line)
    }
}

/// Runs `args` and checks the bad-input contract: exit code 2, empty stdout, and stderr exactly one line
/// "auditor: error: `file`: ..." that contains `problem`. Returns that line. `afterProgress`: the error comes
/// after the work started, so "progress: ..." lines may precede it.
@discardableResult
func assertBadInput(_ args: [String], file expectedFile: String, problem: String, afterProgress: Bool = false,
                    file: StaticString = #filePath, line: UInt = #line) -> String {
    let r = runAuditor(args, file: file, line: line)
    let what = "auditor " + args.joined(separator: " ")
    assertNoCrash(r, what, file: file, line: line)
    XCTAssertEqual(r.code, 2, "\(what): exit code\nstderr:\n\(r.err)", file: file, line: line)
    XCTAssertEqual(r.out, "", "\(what): stdout must be empty", file: file, line: line)
    let lines = r.err.split(separator: "\n", omittingEmptySubsequences: false).filter { !(afterProgress && $0.hasPrefix("progress: ")) }
    XCTAssertTrue(r.err.hasSuffix("\n") && lines.count == 2, "\(what): stderr must be exactly one line, got:\n\(r.err)",
                  file: file, line: line)
    let first = String(lines.first ?? "")
    let prefix = "auditor: error: \(expectedFile): "
    XCTAssertTrue(first.hasPrefix(prefix), "\(what): expected the line to start with '\(prefix)', got:\n\(first)", file: file, line: line)
    XCTAssertTrue(first.contains(problem), "\(what): expected '\(problem)' in:\n\(first)", file: file, line: line)
    return first
}

/// SHA-256 hex digest by /usr/bin/sha256sum: independent of the CLI's own swift-crypto hashing.
func sha256sum(_ path: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    p.arguments = [path]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0, let digest = String(decoding: data, as: UTF8.self).split(separator: " ").first else {
        throw NSError(domain: "sha256sum", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "sha256sum \(path) failed"])
    }
    return String(digest)
}

/// Parses JSON Lines output into objects (fails the test on a line that is not a JSON object).
func jsonObjects(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { l in
        guard let o = (try? JSONSerialization.jsonObject(with: Data(l.utf8))) as? [String: Any] else {
            XCTFail("not a JSON object: \(l)", file: file, line: line)
            return nil
        }
        return o
    }
}

// MARK: - GGUF layout

/// Where the parts of a GGUF file lie (ggml docs/gguf.md), found by an independent little parser so that tests
/// can cut or patch the file at a chosen place.
struct GGUFLayout {
    struct TensorInfo {
        let name: String
        let typeOffset: Int     // absolute position of the u32 GGML type id
        let offsetOffset: Int   // absolute position of the u64 data offset
        let dataOffset: UInt64  // relative to the data section
    }
    let headerEnd: Int          // after magic, version, tensor count, key/value count
    let metadataEnd: Int        // after the last key/value
    let tensorInfoEnd: Int
    let alignment: Int
    let dataStart: Int
    let tensors: [TensorInfo]
    let fileSize: Int

    init(_ d: [UInt8]) throws {
        var p = 0
        func need(_ n: Int) throws {
            guard p + n <= d.count else { throw NSError(domain: "GGUFLayout", code: 1, userInfo: [NSLocalizedDescriptionKey: "short file"]) }
        }
        func u32() throws -> UInt32 { try need(4); defer { p += 4 }; return (0..<4).reduce(0) { $0 | UInt32(d[p + $1]) << (8 * $1) } }
        func u64() throws -> UInt64 { try need(8); defer { p += 8 }; return (0..<8).reduce(0) { $0 | UInt64(d[p + $1]) << (8 * $1) } }
        func string() throws -> String { let n = Int(try u64()); try need(n); defer { p += n }; return String(decoding: d[p..<p + n], as: UTF8.self) }
        func skipValue(_ type: UInt32) throws -> Int? {
            switch type {
            case 0, 1, 7: try need(1); p += 1
            case 2, 3: try need(2); p += 2
            case 4, 5, 6: return Int(try u32())
            case 10, 11, 12: return Int(truncatingIfNeeded: try u64())
            case 8: _ = try string()
            case 9:
                let t = try u32(), n = try u64()
                for _ in 0..<n { _ = try skipValue(t) }
            default: throw NSError(domain: "GGUFLayout", code: 2, userInfo: [NSLocalizedDescriptionKey: "value type \(type)"])
            }
            return nil
        }
        guard Array(d.prefix(4)) == Array("GGUF".utf8) else { throw NSError(domain: "GGUFLayout", code: 3) }
        p = 8
        let tensorCount = try u64(), kvCount = try u64()
        headerEnd = p
        var alignment = 32
        for _ in 0..<kvCount {
            let key = try string()
            let value = try skipValue(try u32())
            if key == "general.alignment", let v = value { alignment = v }
        }
        metadataEnd = p
        var tensors: [TensorInfo] = []
        for _ in 0..<tensorCount {
            let name = try string()
            let nDims = try u32()
            p += 8 * Int(nDims)
            let typeOffset = p
            _ = try u32()
            let offsetOffset = p
            tensors.append(TensorInfo(name: name, typeOffset: typeOffset, offsetOffset: offsetOffset, dataOffset: try u64()))
        }
        tensorInfoEnd = p
        self.alignment = alignment
        dataStart = (p + alignment - 1) / alignment * alignment
        self.tensors = tensors
        fileSize = d.count
    }
}

extension Array where Element == UInt8 {
    mutating func putU32(_ v: UInt32, at i: Int) { for k in 0..<4 { self[i + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) } }
    mutating func putU64(_ v: UInt64, at i: Int) { for k in 0..<8 { self[i + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) } }
}

func readBytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
func writeBytes(_ bytes: [UInt8], to url: URL) throws { try Data(bytes).write(to: url) }

/// Runs `args` and checks the usage-error contract for a bad option value: exit code 64, empty stdout, and stderr
/// starting "Error: `option`: " (the argument parser's form) and containing `problem`.
func assertUsageError(_ args: [String], option: String, problem: String, file: StaticString = #filePath, line: UInt = #line) {
    let r = runAuditor(args, file: file, line: line)
    let what = "auditor " + args.joined(separator: " ")
    assertNoCrash(r, what, file: file, line: line)
    XCTAssertEqual(r.code, 64, "\(what): exit code\nstderr:\n\(r.err)", file: file, line: line)
    XCTAssertEqual(r.out, "", "\(what): stdout must be empty", file: file, line: line)
    let first = String(r.err.split(separator: "\n").first { !$0.hasPrefix("progress: ") } ?? "")
    XCTAssertTrue(first.hasPrefix("Error: \(option): "), "\(what): expected 'Error: \(option): ', got:\n\(r.err)", file: file, line: line)
    XCTAssertTrue(first.contains(problem), "\(what): expected '\(problem)' in:\n\(first)", file: file, line: line)
}
