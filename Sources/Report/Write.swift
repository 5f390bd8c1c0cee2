// Writes a report directory atomically: everything goes to a temporary sibling, which then replaces the target.
import Foundation
import Store

extension Report {
    /// Writes report.md, report.html, summary.json, junit.xml and the charts' SVG files into `directory`.
    /// The files are first written to a fresh hidden sibling directory, which is then renamed into place; an
    /// existing `directory` (a re-render) is moved aside first and removed only once the new one is in place,
    /// so a crash never leaves a half-written report. Returns the written files' paths.
    @discardableResult
    public static func write(_ r: RunReport, to directory: String, options: ReportOptions) throws -> [String] {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL
        let parent = target.deletingLastPathComponent()
        let base = target.lastPathComponent
        guard !base.isEmpty, base != "/", base != ".", base != ".." else {
            throw ReportError.write(path: directory, reason: "not a directory name a report can be written to")
        }
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw ReportError.write(path: parent.path, reason: "cannot create the parent directory: \(error.localizedDescription)")
        }
        var isDir: ObjCBool = false
        let exists = fm.fileExists(atPath: target.path, isDirectory: &isDir)
        if exists && !isDir.boolValue {
            throw ReportError.write(path: target.path, reason: "exists and is not a directory")
        }

        let token = UUID().uuidString.prefix(8).lowercased()
        let temp = parent.appendingPathComponent(".\(base).tmp-\(token)")
        let old = parent.appendingPathComponent(".\(base).old-\(token)")

        // Render everything before touching the disk, so a rendering error leaves nothing behind.
        let charts = charts(r, options: options)
        let md = markdown(r, options: options)
        let title = "Privacy audit: " + Redactor(r, options)(displayName(r, options))
        let page = try html(markdown: md, charts: charts, title: title)
        var files: [(String, String)] = [("report.md", md), ("report.html", page),
                                         ("summary.json", summaryJSON(r, options: options)), ("junit.xml", junit(r))]
        files += charts.map { ($0.fileName, $0.svg) }

        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
        } catch {
            throw ReportError.write(path: temp.path, reason: "cannot create the temporary directory: \(error.localizedDescription)")
        }
        do {
            for (name, text) in files {
                let url = temp.appendingPathComponent(name)
                do {
                    try Data(text.utf8).write(to: url)
                } catch {
                    throw ReportError.write(path: target.appendingPathComponent(name).path,
                                            reason: "writing \(url.path) failed: \(error.localizedDescription)")
                }
            }
            if exists {
                do { try fm.moveItem(at: target, to: old) } catch {
                    throw ReportError.write(path: target.path, reason: "cannot move the previous report aside: \(error.localizedDescription)")
                }
            }
            do { try fm.moveItem(at: temp, to: target) } catch {
                if exists { try? fm.moveItem(at: old, to: target) }   // put the previous report back
                throw ReportError.write(path: target.path, reason: "cannot move the new report into place: \(error.localizedDescription)")
            }
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        if exists {
            do { try fm.removeItem(at: old) } catch {
                throw ReportError.write(path: old.path, reason: "the new report is in place but the previous one could not be removed: \(error.localizedDescription)")
            }
        }
        return files.map { target.appendingPathComponent($0.0).path }
    }
}
