// The comparison's sensitive-span extraction on the in-memory bigram model: memorised records give their span back
// under greedy decoding, and a record the model never saw is scored by the same rule as a direct argmax walk.
@testable import Experiments
import FakeModels
import LM
import XCTest

final class CompareExtractionTests: XCTestCase {
    func tokenised(_ m: FakeModel, _ text: String, sensitive: Set<String>) -> Compare.Tokenised {
        let ids = m.encode(text, addBos: true)
        // flag j belongs to token j + 1 (as Compare.tokenise aligns them with the scores).
        return Compare.Tokenised(ids: ids, sensitive: ids.dropFirst().map { sensitive.contains(m.words[$0]) })
    }

    func testMemorisedSpansAreExtractedAndOthersFollowTheArgmax() throws {
        let memorised = ["patient alice called from 5551234 about the visit", "patient bruno called from 5559876 about the bill"]
        let m = FakeModel(vocabulary: ["patient", "chen", "called", "from", "5550000", "about", "the", "visit"], memorised: memorised)
        let seqs = [tokenised(m, memorised[0], sensitive: ["5551234"]), tokenised(m, memorised[1], sensitive: ["5559876"]),
                    tokenised(m, "patient chen called from 5550000 about the visit", sensitive: ["5550000"])]
        let r = try Compare.sensitiveExtraction(m, seqs)
        XCTAssertEqual(r.n, 3)
        // The third record: greedy from "<s> patient chen called from" is the argmax of the logits there, worked out directly.
        let prefix = m.encode("patient chen called from", addBos: true)
        let logits = m.logits(prefix[...])
        let argmax = logits.indices.max { logits[$0] < logits[$1] }!
        let third = m.words[argmax] == "5550000" ? 1 : 0
        XCTAssertEqual(r.exact, Double(2 + third) / 3, accuracy: 1e-12)
        XCTAssertEqual(r.approximate, r.exact, accuracy: 1e-12, "one-token spans: approximate within 0.1 means exact")
        // No record with a sensitive token: no rate at all rather than 0.
        let none = try Compare.sensitiveExtraction(m, [tokenised(m, "patient chen called", sensitive: [])])
        XCTAssertEqual(none.n, 0)
        XCTAssertTrue(none.exact.isNaN)
    }

    func testIntervalsAreClippedToEachFiguresRange() {
        // Two seeds far apart: the t interval of a rate would reach below 0 and above 1.
        let rate = Compare.summarise([0.0, 0.9], key: "extraction.exact.rate")
        XCTAssertEqual(rate.mean, 0.45, accuracy: 1e-12)
        XCTAssertEqual(rate.lower, 0)
        XCTAssertEqual(rate.upper, 1)
        let time = Compare.summarise([10, 300], key: "cost.seconds")
        XCTAssertEqual(time.lower, 0)
        // mean 155, sd |300 - 10| / sqrt 2, t(1) 12.706: upper 155 + 12.706 * sd / sqrt 2 = 155 + 12.706 * 145, unclipped.
        XCTAssertEqual(time.upper!, 155 + 12.706 * 145, accuracy: 1e-9)
        // A gain can be negative: not clipped.
        let gain = Compare.summarise([-1, 1], key: "sensitive.gain")
        XCTAssertLessThan(gain.lower!, -1)
    }
}
