// `auditor mia`: membership inference of a member set against a non-member set, every attack, with intervals.
import Audit
import ArgumentParser
import Attacks
import Foundation
import LM
import Stats
import Model

struct MIACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mia",
        abstract: "Membership inference: how well each attack tells --members from --nonmembers.",
        discussion: """
            Every score points one way: higher = more likely a member (LOSS is -NLL, Min-K% the mean of the k \
            lowest token log-probs, Min-K%++ of the k lowest z-scores against the vocabulary's mean and spread, \
            zlib -NLL per compressed byte, lowercase NLL(lower)/NLL, reference NLL_ref - NLL_target, ReCaLL \
            LL(x|prefix)/LL(x)). One forward pass per text feeds LOSS, zlib, Min-K% and Min-K%++. \
            auc: ROC-AUC (ties count 1/2; 0.5 = chance). tpr_at_fpr_1pct / _0.1pct: the largest true-positive \
            rate among ROC points with false-positive rate <= 1% / 0.1%. Intervals: 95% stratified percentile \
            bootstrap (--resamples, --seed). threshold: the score above which a text is called a member, set on \
            the non-members so that at most --target-fpr of them exceed it (calibrated and evaluated on the same \
            non-members here: optimistic). blind_baseline: the best model-free separator (length, bag of words); \
            when it alone separates the sets, they differ in distribution and the AUCs say little (a warning). \
            Attack names are the metric catalog's (loss, zlib, mink_0.2, minkpp_0.2, reference: the keys thresholds \
            use, as mia.<attack>.auc); every interval is written {"value": v, "ci95": [lower, upper]}, as in summary.json.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Served model") var remote: EndpointOptions
    @Option(help: "JSON Lines of texts known to be in the training data.") var members: String
    @Option(help: "JSON Lines of texts known not to be.") var nonmembers: String
    @Option(help: "Field holding the text.") var field = "text"
    @Option(help: "Reference checkpoint for the reference-model attack.") var reference: String?
    @Option(help: "Comma-separated k values for Min-K% and Min-K%++.") var k = "0.2"
    @Option(help: "Non-member prefix for ReCaLL (omit to skip ReCaLL).") var recallPrefix: String?
    @Flag(help: "Skip the lowercase attack (it needs a second pass).") var noLowercase = false
    @Option(help: "Bootstrap resamples.") var resamples = 1000
    @Option(help: "Bootstrap seed.") var seed: UInt64 = 0
    @Option(help: "False-positive rate for the calibrated threshold.") var targetFpr = 0.01
    @Option(help: "Also write per-text scores here (JSON Lines).") var perText: String?

    func validate() throws {
        guard resamples >= 1 else { throw ValidationError("--resamples must be >= 1") }
        try atMost(resamples, Limits.resamples, "--resamples")
        guard targetFpr > 0 && targetFpr < 1 else { throw ValidationError("--target-fpr must be in (0, 1)") }
    }

    func run() throws {
        try reportingErrors {
            // Empty parts ("0.2,,0.5", "") and repeated values are rejected too: each k names one attack.
            let ks = try k.split(separator: ",", omittingEmptySubsequences: false).map { s -> Double in
                guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v > 0, v <= 1 else {
                    throw InputError("--k", "expected comma-separated distinct values in (0, 1], got '\(k)'")
                }
                return v
            }
            guard Set(ks).count == ks.count else {
                throw InputError("--k", "expected comma-separated distinct values in (0, 1], got '\(k)'")
            }
            let memRecords = try readJSONLTexts(members, field: field), nonRecords = try readJSONLTexts(nonmembers, field: field)
            let mem = memRecords.map(\.text), non = nonRecords.map(\.text)
            let lm = try loadAuditable(model, remote)
            let ref = try reference.map { try loadCheckpoint($0) }
            // A served model has no whole-vocabulary statistics: Min-K%++ is left out and said to be unavailable.
            let vocabStats = lm.capabilities.contains(.vocabularyStatistics)
            let scorer = MIAScorer(target: lm, reference: ref,
                                   options: MIAOptions(ks: ks, lowercase: !noLowercase, recallPrefix: recallPrefix,
                                                       minKPlusPlus: vocabStats))
            let bar = Progress(total: (mem.count + non.count) * scorer.passesPerText, unit: "texts", label: "mia")
            func scored(_ texts: [String], _ file: String, after: Int) throws -> [MIAScores] {
                do { return try scorer.score(texts) { done, _ in bar.update(done: after + done) } } catch let e as MIAError {
                    // The prefix is no file's fault: name the flag.
                    throw InputError(e == .emptyPrefix ? "--recall-prefix" : file, e.oneBased.description)
                }
            }
            let ms = try scored(mem, members, after: 0), ns = try scored(non, nonmembers, after: mem.count * scorer.passesPerText)
            let labels = Metrics.labels(members: ms.count, nonMembers: ns.count)
            var attacks: [[String: Any]] = []
            let names = ms[0].named(ks: ks).map(\.name)
            for (a, name) in names.enumerated() {
                let scores = ms.map { $0.named(ks: ks)[a].value } + ns.map { $0.named(ks: ks)[a].value }
                func boot(_ metric: @escaping Metrics.Metric) throws -> [String: Any] {
                    let b = try Metrics.bootstrap(scores: scores, labels: labels, metric: metric, resamples: resamples, seed: seed)
                    return ["value": b.estimate, "ci95": [b.lower, b.upper]]
                }
                let th = try Metrics.threshold(atFPR: targetFpr, nonMemberScores: ns.map { $0.named(ks: ks)[a].value })
                let outcome = try Metrics.apply(threshold: th, scores: scores, labels: labels)
                attacks.append([
                    "attack": name,
                    "auc": try boot { try Metrics.auc(scores: $0, labels: $1) },
                    "tpr_at_fpr_1pct": try boot { try Metrics.tprAtFPR(scores: $0, labels: $1, maxFPR: 0.01) },
                    "tpr_at_fpr_0.1pct": try boot { try Metrics.tprAtFPR(scores: $0, labels: $1, maxFPR: 0.001) },
                    "threshold": ["value": th, "target_fpr": targetFpr, "tpr": outcome.tpr, "fpr": outcome.fpr],
                ])
            }
            let blind = try Metrics.blindBaseline(memberTexts: mem, nonMemberTexts: non, seed: seed, resamples: resamples)
            var out: [String: Any] = [
                "members": ms.count, "nonmembers": ns.count, "direction": "higher score = more likely member",
                "tpr_convention": "largest TPR over ROC points with FPR <= the bound",
                "attacks": attacks,
                "blind_baseline": ["feature": blind.feature, "auc": ["value": blind.auc, "ci95": [blind.lower, blind.upper]]],
            ]
            if let w = Metrics.blindBaselineWarning(blind) { out["warning"] = w }
            if let w = Metrics.smallSampleWarning(positives: ms.count, negatives: ns.count) { out["small_sample_warning"] = w }
            if !vocabStats {
                out["unavailable"] = ["minkpp": "needs the whole vocabulary's mean and variance of ln p, which \(lm.identity) does not serve"]
            }
            let shared = Set(mem).intersection(Set(non)).count
            if shared > 0 {
                // The same text on both sides: no attack can separate those, and the cross-fitted bag-of-words
                // baseline sees each one's twin in training, which inflates its AUC.
                out["overlap_warning"] = "\(shared) text(s) appear in both --members and --nonmembers"
            }
            if let perText {
                let sink = try OutputSink(path: perText)
                for (i, s) in (ms + ns).enumerated() {
                    let index = i < ms.count ? i : i - ms.count
                    var o: [String: Any] = ["index": index, "member": i < ms.count, "tokens": s.tokens]
                    // The input's own id, when its line has one: rows can be joined back to the data.
                    if let id = (i < ms.count ? memRecords[index] : nonRecords[index]).id { o["id"] = id }
                    for (n, v) in s.named(ks: ks) { o[n] = v }
                    try sink.write(jsonLine(o))
                }
                try sink.close()
            }
            print(jsonLine(out))
        }
    }
}
