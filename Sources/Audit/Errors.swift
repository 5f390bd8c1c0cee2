// The user's input problems that are not a checkpoint's: a data file, a manifest, an argument value, a spec.
import Foundation

/// "FILE: problem": a JSONL line, a manifest, an argument value.
public struct InputError: Error, CustomStringConvertible {
    public let description: String
    /// What the message names: a file, or an option ("--k") when an option's value is at fault.
    public let file: String
    public init(_ file: String, _ message: String) { self.file = file; description = "\(file): \(message)" }
    /// True when the error names an option rather than a file: the command line is at fault, a usage error (exit 64).
    public var namesOption: Bool { file.hasPrefix("--") }
}

/// A problem in a spec file, at a place in it: "audits/x.yml:12:5: unknown key 'attaks' (expected one of: ...)".
public struct SpecError: Error, CustomStringConvertible {
    public let file: String, line: Int, column: Int, message: String
    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file; self.line = line; self.column = column; self.message = message
    }
    public var description: String { "\(file):\(line):\(column): \(message)" }
}
