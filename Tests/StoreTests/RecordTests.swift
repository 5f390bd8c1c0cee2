// Tests of the record types: each matches its table column for column, round-trips exactly, and names a bad column.
import Foundation
import XCTest
@testable import Store

final class RecordTests: XCTestCase {
    private var directory: URL!
    private var path: String { directory.appendingPathComponent("auditor.sqlite").path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("RecordTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    private let recordTypes: [any TableRecord.Type] = [
        RunRecord.self, CheckpointRecord.self, DatasetRecord.self, StepRecord.self, MetricRecord.self,
        TextScoreRecord.self, FindingRecord.self, CheckRecord.self,
    ]

    private let run = RunRecord(
        id: "r1", name: "smoke", specPath: "audits/smoke.yaml", specSHA256: "ab", specText: "name: smoke\n", seed: -7,
        auditorVersion: "0.1.0", machine: "Linux", host: "host-a", pid: Int32.max, startedAt: "2026-11-22T10:00:00Z",
        finishedAt: "2026-11-22T10:04:00Z", durationSeconds: 240.125, status: .breached, verdict: "leaks",
        optionsJSON: #"{"mia":{}}"#)

    func testEveryTableHasOneRecordTypeWithItsColumns() throws {
        _ = try Store(path: path)
        let db = try Connection(path: path)
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") { $0.text(0) }
        XCTAssertEqual(tables, recordTypes.map { $0.table }.sorted())
        for type in recordTypes {
            let columns = try db.query("SELECT name FROM pragma_table_info(?) ORDER BY cid", [type.table]) { $0.text(0) }
            let runKey = type is any RunChildRecord.Type ? ["run_id"] : []
            XCTAssertEqual(runKey + type.columns, columns, "\(type)")
        }
    }

    func testEveryRecordRoundTrips() throws {
        _ = try Store(path: path)
        let db = try Connection(path: path)
        let runs = [run, RunRecord(id: "r2", name: "", specPath: "", specSHA256: "", specText: "", seed: 0, auditorVersion: "",
                                   machine: "", host: "", pid: 0, startedAt: "")]
        try db.insert(runs)
        XCTAssertEqual(try db.select(RunRecord.self, "ORDER BY rowid"), runs)
        try roundTrip([CheckpointRecord(role: "target", path: "/m", format: "safetensors", sha256: "11",
                                        files: [FileHash(path: "model.safetensors", sha256: "22", bytes: 5_000_000_000)],
                                        tokenizerSHA256: "33", architecture: "llama", parameters: Int64.max,
                                        contextLength: 8192),
                       CheckpointRecord(role: "reference", path: "", format: "gguf", sha256: "", files: [],
                                        tokenizerSHA256: "", architecture: "", parameters: 0, contextLength: 0)], db)
        try roundTrip([DatasetRecord(role: "members", path: "m.jsonl", sha256: "77", texts: 500)], db)
        try roundTrip([StepRecord(name: "mia", finishedAt: "2026-11-22T10:03:00Z", seconds: 175.5)], db)
        try roundTrip([MetricRecord(step: "mia", key: "a", value: 0.73, lower: 0.7, upper: 0.77, n: 1000, method: "m", label: "l"),
                       MetricRecord(step: "mia", key: "b", value: -1e-300, lower: nil, upper: nil, n: nil, method: "", label: "")],
                      db)
        try roundTrip([TextScoreRecord(checkpoint: "target", dataset: "members", index: 3, attack: "zlib", score: -2.5),
                       TextScoreRecord(checkpoint: "target", dataset: "nonmembers", index: 0, attack: "loss", score: 4)],
                      db, orderBy: "dataset")
        try roundTrip([FindingRecord(step: "canary", kind: "canary", dataset: "canaries", index: 1, itemID: "c-1",
                                     secret: "🔑 \u{0}", numbers: ["exposure": .infinity, "log10_pz": -.infinity, "r": 8]),
                       FindingRecord(step: "canary", kind: "canary", dataset: "canaries", index: 2, itemID: nil, secret: nil,
                                     numbers: [:])], db)
        try roundTrip([CheckRecord(expression: "x <= 1", metric: "x", op: "<=", threshold: 1, value: 2, lower: 1.5, upper: 2.5,
                                   passed: false, message: "2 > 1"),
                       CheckRecord(expression: "y < 1", metric: "y", op: "<", threshold: 1, value: nil, lower: nil, upper: nil,
                                   passed: true, message: "")], db)
    }

    /// Inserts a run's child rows and selects them back in insertion order (`scores` has no rowid: it passes its own).
    private func roundTrip<R: RunChildRecord & Equatable>(_ records: [R], _ db: Connection, orderBy: String = "rowid",
                                                          line: UInt = #line) throws {
        try db.insert(records, runID: run.id)
        XCTAssertEqual(try db.select(R.self, runID: run.id, orderBy: orderBy), records, "\(R.self)", line: line)
    }

    func testBadRowNamesTheColumn() throws {
        let db = try Connection(path: ":memory:")
        func readDataset(_ select: String) -> String? {
            do {
                return try db.withStatement(select) { statement in
                    XCTAssertTrue(try statement.step())
                    _ = try DatasetRecord(row: Row(statement, table: "datasets"))
                    return nil
                }
            } catch {
                return (error as? StoreError)?.message ?? "\(error)"
            }
        }
        XCTAssertEqual(readDataset("SELECT 'members' AS role, 'm.jsonl' AS path, '00' AS sha256"),
                       "no column 'texts' in a row of table 'datasets'")
        XCTAssertEqual(readDataset("SELECT 'members' AS role, 'm.jsonl' AS path, '00' AS sha256, 'many' AS texts"),
                       "column 'texts' of table 'datasets' holds text, not Int")
        XCTAssertEqual(readDataset("SELECT 'members' AS role, NULL AS path, '00' AS sha256, 5 AS texts"),
                       "column 'path' of table 'datasets' holds NULL, not String")

        let message = try db.withStatement("SELECT 'x' AS files_json") { statement -> String in
            XCTAssertTrue(try statement.step())
            do {
                let _: [FileHash] = try Row(statement, table: "checkpoints").json("files_json")
                return "no error"
            } catch let error as StoreError {
                return error.message
            }
        }
        XCTAssertTrue(message.hasPrefix("column 'files_json' of table 'checkpoints' holds unreadable JSON: "), message)
    }
}
