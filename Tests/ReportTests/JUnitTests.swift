// JUnit output: well-formed, failures counted, incomplete runs errored, hostile names escaped.
import Foundation
import Store
import XCTest
@testable import Report

final class JUnitTests: XCTestCase {
    func testFailuresMatchFailingChecks() throws {
        let r = Fixture.report()
        let xml = try XMLDocumentCheck.parse(Report.junit(r))
        XCTAssertEqual(xml.count("testcase"), r.checks.count)
        XCTAssertEqual(xml.count("failure"), r.checks.filter { !$0.passed }.count)
        XCTAssertEqual(xml.count("failure"), 1)
        let suite = try XCTUnwrap(xml.elements.first { $0.name == "testsuite" })
        XCTAssertEqual(suite.attributes["failures"], "1")
        XCTAssertEqual(suite.attributes["tests"], "2")
        XCTAssertEqual(suite.attributes["time"], "754.250")
        let failure = try XCTUnwrap(xml.elements.first { $0.name == "failure" })
        XCTAssertEqual(failure.attributes["message"],
                       "mia.loss.auc = 0.734 [0.650, 0.810], threshold <= 0.600: breached by 0.134")
        XCTAssertEqual(xml.elements.first { $0.name == "testcase" }?.attributes["name"], "mia.loss.auc <= 0.60")
        XCTAssertEqual(xml.elements.first { $0.name == "testcase" }?.attributes["classname"], "auditor.thresholds")
    }

    func testNoChecksIsValid() throws {
        var r = Fixture.report(status: .passed)
        r.checks = []
        let xml = try XMLDocumentCheck.parse(Report.junit(r))
        XCTAssertEqual(xml.count("testcase"), 0)
        XCTAssertEqual(xml.elements.first { $0.name == "testsuite" }?.attributes["tests"], "0")
    }

    func testInterruptedRunErrors() throws {
        var r = Fixture.report(status: .interrupted)
        r.checks = []
        r.run.name = "a <b> & \"c\" \u{1} 'd'"
        let xml = try XMLDocumentCheck.parse(Report.junit(r))
        XCTAssertEqual(xml.count("error"), 1)
        let tc = try XCTUnwrap(xml.elements.first { $0.name == "testcase" })
        XCTAssertEqual(tc.attributes["name"], "audit completed")
        XCTAssertEqual(xml.elements.first { $0.name == "testsuite" }?.attributes["errors"], "1")
        XCTAssertEqual(xml.elements.first { $0.name == "testsuite" }?.attributes["name"], "privacy audit: a <b> & \"c\"  'd'")
    }

    func testMissingMetricFails() throws {
        var r = Fixture.report()
        r.checks.append(CheckRecord(expression: "traps.z > 1", metric: "traps.z", op: ">", threshold: 1, value: nil, lower: nil,
                                    upper: nil, passed: false, message: "metric traps.z was not produced"))
        let xml = try XMLDocumentCheck.parse(Report.junit(r))
        XCTAssertEqual(xml.count("failure"), 2)
    }
}
