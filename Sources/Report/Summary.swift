// summary.json: the run's figures for machines, pretty-printed with sorted keys; secrets redacted unless asked.
import Foundation
import Store

/// A JSON value with a deterministic writer (sorted keys, two-space indent, shortest round-trip doubles).
enum JSON {
    case null, bool(Bool), int(Int64), number(Double), string(String), array([JSON]), object([String: JSON])

    static func num(_ x: Double?) -> JSON { x.map { $0.isFinite ? .number($0) : .null } ?? .null }
    static func str(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    static func interval(_ l: Double?, _ u: Double?) -> JSON {
        guard let l, let u, l.isFinite, u.isFinite else { return .null }
        return .array([.number(l), .number(u)])
    }

    func write(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1), end = String(repeating: "  ", count: indent)
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .number(let d):
            guard d.isFinite else { return "null" }
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return "\(d)"
        case .string(let s): return Escape.json(s)
        case .array(let a):
            if a.isEmpty { return "[]" }
            if a.allSatisfy({ if case .array = $0 { return false }; if case .object = $0 { return false }; return true }) {
                return "[" + a.map { $0.write() }.joined(separator: ", ") + "]"   // short scalar lists (intervals) on one line
            }
            return "[\n" + a.map { pad + $0.write(indent: indent + 1) }.joined(separator: ",\n") + "\n" + end + "]"
        case .object(let o):
            if o.isEmpty { return "{}" }
            return "{\n" + o.keys.sorted().map { pad + Escape.json($0) + ": " + o[$0]!.write(indent: indent + 1) }
                .joined(separator: ",\n") + "\n" + end + "}"
        }
    }
}

extension Report {
    /// The run as JSON for dashboards and scripts: run, checkpoints, datasets, steps, checks, metrics (by key),
    /// findings. Non-finite numbers are null; secrets are `Report.redacted` unless `showSecrets`.
    public static func summaryJSON(_ r: RunReport, options: ReportOptions) -> String {
        let redact = Redactor(r, options)
        let run = r.run
        let runObject: JSON = .object([
            "id": .string(run.id), "name": .string(redact(run.name)), "status": .string(run.status.rawValue),
            "verdict": .str(run.verdict.map { redact($0) }), "started_at": .string(run.startedAt),
            "finished_at": .str(run.finishedAt), "duration_s": .num(run.durationSeconds), "seed": .int(run.seed),
            "auditor_version": .string(run.auditorVersion), "machine": .string(run.machine),
            "spec": .object(["path": .string(redact(run.specPath)), "sha256": .string(run.specSHA256)]),
        ])
        let checkpoints: [JSON] = r.checkpoints.map { c in
            .object(["role": .string(c.role), "path": .string(redact(c.path)), "format": .string(c.format),
                     "sha256": .string(c.sha256), "tokenizer_sha256": .string(c.tokenizerSHA256),
                     "architecture": .string(c.architecture), "parameters": .int(c.parameters),
                     "context_length": .int(Int64(c.contextLength)),
                     "files": .array(c.files.map { .object(["path": .string(redact($0.path)), "sha256": .string($0.sha256), "bytes": .int($0.bytes)]) })])
        }
        let datasets: [JSON] = r.datasets.map {
            .object(["role": .string($0.role), "path": .string(redact($0.path)), "sha256": .string($0.sha256), "texts": .int(Int64($0.texts))])
        }
        let steps: [JSON] = r.steps.map {
            .object(["name": .string($0.name), "finished_at": .string($0.finishedAt), "seconds": .num($0.seconds)])
        }
        let checks: [JSON] = r.checks.map { c in
            .object(["expression": .string(redact(c.expression)), "metric": .string(c.metric), "op": .string(c.op),
                     "value": .num(c.value), "ci95": .interval(c.lower, c.upper), "threshold": .num(c.threshold),
                     "passed": .bool(c.passed), "message": .string(redact(c.message))])
        }
        var metrics: [String: JSON] = [:]
        for m in r.metrics {
            metrics[m.key] = .object(["value": .num(m.value), "ci95": .interval(m.lower, m.upper),
                                      "n": m.n.map { .int(Int64($0)) } ?? .null, "method": .string(m.method),
                                      "label": .string(m.label), "step": .string(m.step)])
        }
        let findings: [JSON] = r.findings.map { f in
            var numbers: [String: JSON] = [:]
            for (k, v) in f.numbers { numbers[k] = .num(v) }
            // A figure stored with its bounds (exposure, exposure_lower, exposure_upper) is written in the one interval
            // shape, {"value": v, "ci95": [lower, upper]}, as the metrics are.
            for (k, v) in f.numbers {
                guard let l = f.numbers[k + "_lower"], let u = f.numbers[k + "_upper"] else { continue }
                numbers[k] = .object(["value": .num(v), "ci95": .interval(l, u)])
                numbers[k + "_lower"] = nil; numbers[k + "_upper"] = nil
            }
            let secret: JSON = f.secret.map { .string(options.showSecrets ? $0 : redacted) } ?? .null
            return .object(["kind": .string(f.kind), "step": .string(f.step), "dataset": .string(f.dataset),
                            "index": .int(Int64(f.index)), "id": .str(f.itemID.map { redact($0) }),
                            "numbers": .object(numbers), "secret": secret])
        }
        let doc: JSON = .object(["run": runObject, "checkpoints": .array(checkpoints), "datasets": .array(datasets),
                                 "steps": .array(steps), "checks": .array(checks), "metrics": .object(metrics),
                                 "findings": .array(findings), "secrets_shown": .bool(options.showSecrets)])
        return doc.write() + "\n"
    }
}
