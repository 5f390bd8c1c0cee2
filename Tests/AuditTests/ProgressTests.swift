// The shared progress display on a synthetic clock: fractional rates, the time left at the average pace (its first
// estimate and how it settles), silence for short runs, --quiet, and the terminal / line-per-10% forms.
import Audit
import XCTest

final class ProgressTests: XCTestCase {
    /// A clock the test moves by hand, and everything the display writes.
    final class Harness {
        var now = 1000.0
        var written: [String] = []
        func progress(total: Int, unit: String = "texts", rateUnit: String? = nil, quiet: Bool = false, terminal: Bool) -> Audit.Progress {
            Audit.Progress(total: total, unit: unit, rateUnit: rateUnit, label: "step", quiet: quiet, terminal: terminal,
                     clock: { [unowned self] in self.now }, write: { [unowned self] in self.written.append($0) })
        }
    }

    func testRateIsFractionalToThreeDigits() {
        XCTAssertEqual(Audit.Progress.rateText(6.0 / 35.0), "0.171")     // 6 canaries in 35 s: was "0 canaries/s"
        XCTAssertEqual(Audit.Progress.rateText(0.0345), "0.0345")
        XCTAssertEqual(Audit.Progress.rateText(3.456), "3.46")
        XCTAssertEqual(Audit.Progress.rateText(41.23), "41.2")
        XCTAssertEqual(Audit.Progress.rateText(512.4), "512")
        XCTAssertEqual(Audit.Progress.rateText(0), "0")
        XCTAssertEqual(Audit.Progress.durationText(45.4), "45 s")
        XCTAssertEqual(Audit.Progress.durationText(125), "2 min 05 s")
        XCTAssertEqual(Audit.Progress.durationText(3720), "1 h 02 min")
    }

    /// At a steady pace the first estimate is the true time left, and it stays there; the status line says so.
    func testTimeLeftAtASteadyPace() {
        // 1,000 texts at 40 texts/s: 25 s in all.
        for done in [80, 500, 960] {
            let elapsed = Double(done) / 40
            XCTAssertEqual(Audit.Progress.timeLeft(done: done, total: 1000, elapsed: elapsed)!, 25 - elapsed, accuracy: 1e-9)
        }
        XCTAssertNil(Audit.Progress.timeLeft(done: 0, total: 1000, elapsed: 3))
        XCTAssertEqual(Audit.Progress.status(done: 80, total: 1000, work: 80, elapsed: 2, unit: "texts", rateUnit: "texts"),
                       "80/1000 texts, 40.0 texts/s, 23 s left")
        XCTAssertEqual(Audit.Progress.status(done: 10, total: 10, work: 5120, elapsed: 12.8, unit: "texts", rateUnit: "tokens"),
                       "10/10 texts, 400 tokens/s, done in 13 s")
    }

    /// The canary case of issue 15: 6 canaries, the first of which scores its format's 1,000 candidates. Counted in
    /// texts, the first estimate is the true time left (35 s in all); counted in canaries it would have been 5x the
    /// first canary's time, far too high.
    func testCanaryFirstEstimateCountsTexts() {
        let h = Harness()
        let p = h.progress(total: 1006, terminal: false)
        let perText = 35.0 / 1006
        var estimates: [Double] = []
        for done in 1...1006 {
            h.now = 1000 + Double(done) * perText
            p.update(done: done)
            if done % 100 == 0 { estimates.append(Audit.Progress.timeLeft(done: done, total: 1006, elapsed: h.now - 1000)!) }
        }
        for (i, e) in estimates.enumerated() { XCTAssertEqual(e, 35 - Double((i + 1) * 100) * perText, accuracy: 1e-9) }
        // The first line written (the first item past the quiet two seconds, the 58th) already carries the right
        // estimate: 35 - 58 x 35/1006 = 32.98 s.
        XCTAssertEqual(h.written.first, "step: progress: 58/1006 texts, 28.7 texts/s, 33 s left\n")
    }

    /// The estimate settles: with a slow start (a warm-up) it falls towards the truth and moves less and less.
    func testEstimateSettlesAfterASlowStart() {
        // The first 10 of 100 items take 1 s each, the rest 0.1 s each: 19 s in all.
        var elapsed = 0.0, estimates: [Double] = []
        for done in 1...99 {
            elapsed += done <= 10 ? 1 : 0.1
            estimates.append(Audit.Progress.timeLeft(done: done, total: 100, elapsed: elapsed)!)
        }
        let truth: [Double] = (1...99).map { (done: Int) -> Double in
            let spent: Double = done <= 10 ? Double(done) : 10 + Double(done - 10) * 0.1
            return 19 - spent
        }
        let late = zip(estimates, truth).suffix(20).map { abs($0 - $1) }
        let early = zip(estimates, truth).dropFirst(10).prefix(20).map { abs($0 - $1) }
        XCTAssertLessThan(late.max()!, early.max()!, "the error shrinks")
        let steps = zip(estimates.dropFirst(), estimates).map { abs($0 - $1) }
        XCTAssertLessThan(steps.suffix(20).max()! * 10, steps.dropFirst(10).prefix(20).max()!, "late estimates move ten times less")
    }

    /// A run that ends within the quiet two seconds prints nothing: `generate` printed 11 lines for a 2 s run.
    func testShortRunIsSilent() {
        for terminal in [false, true] {
            let h = Harness()
            let p = h.progress(total: 64, unit: "steps", terminal: terminal)
            for step in 1...64 { h.now += 1.9 / 64; p.update(done: step) }
            XCTAssertEqual(h.written, [], "terminal: \(terminal)")
            XCTAssertFalse(p.shown)
        }
    }

    /// Before the first item is done there is no rate and no estimate: nothing is written, even after the quiet start.
    func testNothingBeforeTheFirstItem() {
        let h = Harness()
        let p = h.progress(total: 32, unit: "samples", terminal: false)
        h.now += 5; p.update(done: 0)
        XCTAssertEqual(h.written, [])
        h.now += 5; p.update(done: 4)
        XCTAssertEqual(h.written, ["step: progress: 4/32 samples, 0.400 samples/s, 1 min 10 s left\n"])
    }

    func testQuietWritesNothing() {
        let h = Harness()
        let p = h.progress(total: 10, quiet: true, terminal: false)
        for i in 1...10 { h.now += 10; p.update(done: i) }
        XCTAssertEqual(h.written, [])
    }

    /// Not a terminal: one line per 10% once past the quiet start, the last one at 100%, never more than 11.
    func testLinePerTenthWhenNotATerminal() {
        let h = Harness()
        let p = h.progress(total: 200, terminal: false)
        for i in 1...200 { h.now += 0.5; p.update(done: i) }
        XCTAssertEqual(h.written.count, 11, h.written.joined())
        XCTAssertTrue(h.written.allSatisfy { $0.hasPrefix("step: progress: ") && $0.hasSuffix("\n") })
        XCTAssertEqual(h.written.last, "step: progress: 200/200 texts, 2.00 texts/s, done in 1 min 40 s\n")
        XCTAssertEqual(h.written[5], "step: progress: 100/200 texts, 2.00 texts/s, 50 s left\n")
    }

    /// A terminal: one redrawn bar (carriage returns, at most five redraws a second), a newline at the end.
    func testTerminalBarRedrawsAndEndsWithANewline() {
        let h = Harness()
        let p = h.progress(total: 100, terminal: true)
        // 1/16 s an item (exact in binary): silent up to item 32 (2 s), then redrawn every 4th item (0.25 s, the
        // first time 0.2 s have passed) up to 100: items 32, 36, ..., 100, 18 draws.
        for i in 1...100 { h.now += 0.0625; p.update(done: i) }
        XCTAssertTrue(h.written.allSatisfy { $0.hasPrefix("\rstep: [") })
        XCTAssertEqual(h.written.count, 18)
        XCTAssertTrue(h.written[0].contains("] 32/100 texts, 16.0 texts/s, 4 s left"), h.written[0])
        XCTAssertTrue(h.written.last!.hasSuffix("\n"))
        XCTAssertTrue(h.written.last!.contains("[##############################] 100/100 texts, 16.0 texts/s, done in 6 s"), h.written.last!)
        XCTAssertEqual(h.written.filter { $0.hasSuffix("\n") }.count, 1)
    }
}
