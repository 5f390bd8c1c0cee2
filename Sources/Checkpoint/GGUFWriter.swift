// GGUF v3 writer (ggml docs/gguf.md): little-endian header, typed key/values, tensor infos, data aligned to 32 bytes;
// tensors stored as F32, F16 or Q8_0. Written to a temporary file in the destination's folder, then renamed.

public enum GGUFWriter {
    public static let alignment = 32

    /// Called after each tensor with the tensors and the data bytes written so far.
    public typealias Progress = (_ tensorsDone: Int, _ bytesDone: Int) -> Void

    /// Writes `metadata` (in order; `general.alignment` is left out since 32 is the default) and `tensors`
    /// (row-major shapes of at most 4 dimensions, stored with dims reversed as ggml wants; Q8_0 rows a multiple
    /// of 32 long) to `path`.
    public static func write(metadata: [(key: String, value: GGUFValue)], tensors: [WritableTensor], to path: String,
                             progress: Progress? = nil) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: path, message) }
        var head: [UInt8] = Array("GGUF".utf8)
        head.le(UInt32(3)); head.le(UInt64(tensors.count)); head.le(UInt64(metadata.count))
        var keys = Set<String>()
        for (key, value) in metadata {
            guard keys.insert(key).inserted, key != "general.alignment" else { throw fail("duplicate or reserved metadata key '\(key)'") }
            head.string(key); head.le(value.typeID); head.value(value)
        }
        var names = Set<String>(), offset = 0
        for t in tensors {
            guard names.insert(t.name).inserted else { throw fail("duplicate tensor name '\(t.name)'") }
            guard [.f32, .f16, .q8_0].contains(t.type) else { throw fail("tensor '\(t.name)': GGUF output holds F32, F16 or Q8_0, not \(t.type.rawValue)") }
            guard (1...4).contains(t.shape.count), t.shape.allSatisfy({ $0 > 0 }) else {
                throw fail("tensor '\(t.name)' has shape \(t.shape); GGUF needs 1 to 4 positive dimensions")
            }
            guard t.shape.last! % t.type.blockSize == 0 else {
                throw fail("tensor '\(t.name)' has rows of \(t.shape.last!) values, not a multiple of the \(t.type.rawValue) block size \(t.type.blockSize)")
            }
            head.string(t.name)
            head.le(UInt32(t.shape.count))
            for d in t.shape.reversed() { head.le(UInt64(d)) }
            head.le(t.type.ggmlType!)
            head.le(UInt64(offset))
            offset = padded(offset + t.byteCount)
        }

        let file = try AtomicFile(path)
        try file.write(head)
        try file.zeros(padded(head.count) - head.count)
        var done = 0, bytes = 0
        for t in tensors {
            let values = try t.values()
            guard values.count == t.elementCount else { throw fail("tensor '\(t.name)' has shape \(t.shape) but \(values.count) values") }
            if t.type == .q8_0, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw fail("tensor '\(t.name)' holds \(values[bad]) at index \(bad); Q8_0 needs finite values")
            }
            try file.write(values.withUnsafeBufferPointer { Quantize.encode($0, as: t.type) })
            try file.zeros(padded(t.byteCount) - t.byteCount)
            done += 1; bytes += t.byteCount
            progress?(done, bytes)
        }
        try file.commit()
    }

    static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

extension GGUFValue {
    /// The value type id in the file.
    var typeID: UInt32 {
        switch self {
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

private extension Array where Element == UInt8 {
    mutating func le<T: FixedWidthInteger>(_ v: T) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }

    mutating func string(_ s: String) {
        le(UInt64(s.utf8.count))
        append(contentsOf: s.utf8)
    }

    /// An array's element type is its first element's (u8 for an empty array); mixed arrays are a caller's bug.
    mutating func value(_ v: GGUFValue) {
        switch v {
        case .u8(let x): le(x)
        case .i8(let x): le(x)
        case .u16(let x): le(x)
        case .i16(let x): le(x)
        case .u32(let x): le(x)
        case .i32(let x): le(x)
        case .f32(let x): le(x.bitPattern)
        case .bool(let x): le(UInt8(x ? 1 : 0))
        case .string(let s): string(s)
        case .u64(let x): le(x)
        case .i64(let x): le(x)
        case .f64(let x): le(x.bitPattern)
        case .array(let a):
            let type = a.first?.typeID ?? 0
            precondition(a.allSatisfy { $0.typeID == type }, "a GGUF array holds values of one type")
            le(type)
            le(UInt64(a.count))
            for e in a { value(e) }
        }
    }
}
