// The "What was audited" section: the run, its checkpoints (with their files' digests) and its datasets.
import Store

extension Report {
    struct Provenance: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let r = ctx.report, run = r.run
            md.heading("What was audited")
            var about: [[String]] = [
                ["Run", md.text(run.id)],
                ["Status", md.text(run.status.rawValue)],
                ["Started (UTC)", md.text(run.startedAt)],
                ["Finished (UTC)", md.text(run.finishedAt ?? "not finished")],
                ["Duration", Fmt.duration(run.durationSeconds)],
                ["Auditor version", md.text(run.auditorVersion)],
                ["Machine", md.text(run.machine)],
                ["Seed", String(run.seed)],
                ["Spec", md.text(run.specPath)],
                ["Spec SHA-256", md.digest(run.specSHA256)],
            ]
            if let v = run.verdict, !v.isEmpty { about.append(["Verdict recorded by the run", md.text(v)]) }
            about.append(["Steps finished", r.steps.isEmpty ? "none" :
                r.steps.map { "\(md.text($0.name)) (\(Fmt.fixed($0.seconds, 1)) s)" }.joined(separator: ", ")])
            md.table(["Item", "Value"], about)

            if !r.checkpoints.isEmpty {
                md.add("### Checkpoints")
                md.add()
                for c in r.checkpoints {
                    md.add("#### \(md.text(c.role.capitalized)) checkpoint")
                    md.add()
                    md.add("- Path: \(md.text(c.path))")
                    md.add("- Format: \(md.text(c.format)); architecture: \(md.text(c.architecture)); parameters: \(Fmt.grouped(c.parameters)); context length: \(c.contextLength)")
                    md.add("- SHA-256: \(md.digest(c.sha256))" + (c.files.count > 1 ? " (of the sorted `sha256  name` lines of its \(c.files.count) files)" : ""))
                    md.add("- Tokenizer SHA-256: \(md.digest(c.tokenizerSHA256))")
                    md.add()
                    if c.files.count > 1 {
                        md.table(["File", "Bytes", "SHA-256"], c.files.map { [md.text($0.path), Fmt.grouped($0.bytes), md.digest($0.sha256)] })
                    }
                }
            }
            if !r.datasets.isEmpty {
                md.add("### Datasets")
                md.add()
                md.table(["Role", "Path", "Texts", "SHA-256"], r.datasets.map {
                    [md.text($0.role), md.text($0.path), String($0.texts), md.digest($0.sha256)]
                })
            }
        }
    }
}
