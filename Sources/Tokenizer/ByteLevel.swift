// GPT-2 byte-to-unicode table: every byte gets a printable code point so that BPE tokens are plain strings.

/// Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to themselves; the other 68 bytes, in ascending order,
/// map to U+0100, U+0101, ... (space -> U+0120 'Ġ', newline -> U+010A 'Ċ').
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var map = [UInt32: UInt8]()
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The byte-level form of raw bytes, e.g. " hi" -> "Ġhi".
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }

    /// The raw bytes of a byte-level string, or nil when some character is outside the table.
    static func decode(_ token: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard let b = scalarToByte[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
