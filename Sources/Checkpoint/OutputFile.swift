// What the writers share: the tensor to write, checks on the destination, a temporary name in its folder, fsync,
// then rename into place.
import Foundation

/// One tensor for a writer. `values` (row-major Float32) is called once, when the writer reaches the tensor, so a
/// checkpoint is written with one tensor's copy in memory at a time. `type` is the stored type: F32 for
/// safetensors; F32, F16 or Q8_0 for GGUF.
public struct WritableTensor {
    public let name: String
    public let shape: [Int]
    public let type: DType
    public let values: () throws -> [Float]

    public init(name: String, shape: [Int], type: DType = .f32, values: @escaping () throws -> [Float]) {
        self.name = name; self.shape = shape; self.type = type; self.values = values
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { Quantize.byteCount(elementCount, type) }
}

public enum OutputKind: Sendable { case file, folder }

public enum OutputPath {
    /// Throws a CheckpointError naming `path` unless it can receive a new output of `kind`: it must not be one
    /// of `inputs` (also through links) nor lie inside an input folder (nor, for a folder, contain an input);
    /// its folder must exist and be writable (tried by creating and removing a temporary folder there); an
    /// existing file output is replaced, an existing folder output must be empty.
    public static func check(_ path: String, kind: OutputKind, inputs: [String]) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: path, message) }
        let absolute = (path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path) as NSString
        let name = absolute.standardizingPath.split(separator: "/").last.map(String.init) ?? ""
        guard !name.isEmpty, name != ".", name != ".." else { throw fail("not a usable output name") }
        let parent = ((absolute.standardizingPath as NSString).deletingLastPathComponent as NSString).standardizingPath
        var st = stat()
        guard stat(parent, &st) == 0 else { throw fail("the folder \(parent) does not exist") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw fail("\(parent) is not a folder") }

        // Compare resolved paths (symlinks, "..") and, when the output exists, device and inode (hard links).
        let resolvedParent = realPath(parent) ?? parent
        var resolved = resolvedParent == "/" ? "/" + name : resolvedParent + "/" + name
        var existing = stat()
        let exists = lstat(resolved, &existing) == 0
        if exists, let r = realPath(resolved) { resolved = r; _ = stat(resolved, &existing) }
        let resolvedInputs = inputs.compactMap { i in realPath(i).map { (given: i, resolved: $0) } }
        for (_, r) in resolvedInputs {
            var s = stat()
            let sameFile = exists && stat(r, &s) == 0 && s.st_dev == existing.st_dev && s.st_ino == existing.st_ino
            if sameFile || resolved == r { throw fail("is the input checkpoint; write to another path") }
        }
        for (input, r) in resolvedInputs where resolved.hasPrefix(r + "/") {
            throw fail("lies inside the input checkpoint \(input); write outside it")
        }
        for (input, r) in resolvedInputs where kind == .folder && r.hasPrefix(resolved + "/") {
            throw fail("contains the input checkpoint \(input); write to another folder")
        }
        if exists {
            let isFolder = (existing.st_mode & S_IFMT) == S_IFDIR
            switch kind {
            case .file where isFolder:
                throw fail("is a folder; give a file name")
            case .folder where !isFolder:
                throw fail("exists and is not a folder")
            case .folder:
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: resolved)) ?? ["?"]
                guard entries.isEmpty else { throw fail("already exists and is not empty; remove it or choose another name") }
            default: break
            }
        }
        // A real probe: access(2) says yes to root even where the file system refuses (sysfs, read-only mounts).
        let probe = temporary(for: resolvedParent + "/" + name)
        guard mkdir(probe, 0o700) == 0 else { throw fail("cannot write in the folder \(parent): \(errnoText())") }
        rmdir(probe)
    }

    /// ".<name>.tmp-<pid>-<random>" in the destination's folder, so the final rename stays on one file system.
    static func temporary(for path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        return (directory.isEmpty ? "" : directory + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Runs `body` on a new temporary folder beside `path`, then renames the folder into place (over an empty
    /// folder, if one is there). On any error the temporary folder and everything in it are removed.
    public static func writeFolder(_ path: String, _ body: (_ temporaryFolder: String) throws -> Void) throws {
        let temporary = Self.temporary(for: path)
        guard mkdir(temporary, 0o755) == 0 else {
            throw CheckpointError(file: path, "cannot create a temporary folder in \((path as NSString).deletingLastPathComponent): \(errnoText())")
        }
        PendingOutputs.add(temporary)
        defer { PendingOutputs.remove(temporary) }
        do {
            try body(temporary)
            guard rename(temporary, path) == 0 else { throw CheckpointError(file: path, "cannot rename \(temporary) into place: \(errnoText())") }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}

/// The temporary files and folders being written now, so that a signal handler that ends the process without
/// unwinding (`_exit`) can remove them first and leave no half-written output behind.
public enum PendingOutputs {
    nonisolated(unsafe) private static var paths: Set<String> = []
    private static let lock = NSLock()
    public static func add(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    public static func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }
    /// Removes every pending temporary file or folder; called just before the process ends on a signal.
    public static func removeAll() {
        lock.withLock {
            for p in paths { try? FileManager.default.removeItem(atPath: p) }
            paths.removeAll()
        }
    }
}

/// A file written under a temporary name in its destination's folder and renamed into place by `commit`;
/// dropped or failed before that, the temporary file is removed.
final class AtomicFile {
    let path: String
    private let temporary: String
    private var fd: Int32
    private(set) var bytesWritten = 0

    init(_ path: String) throws {
        self.path = path
        temporary = OutputPath.temporary(for: path)
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let folder = (path as NSString).deletingLastPathComponent
            throw CheckpointError(file: path, "cannot create a temporary file in \(folder.isEmpty ? "." : folder): \(errnoText())")
        }
        PendingOutputs.add(temporary)
    }

    deinit { abandon(); PendingOutputs.remove(temporary) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var p = bytes.baseAddress, left = bytes.count
        while left > 0 {
            let n = Foundation.write(fd, p, left)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CheckpointError(file: path, "cannot write \(temporary): \(errnoText())") }
            p! += n
            left -= n
            bytesWritten += n
        }
    }

    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    func zeros(_ count: Int) throws { if count > 0 { try write([UInt8](repeating: 0, count: count)) } }

    /// fsync, close and rename over `path`.
    func commit() throws {
        guard fsync(fd) == 0 else { throw CheckpointError(file: path, "cannot sync \(temporary): \(errnoText())") }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { unlink(temporary); throw CheckpointError(file: path, "cannot close \(temporary): \(errnoText())") }
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw CheckpointError(file: path, "cannot rename \(temporary) into place: \(reason)")
        }
    }

    private func abandon() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporary)
    }
}

func realPath(_ path: String) -> String? {
    guard let p = realpath(path, nil) else { return nil }
    defer { free(p) }
    return String(cString: p)
}
