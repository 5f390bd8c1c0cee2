// Shared CLI pieces: the checkpoint argument, error reporting with exit code 2, atomic output files.
import Audit
import ArgumentParser
import Foundation
import LM
import Model
import Remote
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
        // "--k 0.2 0.5" leaves 0.5 to the positional CHECKPOINT: say so rather than "no such file".
        if let c = checkpoint, Double(c) != nil, !FileManager.default.fileExists(atPath: c) {
            throw ValidationError("CHECKPOINT '\(c)' is a number, not a file: an option takes one value, so give several "
                                  + "joined by commas (--k 0.2,0.5)")
        }
    }

    func load() throws -> LanguageModel {
        BLAS.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let p = path
        if checkpoint == nil && !FileManager.default.fileExists(atPath: p) {
            throw ModelError(file: p, "the default checkpoint is not cached: run scripts/setup.sh first, or pass CHECKPOINT")
        }
        return try loadCheckpoint(p)
    }
}

/// A served model instead of a checkpoint: an OpenAI-compatible server (vLLM) at --endpoint.
struct EndpointOptions: ParsableArguments {
    @Option(help: "Base URL of an OpenAI-compatible server (vLLM) serving the model to audit, e.g. http://127.0.0.1:8000.")
    var endpoint: String?
    @Option(help: "The served model's name, as the server's /v1/models lists it (with --endpoint).")
    var servedModel: String?
    @Option(help: "A local tokenizer.json for the served model, checked against the server's (with --endpoint; default: the server's tokenizer).")
    var servedTokenizer: String?
    @Option(help: "Name of the environment variable holding the server's API key (with --endpoint).")
    var apiKeyEnv: String?
    @Option(help: "Requests in flight at once (with --endpoint).")
    var concurrency = 4
    @Option(help: "Seconds before a request to the server times out (with --endpoint; it is retried 3 times).")
    var requestTimeout = 120.0

    func validate() throws {
        guard endpoint != nil || (servedModel == nil && servedTokenizer == nil && apiKeyEnv == nil) else {
            throw ValidationError("--served-model, --served-tokenizer and --api-key-env go with --endpoint")
        }
        if endpoint != nil && servedModel == nil { throw ValidationError("--endpoint needs --served-model NAME") }
        guard concurrency >= 1 && concurrency <= 256 else { throw ValidationError("--concurrency must be between 1 and 256") }
        guard requestTimeout > 0 && requestTimeout <= 86_400 else { throw ValidationError("--request-timeout must be in (0, 86400]") }
    }

    var spec: AuditSpec.Endpoint? {
        endpoint.map { AuditSpec.Endpoint(url: $0, model: servedModel ?? "", tokenizer: servedTokenizer, apiKeyEnv: apiKeyEnv,
                                          concurrency: concurrency) }
    }

    func connect() throws -> RemoteModel? {
        guard let endpoint, let servedModel else { return nil }
        return try RemoteModel(RemoteConfig(endpoint: endpoint, model: servedModel, tokenizer: servedTokenizer, apiKeyEnv: apiKeyEnv,
                                            http: HTTPSettings(timeout: requestTimeout, concurrency: concurrency)))
    }
}

/// The model a command audits: the served one when --endpoint is given (then no CHECKPOINT), else the checkpoint.
func loadAuditable(_ model: ModelOptions, _ remote: EndpointOptions) throws -> any AuditableModel {
    if let served = try remote.connect() {
        if let c = model.checkpoint { throw InputError(c, "give either a CHECKPOINT or --endpoint, not both") }
        return served
    }
    return try model.load()
}

/// Runs `body`; bad input becomes one line on stderr and exit code 2, never a crash or a stack trace.
/// Exit codes, one rule: an error that names an option ("--k: ...", a value wrong by itself or for this checkpoint)
/// is a usage error, exit 64 with the argument parser's "Error: ..." and usage lines, like the values `validate()`
/// refuses; an error that names a file (data, spec, manifest, checkpoint) is bad input, exit 2, one line.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch let e as ValidationError {
        throw e
    } catch let e as InputError where e.namesOption {
        throw ValidationError(consoleSafe(e.description))
    } catch {
        // Every input error type (CheckpointError, ModelError, TokenizerError, InputError, SpecError, StoreError, ...)
        // describes itself as "FILE: problem".
        // Paths and names in the message are the user's: their control characters are shown, never obeyed.
        let msg = consoleSafe(String(describing: error))
        FileHandle.standardError.write(Data("auditor: error: \(msg)\n".utf8))
        throw ExitCode(2)
    }
}

/// "auditor: warning: ..." on stderr for each warning (a spec's old spellings, with their file:line).
func printWarnings(_ warnings: [String]) {
    for w in warnings { FileHandle.standardError.write(Data("auditor: warning: \(w)\n".utf8)) }
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
