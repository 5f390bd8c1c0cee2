// Progress of a long step on stderr: a redrawn bar on a terminal, a line per 10% otherwise; nothing for a step that
// ends within `Progress.quietSeconds`, nothing at all with `quiet`.
import Foundation

/// Progress of `total` items with a fractional rate and the time left at the pace so far.
///
/// The rate is `work / elapsed` (work: what the rate counts, such as tokens; the items themselves by default), shown
/// to three significant digits so that a slow step reads "0.17 canaries/s", never "0". The time left is
/// `elapsed * (total - done) / done`: the whole run's average pace, which settles as the run goes on instead of
/// jumping with each item. Nothing is shown during the first `quietSeconds`, so a short step prints nothing and the
/// first estimate already rests on that much of the run. Time comes from `clock` (seconds), so that tests can drive it.
public final class Progress {
    /// Nothing is shown before this many seconds have passed: a step that ends sooner prints nothing.
    public static let quietSeconds = 2.0
    /// A terminal bar is redrawn at most this often.
    static let redrawSeconds = 0.2

    let total: Int, unit: String, rateUnit: String, label: String?
    let quiet: Bool, terminal: Bool
    let clock: () -> Double
    let write: (String) -> Void
    let start: Double
    var lastDecile = -1, lastDraw = -Double.infinity
    /// Whether anything has been written (then the terminal bar ends with a newline).
    public private(set) var shown = false

    /// `unit` names the items ("texts"); `rateUnit` what the rate counts (default: the items). `quiet` shows nothing.
    public init(total: Int, unit: String, rateUnit: String? = nil, label: String? = nil, quiet: Bool = false,
                terminal: Bool = isatty(2) != 0, clock: @escaping () -> Double = { Date().timeIntervalSinceReferenceDate },
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.total = total; self.unit = unit; self.rateUnit = rateUnit ?? unit; self.label = label
        self.quiet = quiet; self.terminal = terminal; self.clock = clock; self.write = write
        start = clock()
    }

    /// `done` items of `total` are finished; `work` (default `done`) is what the rate counts.
    public func update(done: Int, work: Int? = nil) {
        guard !quiet else { return }
        let now = clock(), elapsed = now - start
        let finished = done >= total
        // Nothing to say before the first item is done: no rate, no estimate.
        guard elapsed >= Progress.quietSeconds, done > 0 else { return }
        let text = Progress.status(done: done, total: total, work: work ?? done, elapsed: elapsed, unit: unit, rateUnit: rateUnit)
        let prefix = label.map { "\($0): " } ?? ""
        if terminal {
            guard finished || now - lastDraw >= Progress.redrawSeconds else { return }
            lastDraw = now
            let frac = total > 0 ? min(1, max(0, Double(done) / Double(total))) : 1
            let width = 30, filled = Int(frac * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            // Trailing spaces wipe what a longer previous line left behind.
            write("\r\(prefix)[\(bar)] \(text)   " + (finished ? "\n" : ""))
            shown = true
        } else {
            let decile = total > 0 ? min(10, Int(Double(done) / Double(total) * 10)) : 10
            guard decile > lastDecile else { return }
            lastDecile = decile
            write("\(prefix)progress: \(text)\n")
            shown = true
        }
    }

    /// "3/6 canaries, 41.2 texts/s, 12 s left": the items, the rate and the time left at the average pace so far.
    public static func status(done: Int, total: Int, work: Int, elapsed: Double, unit: String, rateUnit: String) -> String {
        var s = "\(done)/\(total) \(unit), \(rateText(elapsed > 0 ? Double(work) / elapsed : 0)) \(rateUnit)/s"
        if done >= total {
            s += ", done in \(durationText(elapsed))"
        } else if let left = timeLeft(done: done, total: total, elapsed: elapsed) {
            s += ", \(durationText(left)) left"
        }
        return s
    }

    /// Seconds left at the average pace so far; nil before the first item is done.
    public static func timeLeft(done: Int, total: Int, elapsed: Double) -> Double? {
        guard done > 0, elapsed > 0 else { return nil }
        return elapsed * Double(max(0, total - done)) / Double(done)
    }

    /// Three significant digits, never rounded to 0: 512, 41.2, 3.46, 0.171, 0.0345.
    public static func rateText(_ r: Double) -> String {
        guard r.isFinite, r > 0 else { return "0" }
        if r >= 100 { return String(format: "%.0f", r) }
        let decimals = max(0, 2 - Int(floor(log10(r))))
        return String(format: "%.\(decimals)f", r)
    }

    /// "45 s", "2 min 05 s", "1 h 02 min".
    public static func durationText(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t < 60 { return "\(t) s" }
        if t < 3600 { return String(format: "%ld min %02ld s", t / 60, t % 60) }
        return String(format: "%ld h %02ld min", t / 3600, (t % 3600) / 60)
    }
}
