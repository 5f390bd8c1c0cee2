// A little-endian cursor over a mapped file that checks every length before it reads.

struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer, file: String, position: Int = 0) {
        self.bytes = bytes
        self.file = file
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    func error(_ message: String) -> CheckpointError { CheckpointError(file: file, message) }

    /// "truncated: WHAT needs bytes a..b but the file has N bytes", with b saturated for absurd lengths.
    func truncated(_ what: String, start: UInt64, length: UInt64) -> CheckpointError {
        let (end, overflow) = start.addingReportingOverflow(length)
        let endText = overflow ? "\(start)+\(length)" : "\(end)"
        return error("truncated: \(what) needs bytes \(start)..\(endText) but the file has \(bytes.count) bytes")
    }

    /// Throws unless `n` more bytes are available.
    func need(_ n: UInt64, _ what: @autoclosure () -> String) throws {
        if n > UInt64(remaining) { throw truncated(what(), start: UInt64(position), length: n) }
    }

    mutating func skip(_ n: Int) { position += n }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(UInt64(MemoryLayout<T>.size), what())
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return v
    }

    mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 { try load(UInt8.self, what()) }
    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try load(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try load(UInt64.self, what()) }

    /// A u64 length followed by that many bytes of UTF-8 (malformed sequences become U+FFFD).
    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n = try u64("length of \(what())")
        try need(n, what())
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(n)]), as: UTF8.self)
        position += Int(n)
        return s
    }
}
