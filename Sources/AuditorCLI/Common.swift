// Shared CLI pieces: the checkpoint argument, error reporting with exit code 2, atomic output files.
import Audit
import ArgumentParser
import Foundation
import Model
import Tensor

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

/// Refuses a count above `limit` (one of `Limits`) with the bound in the message: huge numbers would otherwise
/// overflow, trap or allocate absurdly later.
func atMost(_ value: Int, _ limit: Int, _ option: String) throws {
    guard value <= limit else { throw ValidationError("\(option) must be at most \(limit)") }
}
