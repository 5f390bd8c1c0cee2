// junit.xml: one test case per threshold so CI systems show breached thresholds as failed tests.
import Foundation
import Store

extension Report {
    /// JUnit XML: a `<testcase classname="auditor.thresholds">` per check, failing ones with a `<failure>` that
    /// names the value, its interval and the breach; a run that did not finish adds an errored
    /// "audit completed" case. Valid with no checks at all.
    public static func junit(_ r: RunReport) -> String {
        let failures = r.checks.filter { !$0.passed }.count
        let incomplete = [.running, .interrupted, .failed].contains(r.run.status)
        let tests = r.checks.count + (incomplete ? 1 : 0)
        let errors = incomplete ? 1 : 0
        let time = Fmt.fixed(max(0, r.run.durationSeconds ?? 0), 3)
        let redact = Redactor(r, ReportOptions())       // CI logs travel: never a secret, even inside free text
        func a(_ s: String) -> String { Escape.xml(redact(s), attribute: true) }

        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuites name=\"auditor\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(time)\">\n"
        x += "  <testsuite name=\"\(a("privacy audit: " + r.run.name))\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"0\" time=\"\(time)\" timestamp=\"\(a(r.run.startedAt))\" hostname=\"\(a(r.run.host))\">\n"
        x += "    <properties>\n"
        for (k, v) in [("run_id", r.run.id), ("status", r.run.status.rawValue), ("spec", r.run.specPath),
                       ("spec_sha256", r.run.specSHA256), ("auditor_version", r.run.auditorVersion), ("seed", String(r.run.seed))] {
            x += "      <property name=\"\(k)\" value=\"\(a(v))\"/>\n"
        }
        x += "    </properties>\n"
        for c in r.checks {
            x += "    <testcase classname=\"auditor.thresholds\" name=\"\(a(c.expression))\" time=\"0\""
            if c.passed {
                x += "/>\n"
                continue
            }
            let message = failureMessage(c, r)
            x += ">\n      <failure message=\"\(a(message))\" type=\"ThresholdBreached\">\(Escape.xml(redact(message + "\n" + c.message)))</failure>\n    </testcase>\n"
        }
        if incomplete {
            let steps = r.steps.isEmpty ? "no step finished" : "steps finished: " + r.steps.map { $0.name }.joined(separator: ", ")
            let message = "the audit did not complete (status \(r.run.status.rawValue)); \(steps)"
            x += "    <testcase classname=\"auditor.run\" name=\"audit completed\" time=\"\(time)\">\n"
            x += "      <error message=\"\(a(message))\" type=\"AuditIncomplete\">\(Escape.xml(redact(message)))</error>\n    </testcase>\n"
        }
        x += "  </testsuite>\n</testsuites>\n"
        return x
    }

    /// "mia.loss.auc = 0.734 [0.650, 0.810], threshold <= 0.600: breached by 0.134".
    static func failureMessage(_ c: CheckRecord, _ r: RunReport) -> String {
        guard let v = c.value else { return "\(c.metric) was not produced, so \(c.expression) cannot hold" }
        let d = Fmt.decimals(forKey: c.metric)
        let value = Fmt.valueCI(v, c.lower, c.upper, decimals: d, method: metric(r, c.metric)?.method)
        let by = headroom(c).map { Fmt.fixed(abs($0), d) } ?? "n/a"
        return "\(c.metric) = \(value), threshold \(c.op) \(Fmt.fixed(c.threshold, d)): breached by \(by)"
    }
}
