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

        // Left by a writer that died midway (kill -9, a crash, SIGXFSZ before it was ignored): removed, or put back.
        cleanStaleSiblings(in: parent)
        // The pid in the names tells a later writer whether the one that made them is still alive.
        let token = "\(getpid())-" + UUID().uuidString.prefix(8).lowercased()
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
                if let why = writeFile(url.path, Array(text.utf8)) {
                    throw ReportError.write(path: target.appendingPathComponent(name).path, reason: "writing \(url.path) failed: \(why)")
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

    /// Checks before an audit's model work that a report can be written into `folder` (created if missing), so that a
    /// folder the user cannot write is reported at once, not after the whole audit. A real probe (a directory made and
    /// removed), since access(2) says yes to root where the file system refuses (read-only mounts).
    public static func checkWritable(folder: String) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ReportError.write(path: folder, reason: "cannot create the reports folder: \(error.localizedDescription)")
        }
        let probe = (folder as NSString).appendingPathComponent(".write-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard mkdir(probe, 0o700) == 0 else {
            let why = String(cString: strerror(errno))
            throw ReportError.write(path: folder, reason: "cannot write in the reports folder (\(why)); choose another with --reports")
        }
        rmdir(probe)
    }

    /// Hidden ".NAME.tmp-PID-TOKEN" and ".NAME.old-PID-TOKEN" siblings in `parent` whose writer is gone (a crash or
    /// kill midway through `write`): a temporary folder is removed; a previous report that was moved aside is put back
    /// when nothing took its place, else removed. Those of a live writer (another process rendering now) are left alone.
    /// Names from builds before the pid was recorded (".NAME.tmp-TOKEN") count as stale.
    static func cleanStaleSiblings(in parent: URL, isAlive: (Int32) -> Bool = Store.processIsAlive) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: parent.path) else { return }
        for name in names where name.hasPrefix(".") {
            guard let (base, kind, pid) = parseSibling(name) else { continue }
            if let pid, pid == getpid() || isAlive(pid) { continue }
            let url = parent.appendingPathComponent(name)
            if kind == "old" {
                let target = parent.appendingPathComponent(base)
                if !fm.fileExists(atPath: target.path), (try? fm.moveItem(at: url, to: target)) != nil { continue }
            }
            try? fm.removeItem(at: url)
        }
    }

    /// ".NAME.tmp-PID-TOKEN" -> (NAME, "tmp", PID); ".NAME.tmp-TOKEN" -> (NAME, "tmp", nil); nil for any other name.
    static func parseSibling(_ name: String) -> (base: String, kind: String, pid: Int32?)? {
        for kind in ["tmp", "old"] {
            guard let r = name.range(of: ".\(kind)-", options: .backwards), r.lowerBound > name.index(after: name.startIndex) else { continue }
            let base = String(name[name.index(after: name.startIndex)..<r.lowerBound])
            let tail = name[r.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
            let hex = { (s: Substring) in s.count == 8 && s.allSatisfy { $0.isHexDigit && !$0.isUppercase } }
            if tail.count == 2, let pid = Int32(tail[0]), pid > 0, hex(tail[1]) { return (base, kind, pid) }
            if tail.count == 1, hex(tail[0]) { return (base, kind, nil) }
        }
        return nil
    }

    /// Writes `bytes` to a new file; nil on success, else the reason (strerror, so a full disk says "No space left on
    /// device" and a file-size limit "File too large", with a hint).
    static func writeFile(_ path: String, _ bytes: [UInt8]) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        var failure: Int32 = 0
        bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = Foundation.write(fd, b.baseAddress! + done, b.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failure = n < 0 ? errno : ENOSPC; return }
                done += n
            }
        }
        if close(fd) != 0 && failure == 0 { failure = errno }
        guard failure != 0 else { return nil }
        let why = String(cString: strerror(failure))
        return failure == EFBIG ? why + " (the file-size limit, ulimit -f, is too small for the report)" : why
    }
}
