// Test helpers: GGUF and safetensors byte builders, temp directories, a seeded RNG, and a CheckpointError assertion.
import Checkpoint
import Foundation
import XCTest

/// Writes GGUF v3 bytes (ggml docs/gguf.md) from values and raw tensor bytes; records where each section starts
/// so tests can cut or patch the file at known places.
struct GGUFBuilder {
    struct Tensor {
        var name: String
        var dims: [UInt64]        // ggml order: innermost first
        var type: UInt32          // GGML type id, written as is
        var data: [UInt8]
        var offset: UInt64? = nil // relative to the data section; nil = next aligned position
    }
    struct Layout {
        var kvStart = 0, infoStart = 0, dataStart = 0
        var tensorStarts: [Int] = []  // absolute offsets of each tensor's data
    }

    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var kvs: [(key: String, value: GGUFValue)] = []
    var tensors: [Tensor] = []
    /// Layout alignment; add a `general.alignment` key too when it is not 32.
    var alignment = 32

    func build() -> (bytes: [UInt8], layout: Layout) {
        var b: [UInt8] = magic, layout = Layout()
        b.le(version); b.le(UInt64(tensors.count)); b.le(UInt64(kvs.count))
        layout.kvStart = b.count
        for (key, value) in kvs {
            b.str(key); b.le(Self.typeID(value)); b.value(value)
        }
        layout.infoStart = b.count
        var next: UInt64 = 0, offsets: [UInt64] = []
        for t in tensors {
            let offset = t.offset ?? next
            offsets.append(offset)
            next = (offset + UInt64(t.data.count) + UInt64(alignment) - 1) / UInt64(alignment) * UInt64(alignment)
            b.str(t.name); b.le(UInt32(t.dims.count))
            for d in t.dims { b.le(d) }
            b.le(t.type); b.le(offset)
        }
        while b.count % alignment != 0 { b.append(0) }
        layout.dataStart = b.count
        for (t, offset) in zip(tensors, offsets) {
            let start = layout.dataStart + Int(offset)
            layout.tensorStarts.append(start)
            if start + t.data.count > b.count { b += [UInt8](repeating: 0, count: start + t.data.count - b.count) }
            b.replaceSubrange(start..<start + t.data.count, with: t.data)
        }
        return (b, layout)
    }

    static func typeID(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .u8: return 0
        case .i8: return 1
        case .u16: return 2
        case .i16: return 3
        case .u32: return 4
        case .i32: return 5
        case .f32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .u64: return 10
        case .i64: return 11
        case .f64: return 12
        }
    }
}

extension Array where Element == UInt8 {
    mutating func le<T: FixedWidthInteger>(_ v: T) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    mutating func str(_ s: String) { le(UInt64(s.utf8.count)); append(contentsOf: s.utf8) }
    mutating func value(_ v: GGUFValue) {
        switch v {
        case .u8(let x): le(x)
        case .i8(let x): le(x)
        case .u16(let x): le(x)
        case .i16(let x): le(x)
        case .u32(let x): le(x)
        case .i32(let x): le(x)
        case .f32(let x): le(x.bitPattern)
        case .bool(let x): append(x ? 1 : 0)
        case .string(let s): str(s)
        case .array(let a):
            le(a.first.map(GGUFBuilder.typeID) ?? 0); le(UInt64(a.count))
            for x in a { value(x) }
        case .u64(let x): le(x)
        case .i64(let x): le(x)
        case .f64(let x): le(x.bitPattern)
        }
    }
    /// Overwrites `T` at `offset`, little-endian.
    mutating func patch<T: FixedWidthInteger>(_ offset: Int, _ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { replaceSubrange(offset..<offset + $0.count, with: $0) }
    }
}

/// Raw little-endian bytes of some values.
func bytes<T>(of values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

/// An 8-byte length, the header text as given, then the data buffer.
func safetensorsBytes(header: String, data: [UInt8]) -> [UInt8] {
    var b: [UInt8] = []
    b.le(UInt64(header.utf8.count))
    return b + Array(header.utf8) + data
}

/// SplitMix64: deterministic bytes for quantised blocks.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// A fresh directory per test case, removed afterwards.
class TempDirTestCase: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "checkpoint-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Asserts `body` throws a CheckpointError for `path` whose text contains every fragment (case-insensitive).
    func assertFails(_ path: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error mentioning \(fragments)", file: file, line: line)
        } catch let e as CheckpointError {
            XCTAssertEqual(e.file, path, file: file, line: line)
            XCTAssertTrue(e.description.contains((path as NSString).lastPathComponent), "\(e)", file: file, line: line)
            for f in fragments {
                XCTAssertTrue(e.message.lowercased().contains(f.lowercased()), "'\(e)' lacks '\(f)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }
}

/// The package root, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
