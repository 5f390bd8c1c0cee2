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
        // A file-size limit (ulimit -f) would otherwise kill the process with SIGXFSZ midway through a write, leaving
        // half-written output; ignored, the write fails with EFBIG and the error path cleans up and says so.
        signal(SIGXFSZ, SIG_IGN)
        let arguments = joiningNegativeValues(Array(CommandLine.arguments.dropFirst()))
        if let message = unknownCommand(arguments) {
            FileHandle.standardError.write(Data("Error: \(message)\nSee 'auditor --help'.\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        if let (message, command) = unknownOption(arguments) {
            FileHandle.standardError.write(Data("Error: \(consoleSafe(message))\nSee '\(command) --help'.\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        if ProcessInfo.processInfo.environment["AUDITOR_PARSE_ONLY"] == "1" {
            do {
                let command = try parseAsRoot(arguments)
                print("parsed: \(type(of: command)._commandName)")
                Foundation.exit(0)
            } catch {
                exitShowingSafely(error)
            }
        }
        // The argument parser's own main, except that its error text passes through `consoleSafe`: an unknown option
        // or a bad value is quoted in the message, and its control characters must be shown, not obeyed.
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            exitShowingSafely(error)
        }
    }

    /// The argument parser's exit for `error` (help and version print to stdout with 0), its message made console-safe.
    static func exitShowingSafely(_ error: Error) -> Never {
        let code = exitCode(for: error), text = fullMessage(for: error)
        if code == .success {
            if !text.isEmpty { print(text) }
        } else if !text.isEmpty {
            let safe = text.split(separator: "\n", omittingEmptySubsequences: false).map { consoleSafe(String($0)) }
            FileHandle.standardError.write(Data((safe.joined(separator: "\n") + "\n").utf8))
        }
        Foundation.exit(code.rawValue)
    }

    /// "--k -0.2" becomes "--k=-0.2": a negative number after a long option is that option's value, which the
    /// argument parser would otherwise read as short options ("unknown option '-0'"); the option's own check then
    /// names it and its range. No option or flag of auditor is spelt like a number, so nothing else reads differently.
    /// Nothing after "--" is touched.
    static func joiningNegativeValues(_ args: [String]) -> [String] {
        var out: [String] = [], i = 0
        func isNegativeNumber(_ s: String) -> Bool {
            let c = Array(s)
            return c.count >= 2 && c[0] == "-" && (c[1].isASCII && c[1].isNumber || c[1] == "." && c.count >= 3 && c[2].isASCII && c[2].isNumber)
        }
        while i < args.count {
            let a = args[i]
            if a == "--" { out += args[i...]; break }
            if a.hasPrefix("--"), a.count > 2, !a.contains("="), i + 1 < args.count, isNegativeNumber(args[i + 1]) {
                out.append(a + "=" + args[i + 1]); i += 2; continue
            }
            out.append(a); i += 1
        }
        return out
    }

    /// "unknown option '--refrences' for 'auditor canary exposure'; did you mean '--references'?" when an argument
    /// names no option of its command but is a typo away from one. The parser suggests too, but not when the option's
    /// value is taken for a positional argument first (`canary exposure --refrences 10`: "CHECKPOINT '10' ...").
    static func unknownOption(_ arguments: [String]) -> (message: String, command: String)? {
        var command: ParsableCommand.Type = AuditorCommand.self, path = ["auditor"], rest = arguments[...]
        while let word = rest.first, let sub = command.configuration.subcommands.first(where: { $0._commandName == word }) {
            command = sub; path.append(word); rest = rest.dropFirst()
        }
        guard command != AuditorCommand.self else { return nil }
        let help = AuditorCommand.helpMessage(for: command, columns: 10_000)
        let listed = help.range(of: "USAGE:").map { String(help[$0.upperBound...]) } ?? help
        let known = Set(listed.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-") })
            .map(String.init).filter { $0.hasPrefix("--") && $0.count > 2 })
        for a in rest.prefix(while: { $0 != "--" }) where a.hasPrefix("--") && a.count > 2 {
            let name = String(a.prefix { $0 != "=" })
            guard !known.contains(name), !["--help", "--version", "--generate-completion-script"].contains(name) else { continue }
            let near = suggestions(for: name, among: known.sorted())
            let command = path.joined(separator: " ")
            if !near.isEmpty { return ("unknown option '\(name)' for '\(command)'\(didYouMean(near))", command) }
        }
        return nil
    }

    /// "unknown command 'X'; did you mean 'Y'?" when `arguments` starts with a word that is not a subcommand but is
    /// a typo away from one.
    static func unknownCommand(_ arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-") else { return nil }
        let near = suggestions(for: first, among: configuration.subcommands.map { $0._commandName } + ["help"])
        return near.isEmpty ? nil : "unknown command '\(first)'\(didYouMean(near))"
    }
}
