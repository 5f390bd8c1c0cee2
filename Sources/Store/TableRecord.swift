// How a record type maps to its table by column name: the protocol, row reading, JSON columns, generic INSERT/SELECT.
//
// Adding a table: append its migration to Schema.swift and write one type conforming to TableRecord (RunChildRecord
// when it hangs off a run), as in Tables.swift. The INSERT and SELECT below serve every table; the only other lines
// to write are the calls in Store that store and load it. RecordTests fails until the type and table agree.
import Foundation

/// One row of one table, written and read by column name. Conformers list their columns once, in table order; the
/// round-trip test proves `encode` and `init(row:)` use exactly those names.
protocol TableRecord {
    static var table: String { get }
    /// The table's columns this type stores, in the table's order.
    static var columns: [String] { get }
    init(row: Row) throws
    func encode(to columns: inout Columns) throws
}

/// A row of a table that leads with `run_id`. The record types leave that column out: the store always writes and
/// reads a run's rows for one run at a time, so it supplies the id on insert and filters by it on select, and the
/// public records stay free of a key that would only repeat `RunReport.run.id`.
protocol RunChildRecord: TableRecord {}

/// The values a record binds, by column name.
struct Columns {
    fileprivate var values: [String: any SQLBindable] = [:]

    mutating func set(_ column: String, _ value: some SQLBindable) { values[column] = value }

    /// Stores `value` as JSON text.
    mutating func setJSON(_ column: String, _ value: some Encodable) throws {
        values[column] = String(decoding: try jsonEncoder.encode(value), as: UTF8.self)
    }
}

/// The current row of a statement, read by column name. Built once per statement, valid while it steps.
struct Row {
    private let table: String
    private let statement: Statement
    private let indices: [String: Int32]

    init(_ statement: Statement, table: String) {
        self.statement = statement
        self.table = table
        indices = Dictionary(statement.columnNames.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { first, _ in first })
    }

    subscript<T: SQLBindable>(column: String) -> T {
        get throws {
            guard let index = indices[column] else {
                throw fail("no column '\(column)' in a row of table '\(table)'")
            }
            let value = statement.value(index)
            guard let typed = T(sqlValue: value) else {
                throw fail("column '\(column)' of table '\(table)' holds \(value.kind), not \(T.self)")
            }
            return typed
        }
    }

    /// Decodes a column stored by `Columns.setJSON`.
    func json<T: Decodable>(_ column: String) throws -> T {
        let text: String = try self[column]
        do {
            return try jsonDecoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw fail("column '\(column)' of table '\(table)' holds unreadable JSON: \(error)")
        }
    }

    private func fail(_ message: String) -> StoreError { StoreError(path: statement.connection.path, message: message) }
}

// The one JSON coding of JSON columns: sorted keys so equal values store equal text, and infinity as a string,
// since findings may carry it (an exposure or log-probability with no finite value).
private let jsonEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
}()
private let jsonDecoder: JSONDecoder = {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
}()

extension Connection {
    /// Inserts `records` with one prepared statement reused for every row: a step can carry thousands of scores.
    /// `leading` are columns the records leave out, bound to the same value for every row.
    func insert<R: TableRecord>(_ records: [R], leading: [(column: String, value: any SQLBindable)] = []) throws {
        guard !records.isEmpty else { return }
        let names = leading.map(\.column) + R.columns
        let sql = "INSERT INTO \(R.table) (\(names.joined(separator: ", "))) VALUES (\(names.map { _ in "?" }.joined(separator: ", ")))"
        try withStatement(sql) { statement in
            for record in records {
                var columns = Columns()
                try record.encode(to: &columns)
                precondition(Set(columns.values.keys) == Set(R.columns),
                             "\(R.self) encodes \(columns.values.keys.sorted()), not its columns \(R.columns)")
                try statement.run(leading.map(\.value) + R.columns.map { columns.values[$0]! })
            }
        }
    }

    func insert<R: RunChildRecord>(_ records: [R], runID: String) throws {
        try insert(records, leading: [("run_id", runID)])
    }

    /// The rows of `R`'s table that `clauses` (WHERE, ORDER BY, LIMIT; parameters bound from `values`) select.
    func select<R: TableRecord>(_: R.Type, _ clauses: String, _ values: [any SQLBindable] = []) throws -> [R] {
        try withStatement("SELECT \(R.columns.joined(separator: ", ")) FROM \(R.table) \(clauses)") { statement in
            try statement.bind(values)
            let row = Row(statement, table: R.table)
            var records: [R] = []
            while try statement.step() { records.append(try R(row: row)) }
            return records
        }
    }

    func select<R: RunChildRecord>(_: R.Type, runID: String, orderBy: String) throws -> [R] {
        try select(R.self, "WHERE run_id = ? ORDER BY \(orderBy)", [runID])
    }
}
