// What an audit records about what it audited: SHA-256 of files (streamed, swift-crypto), the checkpoint's and
// datasets' records, the machine, the version, and where the default checkpoint lives.
import Crypto
import Checkpoint
import Foundation
import Model
import Remote
import Store

/// The version stamped on every run.
public let auditorVersion = "0.1.0"

/// Where scripts/setup.sh puts SmolLM2-135M-Instruct.
public func defaultModelPath() -> String {
    if let p = ProcessInfo.processInfo.environment["AUDITOR_MODEL"], !p.isEmpty { return p }
    let cache = ProcessInfo.processInfo.environment["AUDITOR_CACHE"]
        ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/auditor")
    return (cache as NSString).appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}


public func sha256(file path: String) throws -> String {
    if isDirectory(path) { throw InputError(path, "is a directory, not a file") }
    guard let h = FileHandle(forReadingAtPath: path) else { throw InputError(path, "cannot read the file") }
    defer { try? h.close() }
    var hasher = SHA256()
    while let chunk = try h.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return hex(hasher.finalize())
}

public func sha256(data: Data) -> String { hex(SHA256.hash(data: data)) }

/// Lower-case hex of a digest's bytes.
public func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 { bytes.map { String(format: "%02x", $0) }.joined() }

/// The tokenizer's SHA-256: of tokenizer.json for a Hugging Face checkpoint; for a GGUF, of its `tokenizer.*`
/// metadata (keys sorted, each value written out in full, strings length-prefixed), which holds the whole tokenizer.
public func tokenizerSHA256(_ lm: LanguageModel) throws -> String {
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

public func hostName() -> String { ProcessInfo.processInfo.hostName }

/// "Linux x86_64, 2 cores, 23.4 GiB, host NAME".
public func machineDescription() -> String {
    var u = utsname()
    uname(&u)
    func str<T>(_ t: T) -> String { withUnsafeBytes(of: t) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
    let gib = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
    return "\(str(u.sysname)) \(str(u.machine)), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
        + String(format: "%.1f GiB", gib) + ", host \(hostName())"
}

public func iso8601(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: d)
}

/// The run id: UTC start time and 4 random hex digits, so two audits started in the same second differ.
public func makeRunID(_ d: Date) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC"); f.dateFormat = "yyyyMMdd-HHmmss"
    return f.string(from: d) + "-" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
}

public func checkpointRecord(_ lm: LanguageModel, role: String) throws -> CheckpointRecord {
    let files = try lm.files.map { f -> FileHash in
        let bytes = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? NSNumber)?.int64Value ?? 0
        return FileHash(path: f, sha256: try sha256(file: f), bytes: bytes)
    }
    let combined = files.count == 1 ? files[0].sha256
        : sha256(data: Data(files.map { "\($0.sha256)  \(($0.path as NSString).lastPathComponent)\n" }.sorted().joined().utf8))
    return CheckpointRecord(role: role, path: lm.path, format: lm.format.rawValue, sha256: combined, files: files,
                            tokenizerSHA256: try tokenizerSHA256(lm), architecture: lm.config.architecture.rawValue,
                            parameters: Int64(lm.model.params.count), contextLength: lm.config.maxPositions)
}

/// A served model's record: the endpoint and served name as the path, what the server reports about the model as the
/// architecture, and in place of digests the statement that the weights could not be hashed. A local tokenizer.json
/// (checked against the server's) is hashed.
public func checkpointRecord(_ m: RemoteModel, role: String) throws -> CheckpointRecord {
    let reported = ["root", "owned_by", "parent", "max_model_len", "system_fingerprint"].compactMap { k in m.servedIdentity[k].map { "\(k) \($0)" } }
    let tokenizer = try m.config.tokenizer.map { try sha256(file: $0) } ?? "not hashed: the server's own tokenizer (/tokenize)"
    return CheckpointRecord(role: role, path: "\(m.config.endpoint) (served model \(m.config.model))", format: "endpoint",
                            sha256: "not available: the weights are served remotely and could not be hashed", files: [],
                            tokenizerSHA256: tokenizer,
                            architecture: "served (parameter count unknown, recorded as 0); the server reports "
                                + (reported.isEmpty ? "nothing more" : reported.joined(separator: ", ")),
                            parameters: 0, contextLength: m.contextLength)
}

public func datasetRecord(_ role: String, _ path: String, _ n: Int) throws -> DatasetRecord {
    DatasetRecord(role: role, path: path, sha256: try sha256(file: path), texts: n)
}
