// Shared CLI pieces: the checkpoint argument, error reporting with exit code 2, JSON Lines input, progress bar.
import ArgumentParser
import Foundation
import Checkpoint
import Model
import Tensor
import Tokenizer

/// Where scripts/setup.sh puts SmolLM2-135M-Instruct.
public func defaultModelPath() -> String {
    if let p = ProcessInfo.processInfo.environment["AUDITOR_MODEL"], !p.isEmpty { return p }
    let cache = ProcessInfo.processInfo.environment["AUDITOR_CACHE"]
        ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/auditor")
    return (cache as NSString).appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

struct ModelOptions: ParsableArguments {
    @Argument(help: "GGUF file or Hugging Face checkpoint directory (default: the cached SmolLM2-135M-Instruct).")
    var checkpoint: String?

    @Option(help: "Threads for matrix products (default: all cores).")
    var threads: Int?

    var path: String { checkpoint ?? defaultModelPath() }

    func validate() throws {
        // BLAS takes an Int32; a larger value would be truncated in the unchecked Tensor module.
        if let threads, threads < 1 || threads > Int(Int32.max) {
            throw ValidationError("--threads must be between 1 and \(Int32.max)")
        }
    }

    func load() throws -> LanguageModel {
        BLAS.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let p = path
        if checkpoint == nil && !FileManager.default.fileExists(atPath: p) {
            throw ModelError(file: p, "the default checkpoint is not cached: run scripts/setup.sh first, or pass CHECKPOINT")
        }
        return try LanguageModel.load(path: p)
    }
}

/// A user-facing input problem that is not a checkpoint's: a JSONL line, an argument value.
struct InputError: Error, CustomStringConvertible {
    let description: String
    init(_ file: String, _ message: String) { description = "\(file): \(message)" }
}

/// Runs `body`; bad input becomes one line on stderr and exit code 2, never a crash or a stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        // Every input error type (CheckpointError, ModelError, TokenizerError, InputError, SpecError, StoreError, ...)
        // describes itself as "FILE: problem".
        let msg = String(describing: error)
        FileHandle.standardError.write(Data("auditor: error: \(msg)\n".utf8))
        throw ExitCode(2)
    }
}

/// Reads a JSON Lines file of objects and returns the string field `field` of each (blank lines skipped).
/// Also returns each object's "id" when it is a string or a number, to echo in the output.
func readJSONLTexts(_ path: String, field: String) throws -> [(id: Any?, text: String)] {
    guard let data = FileManager.default.contents(atPath: path) else { throw InputError(path, "cannot read the file") }
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

/// A progress line on stderr: a redrawn bar with rate and time left on a terminal, a plain line every ~10% otherwise.
final class Progress {
    let total: Int, unit: String
    let start = Date()
    let tty = isatty(2) != 0
    var lastDecile = -1
    init(total: Int, unit: String) { self.total = total; self.unit = unit }

    func update(done: Int, work: Int) {
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(work) / elapsed : 0
        let frac = total > 0 ? Double(done) / Double(total) : 1
        let left = frac > 0 ? elapsed * (1 - frac) / frac : 0
        if tty {
            let width = 30, filled = min(width, max(0, Int(frac * Double(width))))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            // %ld: Swift's Int is 64-bit and %d would print only its low 32 bits.
            let line = String(format: "\r[%@] %ld/%ld  %.0f %@/s  %.0fs left ", bar, done, total, rate, unit, left)
            FileHandle.standardError.write(Data(line.utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let decile = Int(frac * 10)
            if decile > lastDecile {
                lastDecile = decile
                FileHandle.standardError.write(Data(String(format: "progress: %ld/%ld (%.0f %@/s, %.0fs left)\n",
                                                           done, total, rate, unit, left).utf8))
            }
        }
    }
}

/// JSON text of a value built from dictionaries, arrays, strings and numbers, keys sorted.
/// Non-finite numbers (JSON has none) become null.
func jsonLine(_ obj: Any) -> String {
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

/// Writes to a file (replaced atomically at the end) or to stdout.
final class OutputSink {
    private var handle: FileHandle
    private let tmp: String?, final: String?
    init(path: String?) throws {
        if let path {
            let t = path + ".tmp-\(getpid())"
            guard FileManager.default.createFile(atPath: t, contents: nil), let h = FileHandle(forWritingAtPath: t) else {
                throw InputError(path, "cannot write the output file")
            }
            handle = h; tmp = t; final = path
        } else {
            handle = FileHandle.standardOutput; tmp = nil; final = nil
        }
    }
    func write(_ line: String) throws {
        do { try handle.write(contentsOf: Data((line + "\n").utf8)) } catch {
            throw InputError(final ?? "stdout", "cannot write: \(error.localizedDescription)")
        }
    }
    func close() throws {
        guard let tmp, let final else { return }
        // On failure the partial temporary file goes too: an error must leave no stray files behind.
        do { try handle.close() } catch { unlink(tmp); throw InputError(final, "cannot write the output file (\(error))") }
        if rename(tmp, final) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw InputError(final, "cannot move the output into place: \(reason)")
        }
    }
}
