// The thresholds step: each "METRIC OP NUMBER" of the spec checked against the run's figures, and the verdict.
import Foundation
import Store

extension AuditRunner {
    /// "metric op threshold" with the value and its interval; a metric that was not produced fails the check.
    func evaluate(_ t: AuditSpec.Threshold, _ metrics: [MetricRecord], unavailable: [String: String] = [:]) -> CheckRecord {
        guard let m = metrics.first(where: { $0.key == t.metric }) else {
            let why = unavailable.first { t.metric.hasPrefix($0.key) }.map { " (unavailable: \($0.value))" } ?? ""
            return CheckRecord(expression: t.expression, metric: t.metric, op: t.op, threshold: t.value, value: nil, lower: nil,
                               upper: nil, passed: false, message: "\(t.metric) was not produced\(why)")
        }
        let v = m.value
        let ok: Bool
        switch t.op {
        case "<=": ok = v <= t.value
        case "<": ok = v < t.value
        case ">=": ok = v >= t.value
        case ">": ok = v > t.value
        default: ok = v == t.value
        }
        let ci = m.lower.map { l in " [\(fmt(l)), \(fmt(m.upper!))]" } ?? ""
        let message = ok ? "\(t.metric) = \(fmt(v))\(ci) \(t.op) \(fmt(t.value)) holds"
            : "\(t.metric) = \(fmt(v))\(ci) breaks \(t.op) \(fmt(t.value)) by \(fmt(abs(v - t.value)))"
        return CheckRecord(expression: t.expression, metric: t.metric, op: t.op, threshold: t.value, value: v, lower: m.lower,
                           upper: m.upper, passed: ok, message: message)
    }

    /// One sentence for the run: no thresholds, all hold, or which are breached.
    func verdict(_ checks: [CheckRecord]) -> String {
        let failing = checks.filter { !$0.passed }
        if checks.isEmpty { return "No thresholds were set; the figures below are for information." }
        if failing.isEmpty { return "All \(checks.count) threshold\(checks.count == 1 ? "" : "s") hold." }
        return "\(failing.count) of \(checks.count) threshold\(checks.count == 1 ? "" : "s") breached: "
            + failing.map(\.message).joined(separator: "; ") + "."
    }
}

private func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
