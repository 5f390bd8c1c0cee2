// Tests for PII: hand-written positive and negative cases per detector (card and IBAN check digits verified
// independently with Python's integers), overlap priority, redaction leaving nothing behind (also on random
// strings), known-list normalisation, and the probe on a tiny model (batch independence, counts, intervals).
import Attacks
import Foundation
import LM
import Stats
import Model
import XCTest

private let tinyLlama = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/tiny/llama").path

final class PIITests: XCTestCase {
    /// `text` contains exactly one match, of `kind`, whose text is `expected`.
    func assertOne(_ text: String, _ kind: PII.Kind, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let ms = PII.find(in: text)
        XCTAssertEqual(ms.map(\.kind), [kind], "kinds found in \(text.debugDescription): \(ms.map(\.text))", file: file, line: line)
        XCTAssertEqual(ms.first?.text, expected, "match in \(text.debugDescription)", file: file, line: line)
        if let m = ms.first { XCTAssertEqual(String(text[m.range]), m.text, "range and text agree", file: file, line: line) }
    }

    func assertNone(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        let ms = PII.find(in: text)
        XCTAssertTrue(ms.isEmpty, "expected no match in \(text.debugDescription), got \(ms.map { "\($0.kind): \($0.text)" })",
                      file: file, line: line)
    }

    func assertNotKind(_ text: String, _ kind: PII.Kind, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(PII.find(in: text).contains { $0.kind == kind }, "no \(kind) expected in \(text.debugDescription)",
                       file: file, line: line)
    }

    // MARK: E-mail

    func testEmailPositives() {
        assertOne("Contact john.doe@example.com.", .email, "john.doe@example.com")
        assertOne("(jane_smith+tag@mail.example.co.uk)", .email, "jane_smith+tag@mail.example.co.uk")
        assertOne("<a@b.io>", .email, "a@b.io")
        assertOne("Email:X.Y-Z%1@sub-domain.example.org, thanks", .email, "X.Y-Z%1@sub-domain.example.org")
        assertOne("\"MAIL@EXAMPLE.COM\"", .email, "MAIL@EXAMPLE.COM")
        assertOne("write to bob@example.com!", .email, "bob@example.com")
        let two = PII.find(in: "a@x.org;b@y.net")
        XCTAssertEqual(two.map(\.text), ["a@x.org", "b@y.net"])
    }

    func testEmailNegatives() {
        assertNone("john@localhost")
        assertNone("@example.com")
        assertNone("john@@example.com")
        assertNone("john..doe@example.com")
        assertNone("user@example.c")
        assertNone("name@123.456")
        assertNone("user@-example.com")
        assertNone("see example.com or @handle")
    }

    // MARK: Phone

    func testPhonePositives() {
        assertOne("call +1 415 555 2671 now", .phone, "+1 415 555 2671")
        assertOne("UK office: +44 20 7946 0958.", .phone, "+44 20 7946 0958")
        assertOne("tel:+14155552671", .phone, "+14155552671")
        assertOne("Phone: (415) 555-2671", .phone, "(415) 555-2671")
        assertOne("or 415-555-2671,", .phone, "415-555-2671")
        assertOne("fax 415.555.2671", .phone, "415.555.2671")
        assertOne("London 020 7946 0958", .phone, "020 7946 0958")
        assertOne("Paris +33 1 23 45 67 89", .phone, "+33 1 23 45 67 89")
        assertOne("Berlin +49 (0)30 123456", .phone, "+49 (0)30 123456")
        assertOne("+1 (415) 555-2671", .phone, "+1 (415) 555-2671")
    }

    func testPhoneNegatives() {
        assertNone("on 2024-11-22")
        assertNone("at 2024-11-22 10:30 UTC")
        assertNone("on 22.11.2024 14:30")
        assertNone("version 10.0.19041.1")
        assertNone("host 192.168.100.200")
        assertNone("order 4155552671")                 // a bare run of digits is an ID, not a phone number
        assertNone("pi = 3.14159265358979")
        assertNone("ISBN 978-3-16-148410-0")
        assertNone("415-555-26")                       // 8 digits
        assertNone("1-2-3-4-5-6-7-8-9")
        assertNone("+1 555")                           // too few digits
        assertNone("+1234567890123456")                // 16 digits: longer than E.164 allows
        assertNone("v2.415.555.2671")                  // part of a dotted identifier
        assertNone("price 1,234,567,890")
    }

    // MARK: Cards

    func testCardPositives() {
        assertOne("card 4111 1111 1111 1111 exp 12/29", .card, "4111 1111 1111 1111")
        assertOne("5500-0000-0000-0004", .card, "5500-0000-0000-0004")
        assertOne("Amex 378282246310005.", .card, "378282246310005")
        assertOne("6011111111111117", .card, "6011111111111117")
        assertOne("(4012888888881881)", .card, "4012888888881881")
        assertOne("13 digits: 4222222222222", .card, "4222222222222")
        XCTAssertTrue(PII.luhnValid([7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]))   // Wikipedia's Luhn example 79927398713
        XCTAssertFalse(PII.luhnValid([7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]))
    }

    func testCardNegatives() {
        assertNotKind("4111 1111 1111 1112", .card)     // Luhn fails
        assertNotKind("4012888888881882", .card)
        assertNotKind("5500 0000 0000 0005", .card)
        assertNone("0000 0000 0000 0000")               // Luhn-valid placeholder
        assertNone("411111111111")                      // 12 digits
        assertNone("41111111111111111111")              // 20 digits
        assertNone("x = 3.4111111111111111")            // decimal digits
        assertNone("id4111111111111111")                // part of an identifier
        assertNone("4111 1111 1111 1111 2222 3333")     // a longer grouped number
    }

    // MARK: IBAN

    func testIBANPositives() {
        assertOne("IBAN GB82 WEST 1234 5698 7654 32.", .iban, "GB82 WEST 1234 5698 7654 32")
        assertOne("DE89370400440532013000", .iban, "DE89370400440532013000")
        assertOne("FR14 2004 1010 0505 0001 3M02 606", .iban, "FR14 2004 1010 0505 0001 3M02 606")
        assertOne("to NL91ABNA0417164300 today", .iban, "NL91ABNA0417164300")
        assertOne("BE68 5390 0754 7034", .iban, "BE68 5390 0754 7034")
        // A following capitalised word is not part of the number.
        assertOne("GB82WEST12345698765432 TO ME", .iban, "GB82WEST12345698765432")
        XCTAssertTrue(PII.ibanChecksumValid("GB82WEST12345698765432"))
        XCTAssertFalse(PII.ibanChecksumValid("GB82WEST12345698765433"))
    }

    func testIBANNegatives() {
        // Check digits fail (the digit groups that remain may still read as a phone number).
        assertNotKind("GB82 WEST 1234 5698 7654 33", .iban)
        assertNotKind("DE88 3704 0044 0532 0130 00", .iban)
        assertNotKind("NL91 ABNA 0417 1643 01", .iban)
        assertNone("DE88370400440532013000")
        assertNone("gb82west12345698765432")            // lower case
        assertNone("GB82WEST123")                       // too short
        assertNone("XGB82WEST12345698765432")           // part of a longer token
    }

    // MARK: SSN

    func testSSNPositivesAndNegatives() {
        assertOne("SSN 123-45-6789.", .ssn, "123-45-6789")
        assertOne("078 05 1120", .ssn, "078 05 1120")
        for bad in ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "123-45 6789"] {
            assertNone(bad)
        }
        assertNotKind("123-45-67890", .ssn)
        assertNotKind("1123-45-6789", .ssn)
    }

    // MARK: Priority, redaction, known list

    func testOverlapPriority() {
        // The digits of an e-mail's local part are not a phone number; a valid card is not also a phone number.
        assertOne("4155552671.415-555-2671@example.com", .email, "4155552671.415-555-2671@example.com")
        assertOne("+1 4111 1111 1111", .phone, "+1 4111 1111 1111")
        assertOne("Amex 3782 822463 10005", .card, "3782 822463 10005")
        let ms = PII.find(in: "SSN 123-45-6789 phone 415-555-2671")
        XCTAssertEqual(ms.map(\.kind), [.ssn, .phone])
    }

    func testRedact() {
        let s = "Mail john@x.com or call +1 415 555 2671; card 4111-1111-1111-1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789."
        XCTAssertEqual(PII.redact(s), "Mail [EMAIL] or call [PHONE]; card [CARD], IBAN [IBAN], SSN [SSN].")
        XCTAssertEqual(PII.redact("nothing here 2024-11-22"), "nothing here 2024-11-22")
        XCTAssertEqual(PII.find(in: s).map(\.kind), [.email, .phone, .card, .iban, .ssn])
    }

    /// Random strings over an alphabet rich in digits and separators: the redacted string never contains a match.
    func testRedactionLeavesNothingOnRandomStrings() {
        let alphabet = Array("0123456789012345678901234567890123456789 -.+()@abcXYZ.com\n,/:")
        var rng = SeededRNG(seed: 42)
        var found = 0
        for _ in 0..<1500 {
            let n = 5 + Int(rng.uniform() * 60)
            let s = String((0..<n).map { _ in alphabet[Int(rng.uniform() * Double(alphabet.count))] })
            if !PII.find(in: s).isEmpty { found += 1 }
            let r = PII.redact(s)
            XCTAssertTrue(PII.find(in: r).isEmpty, "left behind in \(r.debugDescription) from \(s.debugDescription)")
        }
        XCTAssertGreaterThan(found, 10, "the random strings exercise the detectors")
    }

    func testNormalizeAndKnownList() {
        XCTAssertEqual(PII.normalize(" John.Doe@Example.COM ", as: .email), "john.doe@example.com")
        XCTAssertEqual(PII.normalize("+1 (415) 555-2671", as: .phone), "14155552671")
        XCTAssertEqual(PII.normalize("4111-1111 1111-1111", as: .card), "4111111111111111")
        XCTAssertEqual(PII.normalize("gb82 west 1234 5698 7654 32", as: .iban), "GB82WEST12345698765432")
        let known = ["John.Doe@Example.COM", "4111 1111 1111 1111", "+1 (415) 555-2671", "gb82 west 1234 5698 7654 32",
                     "123 45 6789"]
        let text = "write to john.doe@example.com, card 4111-1111-1111-1111, phone +1 415.555.2671, "
            + "iban GB82WEST12345698765432, ssn 123-45-6789, other mary@example.com and 415-555-2671"
        let index = PII.knownIndex(known)
        let ms = PII.find(in: text)
        XCTAssertEqual(ms.map(\.kind), [.email, .card, .phone, .iban, .ssn, .email, .phone])
        let hits = ms.map { index[$0.kind]![$0.normalized] }
        XCTAssertEqual(hits, [0, 1, 2, 3, 4, nil, nil], "the last phone lacks the country code: digits differ")
    }

    // MARK: Probe

    func testProbeOnTinyModel() throws {
        let lm = try LanguageModel.load(path: tinyLlama)
        let prompts = ["My phone number is", "Contact me at", "The card number"].map { lm.tokenizer.encode($0) }
        let sampling = SamplingParams(temperature: 1, topK: 40, seed: 3)
        let decode = { (ids: [Int]) in lm.tokenizer.decode(ids) }
        let a = try PII.probe(lm, prompts: prompts, samplesPerPrompt: 3, maxNewTokens: 24, sampling: sampling,
                              known: ["+1 415 555 2671"], batchSize: 2, decode: decode)
        let b = try PII.probe(lm, prompts: prompts, samplesPerPrompt: 3, maxNewTokens: 24, sampling: sampling,
                              known: ["+1 415 555 2671"], batchSize: 32, decode: decode)
        XCTAssertEqual(a.samples.map(\.completion), b.samples.map(\.completion), "results do not depend on the batch size")
        XCTAssertEqual(a.samples.map { [$0.promptIndex, $0.sampleIndex] },
                       [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2]])
        // The same seed as one `generate` batch over the 9 sequences.
        let direct = lm.model.generate(prompts: [0, 0, 0, 1, 1, 1, 2, 2, 2].map { prompts[$0] }, maxNewTokens: 24, sampling: sampling)
        XCTAssertEqual(a.samples.map(\.completion), direct.map(decode))
        XCTAssertGreaterThan(Set(a.samples.map(\.completion)).count, 1, "sampling gives different continuations")
        for s in a.samples {
            XCTAssertEqual(s.matches, PII.find(in: s.completion))
            XCTAssertEqual(s.known.count, s.matches.count)
        }
        for k in a.kinds {
            let with = a.samples.filter { $0.matches.contains { $0.kind == k.kind } }.count
            XCTAssertEqual(k.samplesWithMatch, with)
            XCTAssertEqual(k.rate, Double(with) / 9)
            if with == 0 {
                // Clopper-Pearson with no success: [0, 1 - (alpha/2)^(1/n)].
                XCTAssertEqual(k.ci95.lower, 0)
                XCTAssertEqual(k.ci95.upper, 1 - pow(0.025, 1.0 / 9), accuracy: 1e-12)
            }
        }
        XCTAssertEqual(a.kinds.map(\.kind), PII.Kind.allCases)
    }
}
