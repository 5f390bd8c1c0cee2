// The comparison's outputs in SPEC.out: summary.json (every figure with its interval across seeds), report.md (the
// table) and privacy-utility-cost.svg (leakage against utility, marker area by training time, intervals as bars).
import Audit
import Foundation

enum CompareReport {
    static func fmt(_ s: Compare.Summary?, _ decimals: Int) -> String {
        guard let s, s.mean.isFinite else { return "–" }
        let m = String(format: "%.\(decimals)f", s.mean)
        guard let lo = s.lower, let hi = s.upper else { return m }
        return m + String(format: " [%.\(decimals)f, %.\(decimals)f]", lo, hi)
    }

    static func describe(_ v: CompareVariant) -> String {
        var d: String
        switch v.method {
        case .full: d = "full"
        case .lora(let c): d = "LoRA r\(c.rank)"
        }
        if let dp = v.dp { d += dp.epsilon.map { String(format: ", DP eps %g", $0) } ?? String(format: ", DP noise %g", dp.noise ?? 0) }
        return d
    }

    static func markdown(_ spec: CompareSpec, _ o: Compare.Outcome, delta: Double, base: [String: Double]) -> String {
        var lines = ["## Comparison: \(spec.name)", "",
                     "Base \(spec.checkpoint); training set \(spec.data), held-out \(spec.heldout); seeds \(spec.seeds.map(String.init).joined(separator: ", ")). "
                     + "Each figure is the mean over seeds with a 95% Student-t interval in brackets (none with one seed). "
                     + (spec.utilityTarget.map { String(format: "Matched utility: each variant trained until its held-out loss reached %.3f (or its most steps); the steps column shows the steps taken. ", $0) }
                        ?? "Every variant trained for the same steps. ")
                     + String(format: "Base model before any training: held-out non-sensitive loss %.3f, sensitive-token loss on the training set %.3f, "
                              + "canary exposure max %.1f bits, LOSS MIA AUC %.3f, sensitive spans extracted exactly %.3f of training and %.3f of held-out records "
                              + "(the floor each variant is read against).",
                              base["utility.nll"] ?? .nan, base["sensitive.nll"] ?? .nan, base["canary.exposure.max"] ?? .nan, base["mia.auc"] ?? .nan,
                              base["extraction.exact.rate"] ?? .nan, base["extraction.heldout.exact.rate"] ?? .nan), "",
                     "| variant | method | steps | canary exposure max (bits) | MIA AUC | ref. MIA AUC | TPR at 1% FPR | sensitive spans extracted, train / held-out | sensitive gain (nats) | held-out utility loss | empirical eps | accountant eps | train s | tokens/s | peak RSS MiB |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for v in spec.variants {
            let r = o.table[v.name] ?? [:]
            let steps = spec.utilityTarget == nil ? "\(v.steps)" : (r["train.steps"].map { String(format: "%.0f", $0.mean) } ?? "–") + " of \(v.steps)"
                + (r["train.reached_target"].map { $0.mean < 1 ? ", target not always reached" : "" } ?? "")
            lines.append("| \(v.name) | \(describe(v)) | \(steps) | \(fmt(r["canary.exposure.max"], 1)) | \(fmt(r["mia.auc"], 3)) | \(fmt(r["mia.ref_auc"], 3)) | "
                         + "\(fmt(r["mia.tpr_at_1pct_fpr"], 3)) | \(fmt(r["extraction.exact.rate"], 3)) / \(fmt(r["extraction.heldout.exact.rate"], 3)) | \(fmt(r["sensitive.gain"], 3)) | \(fmt(r["utility.nll"], 3)) | "
                         + "\(empirical(r["epsilon.empirical"])) | \(r["epsilon.accountant"].map { fmt($0, 2) } ?? "none (not private)") | "
                         + "\(fmt(r["cost.seconds"], 0)) | \(fmt(r["cost.tokens_per_s"], 0)) | \(fmt(r["cost.peak_rss_mib"], 0)) |")
        }
        lines += ["",
                  String(format: "Empirical epsilon: the one-run lower bound (Steinke, Nasr & Jagielski 2023) at confidence %.0f%%, at each DP variant's own delta and at delta %.3g for the others, ", 100 * (1 - spec.beta), delta)
                  + "from the canaries repeated once, each inserted with probability 1/2, scored by the drop in log-perplexity against the base model; "
                  + "a grid of guess counts with a Bonferroni correction. 0 means no bound: the guesses were no better than chance at that confidence. "
                  + "Sensitive spans extracted: the fraction of records whose first sensitive span greedy decoding reproduces exactly from the text before it; "
                  + "on held-out records it shows what the format alone gives away. Intervals are clipped to each figure's range (a time or a rate cannot be negative). "
                  + "The ref. MIA scores each record by its loss drop against the base model. Sensitive gain: base loss minus fine-tuned loss on the training set's sensitive tokens (recollection, arXiv 2502.13313). "
                  + "Peak RSS is the process's high-water mark so far, so it never decreases from one variant to the next.", ""]
        if !o.checks.isEmpty {
            lines += ["| threshold | left | right | result |", "|---|---|---|---|"]
            for c in o.checks {
                lines.append("| `\(c.text)` | \(c.lhsValue.map { String(format: "%.3f", $0) } ?? "–") | \(c.rhsValue.map { String(format: "%.3f", $0) } ?? "–") | "
                             + "\(c.passed.map { $0 ? "holds" : "**breached**" } ?? "not measured") |")
            }
            lines.append("")
        }
        lines += ["![privacy, utility and cost](privacy-utility-cost.svg)", ""]
        return lines.joined(separator: "\n")
    }

    static func empirical(_ s: Compare.Summary?) -> String {
        guard let s, s.mean.isFinite else { return "–" }
        return s.mean == 0 && (s.upper ?? 0) == 0 ? "no bound (0)" : fmt(s, 2)
    }

    /// Sensitive gain (y, leakage) against held-out utility loss (x); marker area proportional to training seconds.
    static func svg(_ spec: CompareSpec, _ o: Compare.Outcome) -> String {
        let w = 680.0, h = 400.0, l = 70.0, r = 470.0, t = 40.0, b = 340.0
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
        let pts = spec.variants.compactMap { v -> (String, Compare.Summary, Compare.Summary, Double)? in
            guard let x = o.table[v.name]?["utility.nll"], let y = o.table[v.name]?["sensitive.gain"], x.mean.isFinite, y.mean.isFinite else { return nil }
            return (v.name, x, y, o.table[v.name]?["cost.seconds"]?.mean ?? 0)
        }
        func range(_ vals: [Double]) -> (Double, Double) {
            guard let lo = vals.min(), let hi = vals.max() else { return (0, 1) }
            let pad = max((hi - lo) * 0.1, 1e-3)
            return (lo - pad, hi + pad)
        }
        let (x0, x1) = range(pts.flatMap { [$0.1.lower ?? $0.1.mean, $0.1.upper ?? $0.1.mean] })
        let (y0, y1) = range(pts.flatMap { [$0.2.lower ?? $0.2.mean, $0.2.upper ?? $0.2.mean] })
        func px(_ x: Double) -> Double { l + (x - x0) / (x1 - x0) * (r - l) }
        func py(_ y: Double) -> Double { b - (y - y0) / (y1 - y0) * (b - t) }
        func n(_ v: Double) -> String { String(format: "%.2f", v) }
        let maxSec = max(pts.map(\.3).max() ?? 1, 1e-9)
        var s = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">",
                 "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                 "<text x=\"\(n(l))\" y=\"24\" font-size=\"14\">Privacy, utility and cost by variant</text>",
                 "<line x1=\"\(n(l))\" y1=\"\(n(b))\" x2=\"\(n(r))\" y2=\"\(n(b))\" stroke=\"black\"/>",
                 "<line x1=\"\(n(l))\" y1=\"\(n(t))\" x2=\"\(n(l))\" y2=\"\(n(b))\" stroke=\"black\"/>",
                 "<text x=\"\(n((l + r) / 2))\" y=\"\(n(b + 36))\" text-anchor=\"middle\">held-out loss on non-sensitive tokens (nats, lower is better)</text>",
                 "<text transform=\"translate(18 \(n((t + b) / 2))) rotate(-90)\" text-anchor=\"middle\">sensitive-token loss drop vs base (nats, leakage)</text>"]
        for k in 0...4 {
            let xv = x0 + Double(k) / 4 * (x1 - x0), yv = y0 + Double(k) / 4 * (y1 - y0)
            s.append("<text x=\"\(n(px(xv)))\" y=\"\(n(b + 16))\" text-anchor=\"middle\">\(String(format: "%.3f", xv))</text>")
            s.append("<text x=\"\(n(l - 6))\" y=\"\(n(py(yv) + 4))\" text-anchor=\"end\">\(String(format: "%.3f", yv))</text>")
        }
        for (i, p) in pts.enumerated() {
            let c = palette[i % palette.count], cx = px(p.1.mean), cy = py(p.2.mean)
            if let lo = p.1.lower, let hi = p.1.upper { s.append("<line x1=\"\(n(px(lo)))\" y1=\"\(n(cy))\" x2=\"\(n(px(hi)))\" y2=\"\(n(cy))\" stroke=\"\(c)\"/>") }
            if let lo = p.2.lower, let hi = p.2.upper { s.append("<line x1=\"\(n(cx))\" y1=\"\(n(py(lo)))\" x2=\"\(n(cx))\" y2=\"\(n(py(hi)))\" stroke=\"\(c)\"/>") }
            let radius = 4 + 12 * (p.3 / maxSec).squareRoot()
            s.append("<circle cx=\"\(n(cx))\" cy=\"\(n(cy))\" r=\"\(n(radius))\" fill=\"\(c)\" fill-opacity=\"0.5\" stroke=\"\(c)\"/>")
            let ly = t + 20 * Double(i + 1)
            s.append("<circle cx=\"\(n(r + 30))\" cy=\"\(n(ly - 4))\" r=\"5\" fill=\"\(c)\"/>")
            s.append("<text x=\"\(n(r + 42))\" y=\"\(n(ly))\">\(xmlEscape(p.0)) (\(String(format: "%.0f", p.3)) s)</text>")
        }
        s.append("<text x=\"\(n(r + 30))\" y=\"\(n(t + 20 * Double(pts.count + 2)))\">marker area: training time</text>")
        s.append("</svg>")
        return s.joined(separator: "\n") + "\n"
    }

    static func xmlEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func summaryJSON(_ spec: CompareSpec, _ o: Compare.Outcome, delta: Double, base: [String: Double]) -> String {
        var variants: [String: Any] = [:]
        for v in spec.variants {
            var row: [String: Any] = ["method": describe(v), "steps": v.steps]
            for (k, s) in o.table[v.name] ?? [:] where s.mean.isFinite {
                // The tool's one interval shape: {"value", "ci95": [lower, upper] or null}, here the mean over n seeds.
                row[k] = ["value": s.mean, "ci95": s.lower.flatMap { lo in s.upper.map { [lo, $0] as Any } } ?? NSNull(), "n": s.n]
            }
            variants[v.name] = row
        }
        let checks: [[String: Any]] = o.checks.map { c in
            var e: [String: Any] = ["threshold": c.text, "result": c.passed.map { $0 ? "holds" : "breached" } ?? "not measured"]
            if let a = c.lhsValue, a.isFinite { e["left"] = a }
            if let b = c.rhsValue, b.isFinite { e["right"] = b }
            return e
        }
        let runs: [[String: Any]] = o.runs.map { ["variant": $0.variant, "seed": Int($0.seed), "run": $0.runID ?? NSNull(), "guesses": $0.guesses] }
        return jsonLine(["name": spec.name, "checkpoint": spec.checkpoint, "seeds": spec.seeds.map { Int($0) }, "beta": spec.beta, "delta": delta,
                         "base": base.filter { $0.value.isFinite }, "variants": variants, "order": spec.variants.map(\.name), "thresholds": checks, "runs": runs,
                         "seconds": o.seconds, "trained": o.trained, "reused": o.reused]) + "\n"
    }

    static func write(_ spec: CompareSpec, _ o: Compare.Outcome, delta: Double, base: [String: Double]) throws {
        let dir = spec.out as NSString
        try markdown(spec, o, delta: delta, base: base).write(toFile: dir.appendingPathComponent("report.md"), atomically: true, encoding: .utf8)
        try svg(spec, o).write(toFile: dir.appendingPathComponent("privacy-utility-cost.svg"), atomically: true, encoding: .utf8)
        try summaryJSON(spec, o, delta: delta, base: base).write(toFile: dir.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
    }
}
