// SHA-256 of files, streamed (swift-crypto), for provenance in every output that names a checkpoint.
import Crypto
import Foundation

public func sha256(file path: String) throws -> String {
    guard let h = FileHandle(forReadingAtPath: path) else { throw InputError(path, "cannot read the file") }
    defer { try? h.close() }
    var hasher = SHA256()
    while let chunk = try h.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}
