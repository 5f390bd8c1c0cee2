// The metric catalog: every figure an audit can produce, declared once (key, step, label, unit, decimals, direction,
// how its interval is made). The spec check, the runner and the threshold evaluation read it; a run stores each
// figure's label with its value, so a report re-rendered later reads what was declared when the run was made.
import Attacks
import Store

/// Which way a figure moves when the model leaks more.
public enum LeakDirection: String, Sendable {
    case higherLeaks = "higher means more leakage"
    case lowerLeaks = "lower means more leakage"
    /// A utility or cost figure of an unlearning pair (perplexity, time): higher means a costlier edit, not a leak.
    case higherCosts = "higher means more utility lost or more time"
}

/// How a figure's 95% interval is made.
public enum IntervalKind: String, Sendable {
    case bootstrap = "stratified percentile bootstrap"
    case clopperPearson = "Clopper-Pearson (exact binomial)"
    case canaryRanks = "each canary's Clopper-Pearson interval on its sampled rank"
}

/// One figure of an audit. `key` is its one spelling: what thresholds name, what the store and reports show.
public enum Figure: Hashable, Sendable {
    public enum TPRLevel: Hashable, Sendable, CaseIterable { case onePercent, tenthPercent }
    public enum ExtractionKind: String, Hashable, Sendable, CaseIterable { case exact, approximate, np }
    public enum Aggregate: String, Hashable, Sendable, CaseIterable { case max, mean }

    case miaAUC(MIAAttack)
    case miaTPR(MIAAttack, TPRLevel)
    case blindBaselineAUC
    /// At one prefix length, or (prefix nil) at any tested prefix length.
    case extractionRate(ExtractionKind, prefix: Int?)
    /// Over all canaries, or (repetitions set) over those inserted that many times.
    case canaryExposure(Aggregate, repetitions: Int?)
    /// Over all injected traps, or (repetitions set) over those injected that many times.
    case trapsAUC(repetitions: Int?)
    /// A fine-tuning run's figures.
    case training(TrainingFigure)
    /// An unlearning pair's own figures (beside the audits' figures before and after, `before.KEY` / `after.KEY`).
    case unlearn(UnlearnFigure)

    /// The figures `auditor unlearn` measures itself. The raw value is what the pair's thresholds name
    /// (`retain.perplexity.increase <= 10%`); the store keeps it as `unlearn.` + raw value.
    public enum UnlearnFigure: String, Hashable, Sendable, CaseIterable {
        case forgetLossBefore = "forget.loss.before", forgetLossAfter = "forget.loss.after"
        case retainPerplexityBefore = "retain.perplexity.before", retainPerplexityAfter = "retain.perplexity.after"
        case retainPerplexityIncrease = "retain.perplexity.increase"
        case holdoutPerplexityBefore = "holdout.perplexity.before", holdoutPerplexityAfter = "holdout.perplexity.after"
        case holdoutPerplexityIncrease = "holdout.perplexity.increase"
        case seconds = "unlearn.seconds"
        case verbMemBefore = "verbmem.rougeL.before", verbMemAfter = "verbmem.rougeL.after"
        case verbMemRecallBefore = "verbmem.rougeL_recall.before", verbMemRecallAfter = "verbmem.rougeL_recall.after"
        case privLeakAUCBefore = "privleak.auc.before", privLeakAUCAfter = "privleak.auc.after"
        case privLeakReferenceAUC = "privleak.reference.auc"
        case privLeakBefore = "privleak.before", privLeakAfter = "privleak.after"
        case relearnExactBefore = "relearn.exact.rate.before", relearnExactAfter = "relearn.exact.rate.after"
        case relearnApproximateBefore = "relearn.approximate.rate.before", relearnApproximateAfter = "relearn.approximate.rate.after"
        case relearnLossBefore = "relearn.loss.before", relearnLossAfter = "relearn.loss.after"
        case relearnRecords = "relearn.records", relearnSeconds = "relearn.seconds"
        case retrainedRelearnExactBefore = "retrained.relearn.exact.rate.before", retrainedRelearnExactAfter = "retrained.relearn.exact.rate.after"
        case retrainedRelearnApproximateBefore = "retrained.relearn.approximate.rate.before"
        case retrainedRelearnApproximateAfter = "retrained.relearn.approximate.rate.after"
        case retrainedRelearnLossBefore = "retrained.relearn.loss.before", retrainedRelearnLossAfter = "retrained.relearn.loss.after"
        case retrainedRelearnRecords = "retrained.relearn.records", retrainedRelearnSeconds = "retrained.relearn.seconds"

        var side: String {
            if rawValue.hasSuffix(".before") { return ", before unlearning" }
            if rawValue.hasSuffix(".after") { return ", after unlearning" }
            return ""
        }
        /// For the relearning figures: before or after the relearning steps.
        var relearnSide: String { rawValue.hasSuffix(".before") ? ", before relearning" : rawValue.hasSuffix(".after") ? ", after relearning" : "" }

        public var label: String {
            let model = rawValue.hasPrefix("retrained.") ? "retrained model" : "unlearned model"
            switch self {
            case .forgetLossBefore, .forgetLossAfter: return "Forget-set loss (nats per token)" + side
            case .retainPerplexityBefore, .retainPerplexityAfter: return "Retain-set perplexity" + side
            case .retainPerplexityIncrease: return "Retain-set perplexity, relative increase"
            case .holdoutPerplexityBefore, .holdoutPerplexityAfter: return "Held-out perplexity" + side
            case .holdoutPerplexityIncrease: return "Held-out perplexity, relative increase"
            case .seconds: return "Unlearning time (s)"
            case .verbMemBefore, .verbMemAfter: return "VerbMem: ROUGE-L F1 of greedy continuations of forget prefixes" + side
            case .verbMemRecallBefore, .verbMemRecallAfter: return "VerbMem: ROUGE-L recall of greedy continuations of forget prefixes" + side
            case .privLeakAUCBefore, .privLeakAUCAfter: return "Min-K% (k 0.4) ROC AUC, forget vs held-out" + side
            case .privLeakReferenceAUC: return "PrivLeak's reference AUC (the retrained model's, or 0.5 without one)"
            case .privLeakBefore, .privLeakAfter: return "PrivLeak, (AUC - reference) / reference (%)" + side
            case .relearnExactBefore, .relearnExactAfter, .retrainedRelearnExactBefore, .retrainedRelearnExactAfter:
                return "Relearning check, \(model): exact extraction rate on the held half" + relearnSide
            case .relearnApproximateBefore, .relearnApproximateAfter, .retrainedRelearnApproximateBefore, .retrainedRelearnApproximateAfter:
                return "Relearning check, \(model): approximate extraction rate on the held half" + relearnSide
            case .relearnLossBefore, .relearnLossAfter, .retrainedRelearnLossBefore, .retrainedRelearnLossAfter:
                return "Relearning check, \(model): held-half loss (nats per token)" + relearnSide
            case .relearnRecords, .retrainedRelearnRecords: return "Relearning check, \(model): records measured"
            case .relearnSeconds, .retrainedRelearnSeconds: return "Relearning check, \(model): time (s)"
            }
        }

        public var unit: String {
            if rawValue.contains("loss") { return "nats per token" }
            if rawValue.contains("seconds") { return "s" }
            if rawValue.contains(".rate.") { return "fraction of samples" }
            if rawValue.hasSuffix(".increase") { return "fraction" }
            if self == .privLeakBefore || self == .privLeakAfter { return "%" }
            if rawValue.hasSuffix("records") { return "records" }
            return ""
        }

        public var direction: LeakDirection {
            if rawValue.contains("perplexity") || rawValue.hasSuffix("seconds") || rawValue.hasSuffix("records") { return .higherCosts }
            if rawValue.contains("loss") { return .lowerLeaks }
            return .higherLeaks
        }
    }

    public enum TrainingFigure: String, Hashable, Sendable, CaseIterable {
        case firstLoss = "train.loss.first", finalLoss = "train.loss.final"
        case evalLossBefore = "eval.loss.before", evalLossAfter = "eval.loss.after"
        case tokensPerSecond = "train.tokens_per_second"
        /// DP-SGD: the accountant's epsilon spent by the run (at the run's delta).
        case dpEpsilon = "train.dp.epsilon"
    }

    /// What the runner knows when it labels a figure: the spec's parameters and the run's own findings.
    public struct LabelContext: Sendable {
        public var approxThreshold = 0.1, n = 100, p = 0.5
        public var blindFeature = "", trapsStatistic = ""
        public init() {}
    }

    public var key: String {
        switch self {
        case .miaAUC(let a): return "mia.\(a.key).auc"
        case .miaTPR(let a, .onePercent): return "mia.\(a.key).tpr_at_fpr_1pct"
        case .miaTPR(let a, .tenthPercent): return "mia.\(a.key).tpr_at_fpr_0.1pct"
        case .blindBaselineAUC: return "mia.blind_baseline.auc"
        case .extractionRate(let k, nil): return "extraction.\(k.rawValue).rate"
        case .extractionRate(let k, let p?): return "extraction.prefix_\(p).\(k.rawValue).rate"
        case .canaryExposure(let a, nil): return "canary.exposure.\(a.rawValue)"
        case .canaryExposure(let a, let r?): return "canary.rep_\(r).exposure.\(a.rawValue)"
        case .trapsAUC(nil): return "traps.auc"
        case .trapsAUC(let r?): return "traps.rep_\(r).auc"
        case .training(let f): return f.rawValue
        case .unlearn(let f): return "unlearn." + f.rawValue
        }
    }

    /// The audit step that produces it.
    public var step: String {
        switch self {
        case .miaAUC, .miaTPR, .blindBaselineAUC: return "mia"
        case .extractionRate: return "extraction"
        case .canaryExposure: return "canary"
        case .trapsAUC: return "traps"
        case .training: return "train"
        case .unlearn: return "unlearn"
        }
    }

    public var unit: String {
        if case .training(let f) = self { return f == .tokensPerSecond ? "tokens/s" : f == .dpEpsilon ? "" : "nats per token" }
        if case .unlearn(let f) = self { return f.unit }
        if case .canaryExposure = self { return "bits" }
        if case .extractionRate = self { return "fraction of samples" }
        return ""
    }

    public var decimals: Int { if case .canaryExposure = self { return 1 } else { return 3 } }

    /// Every audit figure grows with leakage (an AUC above 0.5, a rate, an exposure); a lower training loss means
    /// the model fits (and may memorise) its data more closely.
    public var direction: LeakDirection {
        if case .unlearn(let f) = self { return f.direction }
        if case .training(let f) = self, f != .tokensPerSecond && f != .dpEpsilon { return .lowerLeaks }
        return .higherLeaks
    }

    /// How its interval is made; nil for figures without one (training figures are single measurements).
    public var interval: IntervalKind? {
        switch self {
        case .training, .unlearn: return nil
        case .miaAUC, .miaTPR, .blindBaselineAUC, .trapsAUC: return .bootstrap
        case .extractionRate: return .clopperPearson
        case .canaryExposure: return .canaryRanks
        }
    }

    public func label(_ c: LabelContext = LabelContext()) -> String {
        switch self {
        case .miaAUC(let a): return "\(a.label), ROC AUC"
        case .miaTPR(let a, .onePercent): return "\(a.label), TPR at 1% FPR"
        case .miaTPR(let a, .tenthPercent): return "\(a.label), TPR at 0.1% FPR"
        case .blindBaselineAUC:
            return "Blind baseline (no model; best of length and bag of words: \(c.blindFeature)), ROC AUC"
        case .extractionRate(let k, let prefix):
            let what: String
            switch (k, prefix) {
            case (.exact, nil): what = "exact"
            case (.exact, _): what = "exact (greedy reproduces the suffix)"
            case (.approximate, nil): what = "approximate"
            case (.approximate, _): what = "approximate (edit distance <= \(c.approxThreshold))"
            case (.np, _): what = "(\(c.n), \(c.p))-discoverable"
            }
            return prefix.map { "Extraction rate at a \($0)-token prefix, \(what)" }
                ?? "Extraction rate, \(what) at any tested prefix length"
        case .canaryExposure(let a, nil):
            return "Canary exposure, \(a == .max ? "maximum" : "mean") (bits)"
        case .canaryExposure(let a, let r?):
            return "Canary exposure of canaries inserted \(r) time\(r == 1 ? "" : "s"), \(a == .max ? "maximum" : "mean") (bits)"
        case .trapsAUC(nil): return "Copyright traps, injected vs never-injected, ROC AUC (score \(c.trapsStatistic))"
        case .trapsAUC(let r?): return "Copyright traps injected \(r) times vs controls, ROC AUC"
        case .training(.firstLoss): return "Training loss, first step (nats per token)"
        case .training(.finalLoss): return "Training loss, last step (nats per token)"
        case .training(.evalLossBefore): return "Held-out loss before fine-tuning (nats per token)"
        case .training(.evalLossAfter): return "Held-out loss after fine-tuning (nats per token)"
        case .training(.tokensPerSecond): return "Training throughput (tokens/s)"
        case .training(.dpEpsilon): return "DP-SGD privacy budget spent (epsilon)"
        case .unlearn(let f): return f.label
        }
    }

    /// The stored record of this figure's value.
    public func record(_ value: Double, lower: Double?, upper: Double?, n: Int, method: String,
                       _ context: LabelContext = LabelContext()) -> MetricRecord {
        MetricRecord(step: step, key: key, value: value, lower: lower, upper: upper, n: n, method: method, label: label(context))
    }

    /// The figure a key names, or nil. Per-repetition keys parse for any count; whether a run produces them depends
    /// on its manifests.
    public init?(key: String) {
        if let f = TrainingFigure(rawValue: key) { self = .training(f); return }
        if key.hasPrefix("unlearn."), let f = UnlearnFigure(rawValue: String(key.dropFirst("unlearn.".count))) { self = .unlearn(f); return }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        func count(_ s: String, _ prefix: String) -> Int? {
            guard s.hasPrefix(prefix), let n = Int(s.dropFirst(prefix.count)), n >= 1, String(n) == s.dropFirst(prefix.count) else { return nil }
            return n
        }
        switch parts.first {
        case "mia":
            if key == "mia.blind_baseline.auc" { self = .blindBaselineAUC; return }
            // The attack key may hold a dot (mink_0.2): the figure is whatever follows it.
            for (suffix, figure) in [(".auc", 0), (".tpr_at_fpr_1pct", 1), (".tpr_at_fpr_0.1pct", 2)] where key.hasSuffix(suffix) {
                guard let a = MIAAttack(key: String(key.dropFirst(4).dropLast(suffix.count))), a.key == String(key.dropFirst(4).dropLast(suffix.count))
                else { return nil }
                self = figure == 0 ? .miaAUC(a) : .miaTPR(a, figure == 1 ? .onePercent : .tenthPercent)
                return
            }
            return nil
        case "extraction":
            guard parts.last == "rate" else { return nil }
            if parts.count == 3, let k = ExtractionKind(rawValue: parts[1]) { self = .extractionRate(k, prefix: nil); return }
            if parts.count == 4, let p = count(parts[1], "prefix_"), let k = ExtractionKind(rawValue: parts[2]) {
                self = .extractionRate(k, prefix: p); return
            }
            return nil
        case "canary":
            guard parts.count == 3 || parts.count == 4, let a = Aggregate(rawValue: parts.last!), parts[parts.count - 2] == "exposure"
            else { return nil }
            if parts.count == 3 { self = .canaryExposure(a, repetitions: nil); return }
            guard let r = count(parts[1], "rep_") else { return nil }
            self = .canaryExposure(a, repetitions: r)
        case "traps":
            if key == "traps.auc" { self = .trapsAUC(repetitions: nil); return }
            guard parts.count == 3, parts[2] == "auc", let r = count(parts[1], "rep_") else { return nil }
            self = .trapsAUC(repetitions: r)
        default:
            return nil
        }
    }

    /// True for figures whose existence depends on a manifest's repetition counts.
    public var isPerRepetition: Bool {
        switch self {
        case .canaryExposure(_, let r?), .trapsAUC(let r?): return r >= 1
        default: return false
        }
    }
}
