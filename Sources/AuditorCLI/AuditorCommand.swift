// The `auditor` command tree.
import Audit
import ArgumentParser
import Foundation

public struct AuditorCommand: ParsableCommand {
    public static let version = auditorVersion
    public static let configuration = CommandConfiguration(
        commandName: "auditor",
        abstract: "Audit language models for privacy leaks, on a CPU.",
        discussion: """
            CHECKPOINT is a GGUF file, or a Hugging Face directory with config.json, model.safetensors \
            (or a sharded index) and tokenizer.json. When it is left out, the cached SmolLM2-135M-Instruct \
            (set up by scripts/setup.sh) is used, or $AUDITOR_MODEL when set.
            Exit codes: 0 success, 1 an audit threshold breached, 2 bad input (the message names the file and the problem), 64 usage error.
            """,
        version: version,
        subcommands: [AuditCommand.self, MetricsCommand.self, HistoryCommand.self, DiffCommand.self, ReportCommand.self, Inspect.self, Convert.self, Finetune.self, Score.self, Generate.self, MIACommand.self, Extract.self, CanaryCommand.self, TrapsCommand.self, GhostCommand.self, DatasetInferenceCommand.self, PIICommand.self, DPCommand.self, UnlearnCommand.self, CompareCommand.self])
    public init() {}

    /// Parses and runs the command line; a first argument that names no subcommand but is close to one is a usage
    /// error (exit 64) that suggests it. Anything else is left to the argument parser's own message.
    public static func main() {
        // A file-size limit (ulimit -f) would otherwise kill the process with SIGXFSZ midway through a write, leaving
        // half-written output; ignored, the write fails with EFBIG and the error path cleans up and says so.
        signal(SIGXFSZ, SIG_IGN)
        if let message = unknownCommand(Array(CommandLine.arguments.dropFirst())) {
            FileHandle.standardError.write(Data("Error: \(message)\nSee 'auditor --help'.\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        main(nil)
    }

    /// "unknown command 'X'; did you mean 'Y'?" when `arguments` starts with a word that is not a subcommand but is
    /// a typo away from one.
    static func unknownCommand(_ arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-") else { return nil }
        let near = suggestions(for: first, among: configuration.subcommands.map { $0._commandName } + ["help"])
        return near.isEmpty ? nil : "unknown command '\(first)'\(didYouMean(near))"
    }
}
