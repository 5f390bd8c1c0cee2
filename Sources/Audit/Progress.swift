// Progress of a long step on stderr: a redrawn bar on a terminal, a line per 10% otherwise.
import Foundation

/// A progress line on stderr: a redrawn bar with rate and time left on a terminal, a plain line every ~10% otherwise.
public final class Progress {
    let total: Int, unit: String
    let start = Date()
    let tty = isatty(2) != 0
    var lastDecile = -1
    public init(total: Int, unit: String) { self.total = total; self.unit = unit }

    public func update(done: Int, work: Int) {
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(work) / elapsed : 0
        let frac = total > 0 ? Double(done) / Double(total) : 1
        let left = frac > 0 ? elapsed * (1 - frac) / frac : 0
        if tty {
            let width = 30, filled = min(width, max(0, Int(frac * Double(width))))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            // %ld: Swift's Int is 64-bit and %d would print only its low 32 bits.
            let line = String(format: "\r[%@] %ld/%ld  %.0f %@/s  %.0fs left ", bar, done, total, rate, unit, left)
            FileHandle.standardError.write(Data(line.utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let decile = Int(frac * 10)
            if decile > lastDecile {
                lastDecile = decile
                FileHandle.standardError.write(Data(String(format: "progress: %ld/%ld (%.0f %@/s, %.0fs left)\n",
                                                           done, total, rate, unit, left).utf8))
            }
        }
    }
}
