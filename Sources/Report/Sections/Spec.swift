// The "Audit spec" section: the spec's path, digest and text (redacted), last in the report.
extension Report {
    struct Spec: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            let run = ctx.report.run
            md.heading("Audit spec", intro: "\(md.text(run.specPath)), SHA-256 \(md.digest(run.specSHA256)):")
            md.add(Escape.fenced(md.redact(run.specText), info: "yaml"))
        }
    }
}
