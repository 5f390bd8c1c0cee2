// Hand-written SVG charts: ROC (linear and log-log), score histograms, canary exposure, extraction by prefix.
import Foundation
import Store

/// One plotting axis mapping data values to pixels, linear or base-10 logarithmic.
struct Axis {
    let lo: Double, hi: Double, log: Bool
    let p0: Double, p1: Double            // pixel of lo and of hi (p1 < p0 for a y axis)
    var integer = false                   // counts: no fractional ticks

    func map(_ v: Double) -> Double {
        let t: Double
        if log {
            let c = min(max(v, lo), hi)
            t = (log10(c) - log10(lo)) / (log10(hi) - log10(lo))
        } else {
            t = (min(max(v, lo), hi) - lo) / (hi - lo)
        }
        return p0 + t * (p1 - p0)
    }

    /// Tick values and labels: multiples of a 1-2-5 step, or the powers of ten in range.
    func ticks() -> [(Double, String)] {
        if log {
            // Powers of ten; over fewer than three decades also 2 and 5 times them.
            let multiples: [Double] = log10(hi / lo) < 2.5 ? [1, 2, 5] : [1]
            var out: [(Double, String)] = []
            var k = Int(floor(log10(lo) + 1e-9))
            while pow(10, Double(k)) <= hi * (1 + 1e-9) {
                for m in multiples {
                    let v = m * pow(10, Double(k))
                    if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) { out.append((v, Fmt.fixed(v, max(0, -k)))) }
                }
                k += 1
            }
            return out
        }
        let step = max(integer ? 1 : 0, Axis.niceStep((hi - lo) / 5))
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        var out: [(Double, String)] = []
        var i = Int(ceil(lo / step - 1e-9))
        while Double(i) * step <= hi + step * 1e-9 {
            out.append((Double(i) * step, Fmt.fixed(Double(i) * step, decimals)))
            i += 1
        }
        return out
    }

    /// The smallest 1, 2 or 5 times a power of ten that is >= x.
    static func niceStep(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        let e = pow(10, floor(log10(x)))
        for m in [1.0, 2, 5, 10] where m * e >= x * (1 - 1e-12) { return m * e }
        return 10 * e
    }

    /// A round upper bound >= x (a multiple of the 1-2-5 tick step), at least `minimum`.
    static func niceMax(_ x: Double, minimum: Double) -> Double {
        guard x > minimum, x.isFinite else { return minimum }
        let step = niceStep(x / 5)
        return max(minimum, (x / step - 1e-9).rounded(.up) * step)
    }
}

/// A small SVG document builder with fixed decimals so output is byte-stable.
struct SVGCanvas {
    static let width = 680.0, height = 400.0
    static let left = 64.0, right = 470.0, top = 40.0, bottom = 340.0   // plot area; legend to the right
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    var body: [String] = []

    static func n(_ v: Double) -> String { Fmt.fixed(v, 2) }

    mutating func add(_ s: String) { body.append(s) }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
                       dash: String? = nil) {
        let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        add("<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(width))\"\(d)/>")
    }

    mutating func text(_ x: Double, _ y: Double, _ s: String, anchor: String = "start", size: Int = 12,
                       rotate: Bool = false, weight: String? = nil) {
        let r = rotate ? " transform=\"rotate(-90 \(Self.n(x)) \(Self.n(y)))\"" : ""
        let w = weight.map { " font-weight=\"\($0)\"" } ?? ""
        add("<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\"\(w)\(r)>\(Escape.xml(s))</text>")
    }

    /// Drops points that cannot change the drawing: repeats at the printed precision, and the inner points of
    /// runs sharing one x or one y (a ROC curve over thousands of texts is mostly such runs).
    static func simplify(_ pts: [(Double, Double)]) -> [(Double, Double)] {
        var keys: [(String, String)] = []
        var kept: [(Double, Double)] = []
        for p in pts {
            let k = (n(p.0), n(p.1))
            if let last = keys.last, last == k { continue }
            if keys.count >= 2 {
                let a = keys[keys.count - 2], b = keys[keys.count - 1]
                if (a.0 == b.0 && b.0 == k.0) || (a.1 == b.1 && b.1 == k.1) { keys.removeLast(); kept.removeLast() }
            }
            keys.append(k); kept.append(p)
        }
        return kept
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 2, dash: String? = nil) {
        let pts = Self.simplify(points)
        guard pts.count > 1 else { return }
        let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        let p = pts.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
        add("<polyline points=\"\(p)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(width))\"\(d)/>")
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, opacity: Double = 1) {
        add("<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(0, w)))\" height=\"\(Self.n(max(0, h)))\" fill=\"\(fill)\" fill-opacity=\"\(Self.n(opacity))\"/>")
    }

    mutating func circle(_ x: Double, _ y: Double, r: Double, fill: String) {
        add("<circle cx=\"\(Self.n(x))\" cy=\"\(Self.n(y))\" r=\"\(Self.n(r))\" fill=\"\(fill)\"/>")
    }

    /// Frame, grid, ticks and axis labels.
    mutating func axes(x: Axis, y: Axis, xLabel: String, yLabel: String, title: String) {
        text(Self.width / 2, 22, title, anchor: "middle", size: 15, weight: "bold")
        for (v, label) in x.ticks() {
            let px = x.map(v)
            line(px, Self.top, px, Self.bottom, stroke: "#e5e5e5")
            line(px, Self.bottom, px, Self.bottom + 5, stroke: "#333333")
            text(px, Self.bottom + 18, label, anchor: "middle", size: 11)
        }
        for (v, label) in y.ticks() {
            let py = y.map(v)
            line(Self.left, py, Self.right, py, stroke: "#e5e5e5")
            line(Self.left - 5, py, Self.left, py, stroke: "#333333")
            text(Self.left - 8, py + 4, label, anchor: "end", size: 11)
        }
        add("<rect x=\"\(Self.n(Self.left))\" y=\"\(Self.n(Self.top))\" width=\"\(Self.n(Self.right - Self.left))\" height=\"\(Self.n(Self.bottom - Self.top))\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1.00\"/>")
        text((Self.left + Self.right) / 2, Self.bottom + 40, xLabel, anchor: "middle", size: 12)
        text(18, (Self.top + Self.bottom) / 2, yLabel, anchor: "middle", size: 12, rotate: true)
    }

    enum Mark { case line, dashed, box, dot }

    /// Legend entries to the right of the plot.
    mutating func legend(_ entries: [(colour: String, label: String, mark: Mark)]) {
        var y = Self.top + 10
        for (colour, label, mark) in entries {
            switch mark {
            case .box: rect(Self.right + 16, y - 9, 18, 12, fill: colour, opacity: 0.55)
            case .dot: circle(Self.right + 28, y - 4, r: 4, fill: colour)
            case .line, .dashed:
                line(Self.right + 16, y - 4, Self.right + 40, y - 4, stroke: colour, width: 2, dash: mark == .dashed ? "5 4" : nil)
            }
            text(Self.right + 46, y, label, size: 12)
            y += 20
        }
    }

    func render(title: String) -> String {
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(Self.width)) \(Int(Self.height))\" width=\"\(Int(Self.width))\" height=\"\(Int(Self.height))\" role=\"img\" aria-label=\"\(Escape.xml(title, attribute: true))\" font-family=\"sans-serif\">\n"
        s += "<title>\(Escape.xml(title))</title>\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(Self.width))\" height=\"\(Int(Self.height))\" fill=\"#ffffff\"/>\n"
        for b in body { s += b + "\n" }
        return s + "</svg>\n"
    }
}

extension Report {
    /// The charts that have data, in the order the report shows them.
    public static func charts(_ r: RunReport, options: ReportOptions) -> [Chart] {
        var out: [Chart] = []
        let scores = attackScores(r)
        if !scores.isEmpty {
            out.append(rocChart(scores, log: false))
            out.append(rocChart(scores, log: true))
            var used = Set<String>()
            for s in scores {
                var name = "hist-" + Escape.fileComponent(s.attack)
                while used.contains(name) { name += "_" }
                used.insert(name)
                if let c = histogram(s, bins: max(1, options.histogramBins), fileName: name + ".svg") { out.append(c) }
            }
        }
        if let c = exposureChart(r) { out.append(c) }
        if let c = extractionChart(r) { out.append(c) }
        return out
    }

    static func rocChart(_ scores: [AttackScores], log: Bool) -> Chart {
        let title = log ? "ROC curve, log-log axes" : "ROC curve"
        var c = SVGCanvas()
        // Log axes start at one text: FPR at 1/non-members, TPR at 1/members (at most 0.1, so each spans a decade).
        let maxN = scores.map { $0.nonMembers.count }.max() ?? 1
        let maxM = scores.map { $0.members.count }.max() ?? 1
        let xlo = log ? min(0.1, 1.0 / Double(max(maxN, 1))) : 0.0
        let ylo = log ? min(0.1, 1.0 / Double(max(maxM, 1))) : 0.0
        let x = Axis(lo: xlo, hi: 1, log: log, p0: SVGCanvas.left, p1: SVGCanvas.right)
        let y = Axis(lo: ylo, hi: 1, log: log, p0: SVGCanvas.bottom, p1: SVGCanvas.top)
        c.axes(x: x, y: y, xLabel: "False positive rate (non-members flagged)",
               yLabel: "True positive rate (members flagged)", title: title)
        let d0 = max(xlo, ylo)
        c.line(x.map(d0), y.map(d0), x.map(1), y.map(1), stroke: "#888888", width: 1, dash: "5 4")
        var legend: [(colour: String, label: String, mark: SVGCanvas.Mark)] = []
        for (i, s) in scores.enumerated() {
            let colour = SVGCanvas.palette[i % SVGCanvas.palette.count]
            let pts = rocPoints(members: s.members, nonMembers: s.nonMembers)   // zeros clamp onto the log axes
            c.polyline(pts.map { (x.map($0.fpr), y.map($0.tpr)) }, stroke: colour)
            legend.append((colour, s.attack, .line))
        }
        legend.append(("#888888", "chance", .dashed))
        c.legend(legend)
        if log {
            c.text(SVGCanvas.width - 8, SVGCanvas.height - 6,
                   "axes start at one text (FPR \(Fmt.fixed(xlo, 4)), TPR \(Fmt.fixed(ylo, 4))); lower values lie on the axes",
                   anchor: "end", size: 10)
        }
        return Chart(fileName: log ? "roc-log.svg" : "roc.svg", title: title, svg: c.render(title: title))
    }

    static func histogram(_ s: AttackScores, bins: Int, fileName: String) -> Chart? {
        let m = s.members.filter { $0.isFinite }, n = s.nonMembers.filter { $0.isFinite }
        guard !m.isEmpty || !n.isEmpty else { return nil }
        var lo = (m + n).min()!, hi = (m + n).max()!
        if lo == hi { lo -= 0.5; hi += 0.5 }
        let width = (hi - lo) / Double(bins)
        func counts(_ v: [Double]) -> [Int] {
            var c = [Int](repeating: 0, count: bins)
            for x in v { c[min(bins - 1, max(0, Int((x - lo) / width)))] += 1 }
            return c
        }
        let cm = counts(m), cn = counts(n)
        let top = Axis.niceMax(Double(max(cm.max() ?? 0, cn.max() ?? 0)), minimum: 1)
        let title = "Scores of \(s.attack): members vs non-members"
        var c = SVGCanvas()
        let x = Axis(lo: lo, hi: hi, log: false, p0: SVGCanvas.left, p1: SVGCanvas.right)
        let y = Axis(lo: 0, hi: top, log: false, p0: SVGCanvas.bottom, p1: SVGCanvas.top, integer: true)
        c.axes(x: x, y: y, xLabel: "\(s.attack) score (higher = more likely member)", yLabel: "Texts", title: title)
        for (counts, colour) in [(cn, "#ff7f0e"), (cm, "#1f77b4")] {
            for (i, k) in counts.enumerated() where k > 0 {
                let x0 = x.map(lo + Double(i) * width), x1 = x.map(lo + Double(i + 1) * width)
                c.rect(x0, y.map(Double(k)), x1 - x0, y.map(0) - y.map(Double(k)), fill: colour, opacity: 0.55)
            }
        }
        c.legend([("#1f77b4", "members (\(m.count))", .box), ("#ff7f0e", "non-members (\(n.count))", .box)])
        return Chart(fileName: fileName, title: title, svg: c.render(title: title))
    }

    static func exposureChart(_ r: RunReport) -> Chart? {
        let canaries = r.findings.filter { $0.kind == "canary" && ($0.numbers["exposure"]?.isFinite ?? false) }
        guard !canaries.isEmpty else { return nil }
        let reps = canaries.map { max(1, $0.numbers["repetitions"] ?? 1) }
        let maxPossible = canaries.compactMap { $0.numbers["max_exposure"] }.filter { $0.isFinite }.max()
        let xlo = pow(10, floor(log10(reps.min()!))), xhi = max(xlo * 10, pow(10, ceil(log10(reps.max()!))))
        let ymax = Axis.niceMax(max(maxPossible ?? 0, canaries.map { $0.numbers["exposure"]! }.max()!) * 1.02, minimum: 1)
        let title = "Canary exposure by repetitions in training"
        var c = SVGCanvas()
        let x = Axis(lo: xlo, hi: xhi, log: true, p0: SVGCanvas.left, p1: SVGCanvas.right)
        let y = Axis(lo: 0, hi: ymax, log: false, p0: SVGCanvas.bottom, p1: SVGCanvas.top)
        c.axes(x: x, y: y, xLabel: "Repetitions of the canary in the training data (log scale)",
               yLabel: "Exposure (bits)", title: title)
        var legend: [(colour: String, label: String, mark: SVGCanvas.Mark)] = []
        if let mp = maxPossible {
            c.line(x.map(xlo), y.map(mp), x.map(xhi), y.map(mp), stroke: "#d62728", width: 1.5, dash: "6 4")
            legend.append(("#d62728", "max possible: \(Fmt.fixed(mp, 1))", .dashed))
        }
        for (f, rep) in zip(canaries, reps) {
            c.circle(x.map(rep), y.map(f.numbers["exposure"]!), r: 4, fill: "#1f77b4")
        }
        var means: [(Double, Double)] = []
        for (rep, group) in canariesByRepetition(r) {
            let e = group.compactMap { $0.numbers["exposure"] }.filter { $0.isFinite }
            guard !e.isEmpty else { continue }
            means.append((x.map(max(1, rep)), y.map(e.reduce(0, +) / Double(e.count))))
        }
        c.polyline(means, stroke: "#2ca02c", width: 2)
        legend.insert(("#1f77b4", "canary", .dot), at: 0)
        legend.insert(("#2ca02c", "mean per count", .line), at: 1)
        c.legend(legend)
        return Chart(fileName: "exposure.svg", title: title, svg: c.render(title: title))
    }

    static func extractionChart(_ r: RunReport) -> Chart? {
        let rows = extractionByPrefix(r).filter { $0.kinds["exact"] != nil || $0.kinds["approximate"] != nil }
        guard !rows.isEmpty else { return nil }
        let series: [(String, String, Double)] = [("exact", "#d62728", -6), ("approximate", "#1f77b4", 6)]
        var top = 0.0
        for row in rows { for (k, _, _) in series { if let m = row.kinds[k] { top = max(top, m.upper ?? m.value, m.value) } } }
        let ymax = min(1, Axis.niceMax(top * 1.1, minimum: 0.01))
        let title = "Extraction rate by prefix length"
        var c = SVGCanvas()
        // Prefix lengths are categories, evenly spaced, so 8/32/128 tokens are all readable.
        let x = Axis(lo: -0.5, hi: Double(rows.count) - 0.5, log: false, p0: SVGCanvas.left, p1: SVGCanvas.right)
        let y = Axis(lo: 0, hi: ymax, log: false, p0: SVGCanvas.bottom, p1: SVGCanvas.top)
        c.text(SVGCanvas.width / 2, 22, title, anchor: "middle", size: 15, weight: "bold")
        for (v, label) in y.ticks() {
            let py = y.map(v)
            c.line(SVGCanvas.left, py, SVGCanvas.right, py, stroke: "#e5e5e5")
            c.line(SVGCanvas.left - 5, py, SVGCanvas.left, py, stroke: "#333333")
            c.text(SVGCanvas.left - 8, py + 4, label, anchor: "end", size: 11)
        }
        for (i, row) in rows.enumerated() {
            let px = x.map(Double(i))
            c.line(px, SVGCanvas.bottom, px, SVGCanvas.bottom + 5, stroke: "#333333")
            c.text(px, SVGCanvas.bottom + 18, String(row.prefix), anchor: "middle", size: 11)
        }
        c.add("<rect x=\"\(SVGCanvas.n(SVGCanvas.left))\" y=\"\(SVGCanvas.n(SVGCanvas.top))\" width=\"\(SVGCanvas.n(SVGCanvas.right - SVGCanvas.left))\" height=\"\(SVGCanvas.n(SVGCanvas.bottom - SVGCanvas.top))\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1.00\"/>")
        c.text((SVGCanvas.left + SVGCanvas.right) / 2, SVGCanvas.bottom + 40, "Prefix length (tokens)", anchor: "middle")
        c.text(18, (SVGCanvas.top + SVGCanvas.bottom) / 2, "Fraction of samples extracted", anchor: "middle", rotate: true)
        var legend: [(colour: String, label: String, mark: SVGCanvas.Mark)] = []
        for (kind, colour, offset) in series {
            var pts: [(Double, Double)] = []
            for (i, row) in rows.enumerated() {
                guard let m = row.kinds[kind], m.value.isFinite else { continue }
                let px = x.map(Double(i)) + offset
                if let l = m.lower, let u = m.upper, l.isFinite, u.isFinite {
                    c.line(px, y.map(l), px, y.map(u), stroke: colour, width: 1.5)
                    c.line(px - 4, y.map(l), px + 4, y.map(l), stroke: colour, width: 1.5)
                    c.line(px - 4, y.map(u), px + 4, y.map(u), stroke: colour, width: 1.5)
                }
                c.circle(px, y.map(m.value), r: 4, fill: colour)
                pts.append((px, y.map(m.value)))
            }
            if !pts.isEmpty {
                c.polyline(pts, stroke: colour, width: 1.5)
                legend.append((colour, kind, .line))
            }
        }
        legend.append(("#333333", "whiskers: 95% CI", .line))
        c.legend(legend)
        return Chart(fileName: "extraction.svg", title: title, svg: c.render(title: title))
    }
}
