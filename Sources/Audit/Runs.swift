// The store of runs as the commands see it: opened with dead runs reaped, and two runs compared figure by figure.
import Foundation
import Store

/// Opens (creating its folder) the store and marks runs whose process died as interrupted.
public func openStore(_ path: String) throws -> Store {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw InputError(dir, "cannot create the folder for the store: \(error.localizedDescription)")
        }
    }
    let store = try Store(path: path)
    _ = try store.reapInterrupted(host: hostName())
    return store
}

/// Opens an existing store for a reading command (history, diff, report): read-only, so that a store in a read-only
/// file or on a read-only mount can be read, and dead runs of this host shown interrupted without writing. A store of
/// an older schema is upgraded through the writable open when the file can be written.
public func openStoreForReading(_ path: String) throws -> Store {
    do {
        return try Store(readingOnly: path, host: hostName())
    } catch let e as StoreError where e.isOlderSchema && FileManager.default.isWritableFile(atPath: path) {
        return try openStore(path)
    }
}

/// Two runs side by side: every figure of either, the checkpoints and datasets by hash, and the thresholds.
public struct RunDiff {
    public struct Row {
        public let key: String
        public let a: MetricRecord?, b: MetricRecord?
        /// b - a when both runs have the figure.
        public let change: Double?
        /// "yes" when the two 95% intervals do not overlap (a conservative test), "no", or "n/a" without intervals.
        public let exceedsIntervals: String
    }
    public let a: RunReport, b: RunReport
    public let rows: [Row]
    /// What changed in what was audited: "target checkpoint: same (…)", "dataset members: … -> …".
    public let notes: [String]
    /// Each threshold expression of either run with "pass", "FAIL" or "-" (not in that run).
    public let checks: [(expression: String, a: String, b: String)]

    public init(_ a: RunReport, _ b: RunReport) {
        self.a = a; self.b = b
        var keys = a.metrics.map(\.key)
        for m in b.metrics where !keys.contains(m.key) { keys.append(m.key) }
        rows = keys.map { k in
            let ma = a.metrics.first { $0.key == k }, mb = b.metrics.first { $0.key == k }
            var exceeds = "n/a"
            if let ma, let mb, let la = ma.lower, let ua = ma.upper, let lb = mb.lower, let ub = mb.upper {
                exceeds = (lb > ua || la > ub) ? "yes" : "no"
            }
            let change = (ma != nil && mb != nil) ? mb!.value - ma!.value : nil
            return Row(key: k, a: ma, b: mb, change: change, exceedsIntervals: exceeds)
        }
        var notes: [String] = []
        for role in Set(a.checkpoints.map(\.role) + b.checkpoints.map(\.role)).sorted() {
            let ha = a.checkpoints.first { $0.role == role }?.sha256, hb = b.checkpoints.first { $0.role == role }?.sha256
            notes.append("\(role) checkpoint: " + (ha == hb ? "same (\(ha?.prefix(12) ?? "none"))" : "\(ha?.prefix(12) ?? "none") -> \(hb?.prefix(12) ?? "none")"))
        }
        for role in Set(a.datasets.map(\.role) + b.datasets.map(\.role)).sorted() {
            let ha = a.datasets.first { $0.role == role }?.sha256, hb = b.datasets.first { $0.role == role }?.sha256
            if ha != hb { notes.append("dataset \(role): \(ha?.prefix(12) ?? "none") -> \(hb?.prefix(12) ?? "none")") }
        }
        self.notes = notes
        checks = Set(a.checks.map(\.expression) + b.checks.map(\.expression)).sorted().map { c in
            func s(_ r: RunReport) -> String { r.checks.first { $0.expression == c }.map { $0.passed ? "pass" : "FAIL" } ?? "-" }
            return (c, s(a), s(b))
        }
    }
}
