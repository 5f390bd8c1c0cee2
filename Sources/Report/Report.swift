// The Report module's public surface: options, charts, errors, and the views of a RunReport the renderers share.
import Foundation
import Stats
import Store

/// How a report is rendered.
public struct ReportOptions: Sendable {
    /// Show sensitive texts (canaries, generated suffixes). Off by default: reports travel.
    public var showSecrets: Bool
    /// Overrides the `# Privacy audit: NAME` heading's name and the HTML title.
    public var title: String?
    /// Bins of the member / non-member score histograms.
    public var histogramBins: Int
    public init(showSecrets: Bool = false, title: String? = nil, histogramBins: Int = 20) {
        self.showSecrets = showSecrets; self.title = title; self.histogramBins = histogramBins
    }
}

/// One SVG chart, written next to report.md as `fileName` and inlined into report.html.
public struct Chart: Sendable, Equatable {
    public let fileName: String
    public let title: String
    public let svg: String
    public init(fileName: String, title: String, svg: String) { self.fileName = fileName; self.title = title; self.svg = svg }
}

/// A point of an ROC curve: fraction of non-members and of members scoring at or above a threshold.
public struct ROCPoint: Sendable, Equatable {
    public let fpr: Double
    public let tpr: Double
    public init(fpr: Double, tpr: Double) { self.fpr = fpr; self.tpr = tpr }
}

public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// cmark-gfm failed (out of memory, missing extension).
    case render(String)
    /// A file or directory of the report could not be written or moved into place.
    case write(path: String, reason: String)

    public var description: String {
        switch self {
        case .render(let why): return "cannot render report.html: \(why)"
        case .write(let path, let why): return "cannot write report at \(path): \(why)"
        }
    }
}

/// Renders a `RunReport` as Markdown, HTML, SVG charts, JUnit XML and a JSON summary.
public enum Report {
    /// What stands in for a secret when `showSecrets` is off.
    public static let redacted = "[redacted: use --show-secrets]"

    /// The ROC curve of member vs non-member scores (higher = member), Stats' `Metrics.rocCurve`: one point per
    /// distinct score, thresholds descending, a text counted positive when `score >= threshold`, tied scores forming
    /// one point, starting at (0, 0) and ending at (1, 1). NaN scores are ignored. Empty when either class is empty
    /// or a score is infinite (the store holds only finite scores).
    public static func rocPoints(members: [Double], nonMembers: [Double]) -> [ROCPoint] {
        let m = members.filter { !$0.isNaN }, n = nonMembers.filter { !$0.isNaN }
        guard let curve = try? Metrics.rocCurve(scores: m + n, labels: Metrics.labels(members: m.count, nonMembers: n.count))
        else { return [] }
        return curve.map { ROCPoint(fpr: $0.fpr, tpr: $0.tpr) }
    }
}

// MARK: - Views of the data the renderers share

/// Member and non-member scores of one attack on the target checkpoint.
struct AttackScores {
    let attack: String
    let members: [Double]
    let nonMembers: [Double]
}

/// The MIA figures of one attack, from the metrics "mia.ATTACK.auc", "mia.ATTACK.tpr_at_fpr_Xpct".
struct MIAAttackRow {
    let attack: String
    var auc: MetricRecord?
    var tpr: [String: MetricRecord] = [:]   // "1pct" -> metric
}

extension Report {
    /// Scores grouped by attack, in order of first appearance; only the target checkpoint's (or, when there is no
    /// "target", every checkpoint's) scores, only attacks with both classes.
    static func attackScores(_ r: RunReport) -> [AttackScores] {
        let hasTarget = r.scores.contains { $0.checkpoint == "target" }
        var order: [String] = []
        var mem: [String: [Double]] = [:], non: [String: [Double]] = [:]
        for s in r.scores where !hasTarget || s.checkpoint == "target" {
            if mem[s.attack] == nil && non[s.attack] == nil { order.append(s.attack) }
            switch s.dataset {
            case "members": mem[s.attack, default: []].append(s.score)
            case "nonmembers": non[s.attack, default: []].append(s.score)
            default: mem[s.attack] = mem[s.attack] ?? []
            }
        }
        return order.compactMap { a in
            guard let m = mem[a], let n = non[a], !m.isEmpty, !n.isEmpty else { return nil }
            return AttackScores(attack: a, members: m, nonMembers: n)
        }
    }

    /// Splits an MIA key "mia.ATTACK.FIGURE" into (attack, figure); the figure is "auc" or "tpr_at_fpr_Xpct"
    /// (X may contain a dot, so the split is not simply at the last dot). Nil for other keys.
    static func miaKey(_ key: String) -> (attack: String, figure: String)? {
        guard key.hasPrefix("mia.") else { return nil }
        let rest = String(key.dropFirst(4))
        if let r = rest.range(of: ".tpr_at_fpr_", options: .backwards) {
            let attack = String(rest[..<r.lowerBound])
            return attack.isEmpty ? nil : (attack, String(rest[r.upperBound...]))
        }
        guard let dot = rest.lastIndex(of: ".") else { return nil }
        let attack = String(rest[..<dot])
        return attack.isEmpty ? nil : (attack, String(rest[rest.index(after: dot)...]))
    }

    /// MIA rows, in order of first appearance of the attack among the metrics.
    static func miaRows(_ r: RunReport) -> [MIAAttackRow] {
        var rows: [MIAAttackRow] = []
        for m in r.metrics {
            guard let (attack, figure) = miaKey(m.key), figure == "auc" || m.key.contains(".tpr_at_fpr_") else { continue }
            var i = rows.firstIndex { $0.attack == attack }
            if i == nil { rows.append(MIAAttackRow(attack: attack)); i = rows.count - 1 }
            if figure == "auc" { rows[i!].auc = m } else { rows[i!].tpr[figure] = m }
        }
        return rows
    }

    /// The FPR suffixes ("1pct", "0.1pct") present, largest FPR first.
    static func tprSuffixes(_ rows: [MIAAttackRow]) -> [String] {
        let all = Set(rows.flatMap { $0.tpr.keys })
        func value(_ s: String) -> Double { Double(s.hasSuffix("pct") ? String(s.dropLast(3)) : s) ?? -1 }
        return all.sorted { value($0) != value($1) ? value($0) > value($1) : $0 < $1 }
    }

    /// Per-prefix extraction metrics "extraction.prefix_N.KIND.rate": prefix -> kind -> metric.
    static func extractionByPrefix(_ r: RunReport) -> [(prefix: Int, kinds: [String: MetricRecord])] {
        var byPrefix: [Int: [String: MetricRecord]] = [:]
        for m in r.metrics where m.key.hasPrefix("extraction.prefix_") && m.key.hasSuffix(".rate") {
            let body = m.key.dropFirst("extraction.prefix_".count).dropLast(".rate".count)
            guard let dot = body.firstIndex(of: "."), let p = Int(body[..<dot]) else { continue }
            byPrefix[p, default: [:]][String(body[body.index(after: dot)...])] = m
        }
        return byPrefix.keys.sorted().map { ($0, byPrefix[$0]!) }
    }

    /// Canary findings grouped by repetition count, ascending.
    static func canariesByRepetition(_ r: RunReport) -> [(repetitions: Double, findings: [FindingRecord])] {
        var groups: [Double: [FindingRecord]] = [:]
        for f in r.findings where f.kind == "canary" {
            groups[f.numbers["repetitions"] ?? 0, default: []].append(f)
        }
        return groups.keys.sorted().map { ($0, groups[$0]!) }
    }

    static func metric(_ r: RunReport, _ key: String) -> MetricRecord? { r.metrics.last { $0.key == key } }

    /// The run's display name.
    static func displayName(_ r: RunReport, _ options: ReportOptions) -> String { options.title ?? r.run.name }
}

/// Removes every known secret from free text (names, paths, spec text, messages) when secrets are hidden, so a
/// secret that also appears in, say, the spec cannot leak through it. Only secrets of 6 or more characters: a
/// one-token generated suffix such as "." or " the" is no secret, and scrubbing it would mangle every sentence
/// (the per-item columns that hold secrets are redacted whatever their length).
struct Redactor {
    let secrets: [String]
    init(_ r: RunReport, _ options: ReportOptions) {
        secrets = options.showSecrets ? [] :
            Array(Set(r.findings.compactMap { $0.secret }.filter { $0.count >= 6 })).sorted { $0.count > $1.count || ($0.count == $1.count && $0 < $1) }
    }
    func callAsFunction(_ text: String) -> String {
        var t = text
        for s in secrets where t.contains(s) { t = t.replacingOccurrences(of: s, with: Report.redacted) }
        return t
    }
}
