// GGUF v2/v3 reader over a memory map (ggml docs/gguf.md): header, typed key/values, tensor infos, aligned data.

/// A metadata value. Type ids in the file: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string,
/// 9 array, 10 u64, 11 i64, 12 f64.
public indirect enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float), bool(Bool)
    case string(String), array([GGUFValue]), u64(UInt64), i64(Int64), f64(Double)

    /// Any integer type that fits in Int.
    public var int: Int? {
        switch self {
        case .u8(let v): return Int(v)
        case .i8(let v): return Int(v)
        case .u16(let v): return Int(v)
        case .i16(let v): return Int(v)
        case .u32(let v): return Int(v)
        case .i32(let v): return Int(v)
        case .u64(let v): return Int(exactly: v)
        case .i64(let v): return Int(v)
        default: return nil
        }
    }

    /// Floats, and integers (a key written as an integer where a float is expected still reads).
    public var double: Double? {
        switch self {
        case .f32(let v): return Double(v)
        case .f64(let v): return v
        case .u64(let v): return Double(v)
        default: return int.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }

    public var description: String {
        switch self {
        case .u8(let v): return "\(v)"
        case .i8(let v): return "\(v)"
        case .u16(let v): return "\(v)"
        case .i16(let v): return "\(v)"
        case .u32(let v): return "\(v)"
        case .i32(let v): return "\(v)"
        case .u64(let v): return "\(v)"
        case .i64(let v): return "\(v)"
        case .f32(let v): return "\(v)"
        case .f64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let s): return "\"\(s)\""
        case .array(let a): return a.count <= 8 ? "[\(a.map(\.description).joined(separator: ", "))]" : "[\(a.count) values]"
        }
    }
}

/// A GGUF file, mapped and validated at open. Immutable after init; Sendable checked by the compiler.
public final class GGUFFile: TensorStore, Sendable {
    public let path: String
    public let version: UInt32
    /// `general.alignment`, default 32; data section start and every tensor offset are multiples of it.
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    /// In file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    public let tensorNames: [String]
    private let entries: [String: TensorEntry]
    private let map: MappedFile

    public var files: [String] { [path] }

    /// Maps the file and validates the header, every key/value, every tensor info and every tensor's byte range.
    public init(path: String) throws {
        self.path = path
        let map = try MappedFile(path: path)
        self.map = map
        var r = ByteReader(map.bytes, file: path)

        // Header: magic, version, counts.
        try r.need(4, "the magic 'GGUF'")
        let magic = (0..<4).map { map.bytes[$0] }
        guard magic == Array("GGUF".utf8) else {
            throw r.error("bad magic: expected 'GGUF' (47 47 55 46), found \(magic.map { hex($0) }.joined(separator: " ")); not a GGUF file")
        }
        r.skip(4)
        version = try r.u32("the version")
        guard version == 2 || version == 3 else {
            let swapped = version.byteSwapped == 2 || version.byteSwapped == 3
            throw r.error(swapped ? "big-endian GGUF is not supported" : "unsupported GGUF version \(version) (expected 2 or 3)")
        }
        let tensorCount = try r.u64("the tensor count")
        let kvCount = try r.u64("the key/value count")
        // Smallest key/value: u64 key length + u32 type + a 1-byte value. Smallest tensor info: u64 name
        // length + u32 n_dims + u32 type + u64 offset. Checked before any allocation sized by the counts.
        let room = UInt64(r.remaining)
        guard kvCount <= room / 13, tensorCount <= room / 24, kvCount * 13 + tensorCount * 24 <= room else {
            throw r.error("truncated: the header claims \(tensorCount) tensors and \(kvCount) key/values, more than the "
                          + "remaining \(room) bytes can hold (the file has \(map.count) bytes)")
        }

        // Key/values.
        var keys: [String] = [], values: [String: GGUFValue] = [:]
        keys.reserveCapacity(Int(kvCount))
        for i in 0..<Int(kvCount) {
            let key = try r.string("key #\(i)")
            guard values[key] == nil else { throw r.error("duplicate metadata key '\(key)'") }
            let type = try r.u32("the value type of key '\(key)'")
            values[key] = try Self.readValue(&r, type: type, depth: 0, what: "key '\(key)'")
            keys.append(key)
        }
        metadataKeys = keys
        metadata = values

        if let v = values["general.alignment"] {
            guard let a = v.int, a > 0, a & (a - 1) == 0 else {
                throw r.error("general.alignment must be a positive power of two, found \(v)")
            }
            alignment = a
        } else {
            alignment = 32
        }

        // Tensor infos: name, n_dims, dims (innermost first), type, offset relative to the data section.
        var infos: [(name: String, shape: [Int], dtype: DType, offset: UInt64)] = []
        infos.reserveCapacity(Int(tensorCount))
        var seen = Set<String>()
        for i in 0..<Int(tensorCount) {
            let name = try r.string("the name of tensor #\(i)")
            guard seen.insert(name).inserted else { throw r.error("duplicate tensor name '\(name)'") }
            let nDims = try r.u32("n_dims of tensor '\(name)'")
            guard nDims <= 4 else { throw r.error("tensor '\(name)' has n_dims \(nDims); GGUF allows at most 4") }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let n = try r.u64("dimension \(d) of tensor '\(name)'")
                guard let n = Int(exactly: n) else { throw r.error("tensor '\(name)' has dimension \(d) of \(n), too large") }
                dims.append(n)
            }
            let typeID = try r.u32("the type of tensor '\(name)'")
            guard let dtype = DType(ggmlType: typeID) else {
                throw r.error("tensor '\(name)' has unknown or unsupported GGML type id \(typeID)")
            }
            let offset = try r.u64("the offset of tensor '\(name)'")
            infos.append((name, dims.reversed(), dtype, offset))
        }

        // The data section starts at the next multiple of the alignment.
        let (padded, overflow) = r.position.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw r.error("general.alignment \(alignment) is too large") }
        dataOffset = padded & ~(alignment - 1)
        guard infos.isEmpty || dataOffset <= map.count else {
            throw r.truncated("the data section (after padding to \(alignment))", start: UInt64(r.position), length: UInt64(dataOffset - r.position))
        }

        var entries: [String: TensorEntry] = [:]
        for t in infos {
            let elements = try Self.elementCount(t.shape, name: t.name, file: path)
            guard elements % t.dtype.blockSize == 0 else {
                throw r.error("tensor '\(t.name)' has \(elements) elements, not a multiple of the \(t.dtype.rawValue) block size \(t.dtype.blockSize)")
            }
            let (bytes, o1) = (elements / t.dtype.blockSize).multipliedReportingOverflow(by: t.dtype.blockBytes)
            guard !o1 else { throw r.error("tensor '\(t.name)' is too large") }
            guard t.offset % UInt64(alignment) == 0 else {
                throw r.error("tensor '\(t.name)' offset \(t.offset) is not a multiple of the alignment \(alignment)")
            }
            // A cut file and a wild offset look alike: both leave the tensor's bytes past the end.
            let (start, o2) = UInt64(dataOffset).addingReportingOverflow(t.offset)
            guard !o2, start <= UInt64(map.count), UInt64(bytes) <= UInt64(map.count) - start else {
                throw r.truncated("tensor '\(t.name)' (offset \(t.offset) in the data section)",
                                  start: o2 ? t.offset : start, length: UInt64(bytes))
            }
            entries[t.name] = TensorEntry(name: t.name, shape: t.shape, dtype: t.dtype, offset: Int(start), byteCount: bytes, file: path)
        }
        self.entries = entries
        tensorNames = infos.map(\.name)
    }

    // MARK: Metadata

    public func string(_ key: String) -> String? { metadata[key]?.string }
    public func int(_ key: String) -> Int? { metadata[key]?.int }
    public func double(_ key: String) -> Double? { metadata[key]?.double }
    public func bool(_ key: String) -> Bool? { metadata[key]?.bool }

    /// nil unless the key holds an array whose elements are all strings.
    public func stringArray(_ key: String) -> [String]? {
        guard let a = metadata[key]?.array else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a { guard let s = v.string else { return nil }; out.append(s) }
        return out
    }

    /// nil unless the key holds an array whose elements are all integers that fit in Int.
    public func intArray(_ key: String) -> [Int]? {
        guard let a = metadata[key]?.array else { return nil }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for v in a { guard let i = v.int else { return nil }; out.append(i) }
        return out
    }

    // MARK: Tensors

    public func entry(_ name: String) -> TensorEntry? { entries[name] }

    /// The tensor's bytes in the map; valid while this object lives.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let e = entries[name] else { throw unknownTensor(name, in: path) }
        return UnsafeRawBufferPointer(rebasing: map.bytes[e.offset..<e.offset + e.byteCount])
    }

    public func floats(_ name: String) throws -> [Float] {
        guard let e = entries[name] else { throw unknownTensor(name, in: path) }
        return try convertToFloats(e, in: map)
    }

    // MARK: Parsing

    /// Smallest encoding of one value of `type` (for checking array counts against the remaining bytes).
    private static func minimumSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8  // a string is at least its u64 length
        case 9: return 12             // u32 element type + u64 count
        default: return nil
        }
    }

    private static func readValue(_ r: inout ByteReader, type: UInt32, depth: Int, what: @autoclosure () -> String) throws -> GGUFValue {
        switch type {
        case 0: return .u8(try r.u8(what()))
        case 1: return .i8(Int8(bitPattern: try r.u8(what())))
        case 2: return .u16(try r.load(UInt16.self, what()))
        case 3: return .i16(try r.load(Int16.self, what()))
        case 4: return .u32(try r.u32(what()))
        case 5: return .i32(try r.load(Int32.self, what()))
        case 6: return .f32(Float(bitPattern: try r.u32(what())))
        case 7:
            let b = try r.u8(what())
            guard b <= 1 else { throw r.error("\(what()) has bool value \(b) (expected 0 or 1)") }
            return .bool(b == 1)
        case 8: return .string(try r.string(what()))
        case 9:
            guard depth < 8 else { throw r.error("\(what()) nests arrays more than 8 deep") }
            let elementType = try r.u32("the element type of \(what())")
            guard let size = minimumSize(elementType) else {
                throw r.error("\(what()) is an array of unknown value type \(elementType)")
            }
            let count = try r.u64("the element count of \(what())")
            guard count <= UInt64(r.remaining / size) else {
                throw r.truncated("\(what()) (an array of \(count) values of type \(elementType))",
                                  start: UInt64(r.position), length: count.multipliedReportingOverflow(by: UInt64(size)).partialValue)
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for i in 0..<Int(count) {
                values.append(try readValue(&r, type: elementType, depth: depth + 1, what: "\(what())[\(i)]"))
            }
            return .array(values)
        case 10: return .u64(try r.u64(what()))
        case 11: return .i64(try r.load(Int64.self, what()))
        case 12: return .f64(Double(bitPattern: try r.u64(what())))
        default: throw r.error("\(what()) has unknown value type \(type)")
        }
    }

    static func elementCount(_ shape: [Int], name: String, file: String) throws -> Int {
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o else { throw CheckpointError(file: file, "tensor '\(name)' shape \(shape) has too many elements") }
            n = p
        }
        return n
    }
}

private func hex(_ b: UInt8) -> String {
    let s = String(b, radix: 16)
    return s.count == 1 ? "0" + s : s
}
