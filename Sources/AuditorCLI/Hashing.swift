// SHA-256 of files, streamed (swift-crypto), for provenance in every output that names a checkpoint.
import Crypto
import Checkpoint
import Foundation
import Model

public func sha256(file path: String) throws -> String {
    guard let h = FileHandle(forReadingAtPath: path) else { throw InputError(path, "cannot read the file") }
    defer { try? h.close() }
    var hasher = SHA256()
    while let chunk = try h.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return hex(hasher.finalize())
}

public func sha256(data: Data) -> String { hex(SHA256.hash(data: data)) }

/// Lower-case hex of a digest's bytes.
func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 { bytes.map { String(format: "%02x", $0) }.joined() }

/// The tokenizer's SHA-256: of tokenizer.json for a Hugging Face checkpoint; for a GGUF, of its `tokenizer.*`
/// metadata (keys sorted, each value written out in full, strings length-prefixed), which holds the whole tokenizer.
func tokenizerSHA256(_ lm: LanguageModel) throws -> String {
    if lm.format == .safetensors {
        guard let t = lm.files.first(where: { ($0 as NSString).lastPathComponent == "tokenizer.json" }) else {
            throw InputError(lm.path, "no tokenizer.json among the files read")
        }
        return try sha256(file: t)
    }
    let g = try GGUFFile(path: lm.path)
    var hasher = SHA256()
    func put(_ s: String) { let b = Array(s.utf8); put(UInt64(b.count)); hasher.update(data: b) }
    func put(_ n: UInt64) { withUnsafeBytes(of: n.littleEndian) { hasher.update(bufferPointer: $0) } }
    func put(_ v: GGUFValue) {
        switch v {
        case .string(let s): put("s"); put(s)
        case .array(let a): put("a"); put(UInt64(a.count)); a.forEach(put)
        default: put(v.description)
        }
    }
    for k in g.metadataKeys.sorted() where k.hasPrefix("tokenizer.") { put(k); put(g.metadata[k]!) }
    return hex(hasher.finalize())
}
