// SQLite's C API wrapped once: every return code checked and thrown as a StoreError, every statement finalized.
import CSQLite
import Foundation

/// A failure to read or write the store. `description` starts with the database path, so the user knows which file.
public struct StoreError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let message: String
    /// SQLite's extended result code when SQLite reported the failure; nil for the store's own checks.
    public let sqliteCode: Int32?
    /// A read-only open found an older schema, which only a writable open can upgrade.
    public let isOlderSchema: Bool

    public init(path: String, message: String, sqliteCode: Int32? = nil, isOlderSchema: Bool = false) {
        self.path = path; self.message = message; self.sqliteCode = sqliteCode; self.isOlderSchema = isOlderSchema
    }
    public var description: String { "\(path): \(message)" }
    public var errorDescription: String? { description }
}

/// A value SQLite stores. NaN has no place here: SQLite would silently turn it into NULL.
enum SQLValue {
    case null, integer(Int64), real(Double), text(String)

    /// How an error names a value it did not expect.
    var kind: String {
        switch self {
        case .null: "NULL"
        case .integer: "an integer"
        case .real: "a real"
        case .text: "text"
        }
    }
}
/// A Swift value that binds to a parameter and reads back from a column; `init` fails on a value of another type.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
    init?(sqlValue: SQLValue)
}
extension String: SQLBindable {
    var sqlValue: SQLValue { .text(self) }
    init?(sqlValue: SQLValue) { guard case .text(let v) = sqlValue else { return nil }; self = v }
}
extension Int: SQLBindable {
    var sqlValue: SQLValue { .integer(Int64(self)) }
    init?(sqlValue: SQLValue) { guard case .integer(let v) = sqlValue else { return nil }; self.init(exactly: v) }
}
extension Int32: SQLBindable {
    var sqlValue: SQLValue { .integer(Int64(self)) }
    init?(sqlValue: SQLValue) { guard case .integer(let v) = sqlValue else { return nil }; self.init(exactly: v) }
}
extension Int64: SQLBindable {
    var sqlValue: SQLValue { .integer(self) }
    init?(sqlValue: SQLValue) { guard case .integer(let v) = sqlValue else { return nil }; self = v }
}
extension Double: SQLBindable {
    var sqlValue: SQLValue { .real(self) }
    init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .real(let v): self = v
        case .integer(let v): self.init(exactly: v)  // a REAL column keeps a REAL, but an expression may yield an integer
        default: return nil
        }
    }
}
extension Bool: SQLBindable {
    var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    init?(sqlValue: SQLValue) {
        guard case .integer(let v) = sqlValue, v == 0 || v == 1 else { return nil }
        self = v == 1
    }
}
extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
    init?(sqlValue: SQLValue) {
        if case .null = sqlValue { self = .none; return }
        guard let v = Wrapped(sqlValue: sqlValue) else { return nil }
        self = v
    }
}

private extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// SQLITE_CONSTRAINT_FOREIGNKEY, a macro Swift does not import.
let sqliteForeignKeyViolation: Int32 = SQLITE_CONSTRAINT | (3 << 8)

/// Tells SQLite to copy bound text, since Swift's buffer lives only for the call.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One open database handle. Not thread-safe by itself: `Store` serialises access.
final class Connection {
    let path: String
    private let handle: OpaquePointer

    /// How a connection opens its file.
    enum Mode {
        /// Read and write, creating the file if needed.
        case readWrite
        /// Read only; the file must exist. A WAL database still needs its -shm file, which SQLite creates beside it.
        case readOnly
        /// Read only on a read-only file system, where no -shm can be created: SQLite's `immutable` (no locks, no
        /// shared memory), which is right exactly there, since nobody can change the file underneath.
        case immutable
    }

    init(path: String, mode: Mode = .readWrite) throws {
        self.path = path
        var db: OpaquePointer?
        let rc: Int32
        switch mode {
        case .readWrite:
            rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
        case .readOnly:
            rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nil)
        case .immutable:
            rc = sqlite3_open_v2(Connection.uri(path, "immutable=1"), &db,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI, nil)
        }
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot allocate an SQLite handle"
            sqlite3_close_v2(db)  // SQLite hands back a handle even when opening fails
            throw StoreError(path: path, message: message, sqliteCode: rc)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    /// A `file:` URI for `path` with `query`: the characters a URI gives meaning to are percent-encoded.
    static func uri(_ path: String, _ query: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var out = "file:"
        for b in absolute.utf8 {
            switch b {
            case UInt8(ascii: "%"), UInt8(ascii: "?"), UInt8(ascii: "#"), 0..<0x21, 0x7f...:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            default: out.unicodeScalars.append(Unicode.Scalar(b))
            }
        }
        return out + "?" + query
    }

    /// The error for `rc`, worded for the user, with what we were doing in parentheses.
    func error(_ rc: Int32, _ context: String? = nil) -> StoreError {
        var message: String
        switch rc & 0xff {
        case SQLITE_NOTADB: message = "not an SQLite database"
        case SQLITE_BUSY, SQLITE_LOCKED: message = "database is locked"
        default: message = String(cString: sqlite3_errmsg(handle))
        }
        if let context { message += " (\(context))" }
        return StoreError(path: path, message: message, sqliteCode: rc)
    }

    func check(_ rc: Int32, _ context: @autoclosure () -> String? = nil) throws {
        guard rc == SQLITE_OK else { throw error(rc, context()) }
    }

    func setBusyTimeout(milliseconds: Int32) throws {
        try check(sqlite3_busy_timeout(handle, milliseconds), "setting the busy timeout")
    }

    /// Runs a script of statements that return no rows.
    func execute(_ sql: String, _ context: @autoclosure () -> String? = nil) throws {
        try check(sqlite3_exec(handle, sql, nil, nil, nil), context())
    }

    /// Prepares `sql`, hands it to `body`, and finalizes it whatever happens.
    func withStatement<T>(_ sql: String, _ body: (Statement) throws -> T) throws -> T {
        var raw: OpaquePointer?
        try check(sqlite3_prepare_v2(handle, sql, -1, &raw, nil), "preparing \(sql.prefix(60))")
        guard let raw else { preconditionFailure("SQLite prepared no statement from: \(sql)") }
        defer { sqlite3_finalize(raw) }
        return try body(Statement(connection: self, handle: raw))
    }

    /// Every row of `sql` with `values` bound, each turned into a value by `row`.
    func query<T>(_ sql: String, _ values: [any SQLBindable] = [], row: (Statement) throws -> T) throws -> [T] {
        try withStatement(sql) { statement in
            try statement.bind(values)
            var rows: [T] = []
            while try statement.step() { rows.append(try row(statement)) }
            return rows
        }
    }

    /// Runs one write statement and returns the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [any SQLBindable] = []) throws -> Int {
        try withStatement(sql) { try $0.run(values) }
        return Int(sqlite3_changes(handle))
    }

    func integer(_ sql: String) throws -> Int64 {
        guard let value = try query(sql, row: { $0.int64(0) }).first else {
            preconditionFailure("\(sql) returned no row")
        }
        return value
    }

    /// `body` inside BEGIN IMMEDIATE … COMMIT, so writers queue on the busy timeout rather than deadlock upgrading a
    /// read lock; a plain BEGIN for readers, who get one consistent snapshot. Any error rolls back, and is rethrown
    /// with `context` appended.
    func transaction<T>(_ context: String, immediate: Bool = true, _ body: () throws -> T) throws -> T {
        do {
            try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
            do {
                let result = try body()
                try execute("COMMIT")
                return result
            } catch {
                sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)  // fails harmlessly if a failed COMMIT already rolled back
                throw error
            }
        } catch let error as StoreError where error.sqliteCode != nil {
            throw StoreError(path: path, message: "\(error.message) (\(context))", sqliteCode: error.sqliteCode)
        }
    }
}

/// A prepared statement, valid only inside `Connection.withStatement`.
struct Statement {
    let connection: Connection
    let handle: OpaquePointer

    /// Resets the statement and binds `values` to its parameters in order.
    func bind(_ values: [any SQLBindable]) throws {
        try connection.check(sqlite3_reset(handle))
        try connection.check(sqlite3_clear_bindings(handle))
        precondition(values.count == Int(sqlite3_bind_parameter_count(handle)), "wrong number of SQL parameters")
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value.sqlValue {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .integer(let v): rc = sqlite3_bind_int64(handle, index, v)
            case .real(let v):
                guard !v.isNaN else {
                    throw StoreError(path: connection.path, message: "refusing to store NaN, which SQLite would keep as NULL",
                                     sqliteCode: SQLITE_MISMATCH)
                }
                rc = sqlite3_bind_double(handle, index, v)
            case .text(let v):
                // An explicit byte count keeps any embedded NUL; withCString's buffer is the string's UTF-8.
                let count = v.utf8.count
                guard count < Int(Int32.max) else {
                    throw StoreError(path: connection.path, message: "text of \(count) bytes is too long to store",
                                     sqliteCode: SQLITE_TOOBIG)
                }
                rc = v.withCString { sqlite3_bind_text(handle, index, $0, Int32(count), transient) }
            }
            try connection.check(rc, "binding parameter \(index)")
        }
    }

    /// Advances one row: true while there is a row to read.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc)
        }
    }

    /// Binds `values` and steps to completion: a write.
    func run(_ values: [any SQLBindable]) throws {
        try bind(values)
        while try step() {}
    }

    /// The names of the result columns, in order.
    var columnNames: [String] {
        (0..<sqlite3_column_count(handle)).map { String(cString: sqlite3_column_name(handle, $0)) }
    }

    func value(_ column: Int32) -> SQLValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .integer(int64(column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, column))
        default: return .text(text(column))  // TEXT; the schema has no BLOB column
        }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }
}
