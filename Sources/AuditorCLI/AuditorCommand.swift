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
    /// With AUDITOR_PARSE_ONLY=1 the command line is parsed and validated, the command's name printed, and nothing
    /// run: how the README's command lines are checked against the real parser (Tests/CLITests/ReadmeCommandsTests).
    public static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let message = unknownCommand(arguments) {
            FileHandle.standardError.write(Data("Error: \(message)\nSee 'auditor --help'.\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        if ProcessInfo.processInfo.environment["AUDITOR_PARSE_ONLY"] == "1" {
            do {
                let command = try parseAsRoot(arguments)
                print("parsed: \(type(of: command)._commandName)")
                Foundation.exit(0)
            } catch {
                exit(withError: error)
            }
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
