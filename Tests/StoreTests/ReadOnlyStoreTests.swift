// Reading a store that cannot be written: a read-only mount (or, for a non-root user, a read-only file and folder).
// Before Store(readingOnly:) every open switched to WAL, migrated and reaped, so `history` and `report` failed there.
import Foundation
import XCTest
@testable import Store

/// Makes `dir` read-only for real and returns the undo: as root, a read-only bind mount of the folder onto itself
/// (permissions do not stop root); otherwise chmod 555 on the folder and 444 on its files. When root cannot mount
/// (a container without CAP_SYS_ADMIN) this skips locally and fails under CI=true.
func makeReadOnly(_ dir: String) throws -> () -> Void {
    func run(_ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
    if getuid() == 0 {
        guard run(["mount", "--bind", dir, dir]) == 0 else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("cannot bind-mount \(dir) as root") }
            throw XCTSkip("root without mount permission: cannot make \(dir) read-only")
        }
        guard run(["mount", "-o", "remount,bind,ro", dir]) == 0 else {
            _ = run(["umount", dir])
            XCTFail("cannot remount \(dir) read-only")
            throw XCTSkip("no read-only remount")
        }
        return { _ = run(["umount", dir]) }
    }
    let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    for f in files { chmod(dir + "/" + f, 0o444) }
    chmod(dir, 0o555)
    return {
        chmod(dir, 0o755)
        for f in files { chmod(dir + "/" + f, 0o644) }
    }
}

final class ReadOnlyStoreTests: XCTestCase {
    private var directory: String!
    private var path: String { directory + "/auditor.sqlite" }

    override func setUpWithError() throws {
        // Characters a file: URI gives meaning to, so that the immutable open's encoding is exercised.
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ReadOnlyStore a%20b?c#d-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    private func makeRun(_ id: String, host: String = "host-a", pid: Int32) -> RunRecord {
        RunRecord(id: id, name: "smoke", specPath: "audits/smoke.yaml", specSHA256: String(repeating: "ab", count: 32),
                  specText: "name: smoke\n", seed: 7, auditorVersion: "0.1.0", machine: "test", host: host, pid: pid,
                  startedAt: id == "dead" ? "2026-11-22T10:00:00Z" : "2026-11-22T11:00:00Z")
    }

    /// A store with a finished run and a run left 'running' by pid 111 (dead), closed so that its WAL is folded in.
    private func makeStore() throws {
        let store = try Store(path: path)
        try store.beginRun(makeRun("dead", pid: 111))
        try store.beginRun(makeRun("done", pid: 111))
        try store.finishRun(id: "done", status: .passed, verdict: "all thresholds hold", finishedAt: "t", durationSeconds: 1)
    }

    private func bytes() throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func testStoreOnAReadOnlyMountIsReadable() throws {
        try makeStore()
        let before = try bytes()
        let undo = try makeReadOnly(directory)
        defer { undo() }
        // The condition is real: the writable open (what history used) fails here. (A non-root user's read-only
        // file can still be opened by SQLite, which falls back to reading; root's mount is the case that broke.)
        if getuid() == 0 { XCTAssertThrowsError(try Store(path: path)) }

        let store = try Store(readingOnly: path, host: "host-a", isAlive: { _ in false })
        XCTAssertEqual(try store.runs().map { "\($0.id) \($0.status.rawValue)" }, ["done passed", "dead interrupted"])
        XCTAssertEqual(try store.load(runID: "done").run.verdict, "all thresholds hold")
        XCTAssertEqual(try store.load(runID: "dead").run.status, .interrupted)
        XCTAssertEqual(try store.resolveRun("latest"), "done")
        XCTAssertEqual(try store.integrityCheck(), "ok")
        XCTAssertEqual(try bytes(), before)
    }

    /// A read-only open writes nothing, even where it could: a dead run is only shown interrupted.
    func testReadOnlyOpenWritesNothing() throws {
        try makeStore()
        let before = try bytes()
        do {
            let store = try Store(readingOnly: path, host: "host-a", isAlive: { _ in false })
            XCTAssertEqual(try store.load(runID: "dead").run.status, .interrupted)
            // Another host's runs, and runs whose process lives, are shown as they are.
            let elsewhere = try Store(readingOnly: path, host: "host-b", isAlive: { _ in false })
            XCTAssertEqual(try elsewhere.load(runID: "dead").run.status, .running)
            let alive = try Store(readingOnly: path, host: "host-a", isAlive: { _ in true })
            XCTAssertEqual(try alive.load(runID: "dead").run.status, .running)
            XCTAssertThrowsError(try store.beginRun(makeRun("new", pid: 1)))   // SQLITE_READONLY
        }
        XCTAssertEqual(try bytes(), before)
        XCTAssertEqual(try Store(path: path).load(runID: "dead").run.status, .running)
    }

    func testOlderSchemaIsRefusedWithTheWayToUpgrade() throws {
        FileManager.default.createFile(atPath: path, contents: Data())   // an empty file is a database of user_version 0
        XCTAssertThrowsError(try Store(readingOnly: path, host: "h")) { e in
            let e = e as? StoreError
            XCTAssertEqual(e?.isOlderSchema, true)
            XCTAssertEqual(e?.description, "\(path): has schema 0, older than this build's \(Store.schemaVersion); "
                           + "run an audit into it once (from a writable copy if it is read-only) to upgrade it")
        }
        XCTAssertEqual(try bytes(), Data())
    }

    func testMissingStoreIsNotCreated() throws {
        XCTAssertThrowsError(try Store(readingOnly: path, host: "h")) { e in
            XCTAssertEqual("\(e)", "\(path): no such store")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testURIEncoding() {
        XCTAssertEqual(Connection.uri("/a b/c%d?e#f.sqlite", "immutable=1"), "file:/a%20b/c%25d%3Fe%23f.sqlite?immutable=1")
        XCTAssertEqual(Connection.uri("/caf\u{e9}", "x"), "file:/caf%C3%A9?x")
    }
}
