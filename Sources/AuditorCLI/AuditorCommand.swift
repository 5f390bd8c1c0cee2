// The `auditor` command tree.
import Audit
import ArgumentParser

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
        subcommands: [AuditCommand.self, HistoryCommand.self, DiffCommand.self, ReportCommand.self, Inspect.self, Convert.self, Finetune.self, Score.self, Generate.self, MIACommand.self, Extract.self, CanaryCommand.self, TrapsCommand.self, GhostCommand.self, DatasetInferenceCommand.self, PIICommand.self])
    public init() {}
}
