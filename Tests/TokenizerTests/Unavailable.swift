// A missing input (fixture, cached model, reference folder) skips locally and fails under CI, which sets CI and
// provides every input (scripts/setup.sh, scripts/vllm-server.sh): a test CI cannot reach must not pass silently.
import Foundation
import XCTest

struct RequiredInputMissing: Error, CustomStringConvertible {
    let message: String
    var description: String { "CI is set, so a missing input is a failure, not a skip: \(message)" }
}

/// The error to throw when `why` keeps a test from running: XCTSkip locally, a failure when $CI is set.
func unavailable(_ why: String) -> Error {
    ProcessInfo.processInfo.environment["CI"] != nil ? RequiredInputMissing(message: why) : XCTSkip(why)
}
