// Readers of the user's data files (JSON Lines, word lists, manifests), each error naming the file and the line.
import Attacks
import Checkpoint
import Foundation

/// Reads a JSON Lines file of objects and returns the string field `field` of each (blank lines skipped).
/// Also returns each object's "id" when it is a string or a number, to echo in the output.
public func readJSONLTexts(_ path: String, field: String) throws -> [(id: Any?, text: String)] {
    let data = try readUserFile(path)
    var out: [(Any?, String)] = []
    var lineNo = 0
    for slice in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        lineNo += 1
        var line = Data(slice)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard String(data: line, encoding: .utf8) != nil else { throw InputError(path, "line \(lineNo): not valid UTF-8") }
        if line.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: line, options: [.fragmentsAllowed]) } catch {
            throw InputError(path, "line \(lineNo): not valid JSON")
        }
        if let s = obj as? String { out.append((nil, s)); continue }
        // JSONSerialization keeps the last of two equal keys: which "text" was meant is the user's to say.
        if let d = JSONDuplicateKeys.first(in: line) {
            throw InputError(path, "line \(lineNo): duplicate key \"\(d.key)\"" + (d.path.isEmpty ? "" : " in \(d.path)")
                             + " (a JSON object may hold each key once)")
        }
        guard let o = obj as? [String: Any] else {
            throw InputError(path, "line \(lineNo): expected a JSON object with a \"\(field)\" string or a JSON string")
        }
        guard let v = o[field] else { throw InputError(path, "line \(lineNo): missing field \"\(field)\"") }
        guard let t = v as? String else { throw InputError(path, "line \(lineNo): field \"\(field)\" is not a string") }
        out.append((o["id"], t))
    }
    if out.isEmpty { throw InputError(path, "no texts (the file is empty)") }
    return out
}

/// JSON text of a value built from dictionaries, arrays, strings and numbers, keys sorted.
/// Non-finite numbers (JSON has none) become null.
public func jsonLine(_ obj: Any) -> String {
    func clean(_ v: Any) -> Any {
        switch v {
        case let d as Double: return d.isFinite ? d : NSNull()
        case let f as Float: return f.isFinite ? Double(f) : NSNull()
        case let a as [Any]: return a.map(clean)
        case let o as [String: Any]: return o.mapValues(clean)
        default: return v
        }
    }
    let d = try! JSONSerialization.data(withJSONObject: clean(obj), options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: d, as: UTF8.self)
}

/// Refuses a JSON document (already parsed) with a key repeated in one object, naming its line and key.
func refuseDuplicateKeys(_ d: Data, _ path: String) throws {
    if let dup = JSONDuplicateKeys.first(in: d) { throw InputError(path, dup.description) }
}

public func readWordList(_ path: String) throws -> [String] {
    guard let s = String(data: try readUserFile(path, cannotRead: "cannot read the word list (UTF-8, one word per line)"), encoding: .utf8) else {
        throw InputError(path, "cannot read the word list (UTF-8, one word per line)")
    }
    let w = s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    if w.count < 2 { throw InputError(path, "the word list needs at least 2 words") }
    return w
}

public func readCanaryManifest(_ path: String) throws -> CanaryManifest {
    let d = try readUserFile(path, cannotRead: "cannot read the manifest")
    // One line whatever went wrong: DecodingError's own description is long and can span lines.
    guard (try? JSONSerialization.jsonObject(with: d)) != nil else { throw InputError(path, "not valid JSON (expected a canary manifest)") }
    try refuseDuplicateKeys(d, path)
    let m: CanaryManifest
    do { m = try JSONDecoder().decode(CanaryManifest.self, from: d) } catch let e as DecodingError {
        // canaries[0].repetitions
        func name(_ path: [CodingKey]) -> String {
            let parts: [String] = path.map { k in k.intValue.map { "[\($0)]" } ?? ".\(k.stringValue)" }
            return String(parts.joined(separator: "").drop { $0 == "." })
        }
        let why: String
        switch e {
        case let .keyNotFound(key, ctx): why = "missing \"\(name(ctx.codingPath + [key]))\""
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .dataCorrupted(ctx):
            why = "bad value at \"\(name(ctx.codingPath))\""
        @unknown default: why = "unexpected structure"
        }
        throw InputError(path, "not a canary manifest (\(why))")
    }
    // Checked here, before any model work: a text outside its format or a non-positive count gives false exposures.
    for c in m.canaries {
        guard c.repetitions >= 1 else { throw InputError(path, "canary '\(c.id)': repetitions must be >= 1, got \(c.repetitions)") }
        let f: CanaryFormat
        do { f = try CanaryFormat(c.format, requireWords: false) } catch let e as CanaryError {
            throw InputError(path, "\(c.id): \(e.description)")
        }
        guard f.fits(c.text) else { throw InputError(path, "canary '\(c.id)': text '\(c.text)' does not fit its format '\(c.format)'") }
    }
    return m
}

public func readTrapManifest(_ path: String) throws -> TrapManifest {
    let d = try readUserFile(path, cannotRead: "cannot read the manifest")
    if (try? JSONSerialization.jsonObject(with: d)) != nil { try refuseDuplicateKeys(d, path) }
    do { return try JSONDecoder().decode(TrapManifest.self, from: d) } catch {
        throw InputError(path, "not a trap manifest (\(error))")
    }
}

/// One JSON Lines record: the object (for its other fields) or a bare JSON string, and the line's own bytes.
public struct JSONLRecord {
    public let object: [String: Any]?
    public let text: String
    /// The line as read (without its line break), its 1-based number and the file: `render` splices into it.
    public let line: [UInt8]
    public let lineNumber: Int
    public let path: String

    public init(object: [String: Any]?, text: String, line: [UInt8], lineNumber: Int, path: String) {
        self.object = object; self.text = text; self.line = line; self.lineNumber = lineNumber; self.path = path
    }

    /// The line with `field`'s value (or the whole line, for a bare string) replaced by `newText`: every other byte
    /// (fields, key order, number spellings, escapes, whitespace) is kept as it was.
    public func render(_ newText: String, field: String) throws -> String {
        do {
            let out = try JSONSplice.replacing(field, in: line, oldText: text, with: newText)
            return String(decoding: out, as: UTF8.self)
        } catch let e as JSONSplice.Failure {
            throw InputError(path, "line \(lineNumber): cannot rewrite field \"\(field)\": \(e.description)")
        }
    }
}

/// `readJSONLTexts` (which validates every line and rejects an empty file), keeping each record's other fields.
public func readJSONLRecords(_ path: String, field: String) throws -> [JSONLRecord] {
    let texts = try readJSONLTexts(path, field: field)
    let data = (try? readUserFile(path)) ?? Data()
    var out: [JSONLRecord] = []
    var lineNo = 0
    for slice in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        lineNo += 1
        var line = Data(slice)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
        guard out.count < texts.count else { throw InputError(path, "line \(lineNo): the file changed while it was read") }
        let obj = try? JSONSerialization.jsonObject(with: line, options: [.fragmentsAllowed])
        out.append(JSONLRecord(object: obj as? [String: Any], text: texts[out.count].text, line: [UInt8](line),
                               lineNumber: lineNo, path: path))
    }
    guard out.count == texts.count else { throw InputError(path, "the file changed while it was read") }
    return out
}

public func readGhostManifest(_ path: String) throws -> GhostManifest {
    let d = try readUserFile(path, cannotRead: "cannot read the manifest")
    if (try? JSONSerialization.jsonObject(with: d)) != nil { try refuseDuplicateKeys(d, path) }
    let m: GhostManifest
    do { m = try JSONDecoder().decode(GhostManifest.self, from: d) } catch {
        throw InputError(path, "not a ghost manifest (\(error))")
    }
    if m.passphrases.isEmpty { throw InputError(path, "the manifest has no passphrases") }
    return m
}

/// The manifest must describe this dataset: same SHA-256 when recorded, and every canary present exactly
/// `repetitions` times.
public func checkCanaryDataset(_ m: CanaryManifest, _ dataset: String, field: String = "text", manifest: String) throws {
    if let want = m.datasetSHA256 {
        let got = try sha256(file: dataset)
        if got != want { throw InputError(manifest, "does not match dataset \(dataset): SHA-256 \(got.prefix(12))…, manifest says \(want.prefix(12))…") }
    }
    let texts = try readJSONLTexts(dataset, field: field).map(\.text)
    var counts: [String: Int] = [:]
    for t in texts { counts[t, default: 0] += 1 }
    for c in m.canaries where counts[c.text, default: 0] != c.repetitions {
        throw InputError(manifest, "does not match dataset \(dataset): \(c.id) appears \(counts[c.text, default: 0]) times, manifest says \(c.repetitions)")
    }
}
/// The manifest must describe this dataset: same SHA-256 when recorded, every injected trap present exactly
/// `repetitions` times and every control absent.
public func checkTrapDataset(_ m: TrapManifest, _ dataset: String, field: String, manifest: String) throws {
    let texts = try readJSONLTexts(dataset, field: field).map(\.text)
    if let want = m.datasetSHA256 {
        let got = try sha256(file: dataset)
        if got != want { throw InputError(manifest, "does not match dataset \(dataset): SHA-256 \(got.prefix(12))…, manifest says \(want.prefix(12))…") }
    }
    for t in m.traps {
        let n = texts.reduce(0) { $0 + Traps.occurrences(of: t.text, in: $1) }
        if n != t.repetitions {
            throw InputError(manifest, "does not match dataset \(dataset): \(t.id) appears \(n) times, manifest says \(t.repetitions)")
        }
    }
}
