// Opening what the user names: a file where a file is expected, a checkpoint folder where a checkpoint is expected.
// Every reader of the user's files and checkpoints goes through these, so a directory in the wrong place gets one
// answer everywhere ("is a directory"), not a command-specific "cannot read the file".
import Foundation
import Model

/// True when `path` exists and is a directory (symbolic links followed).
func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}

/// What is wrong with `path` as the user's input file, when it is not a regular file (nil for a regular or missing
/// file: whoever opens a missing one says so). A FIFO, socket or device would block or never end when read.
func nonRegularFileProblem(_ path: String) -> String? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    switch st.st_mode & S_IFMT {
    case S_IFREG: return nil
    case S_IFDIR: return "is a directory, not a file"
    case S_IFIFO: return "is a FIFO (named pipe), not a regular file"
    case S_IFSOCK: return "is a socket, not a regular file"
    case S_IFCHR: return "is a character device, not a regular file"
    case S_IFBLK: return "is a block device, not a regular file"
    default: return "is not a regular file"
    }
}

/// Refuses anything but a regular file where the user's file is expected, naming what it is.
public func requireRegularUserFile(_ path: String) throws {
    if let problem = nonRegularFileProblem(path) { throw InputError(path, problem) }
}

/// Refuses a FIFO, socket or device given as a checkpoint (a folder is a Hugging Face checkpoint's), before any
/// model work starts.
public func requireCheckpointPath(_ path: String) throws {
    if !isDirectory(path), let problem = nonRegularFileProblem(path) { throw InputError(path, problem) }
}

/// The bytes of the user's file at `path`, after `requireRegularUserFile`; unreadable with `cannotRead`.
public func readUserFile(_ path: String, cannotRead: String = "cannot read the file") throws -> Data {
    try requireRegularUserFile(path)
    guard let data = FileManager.default.contents(atPath: path) else { throw InputError(path, cannotRead) }
    return data
}

/// Refuses a directory that is not a Hugging Face checkpoint folder (no config.json), naming what it lacks.
public func checkCheckpointFolder(_ path: String) throws {
    guard isDirectory(path) else { return }
    let fm = FileManager.default
    func has(_ name: String) -> Bool { fm.fileExists(atPath: (path as NSString).appendingPathComponent(name)) }
    guard !has("config.json") else { return }
    var lacks = ["config.json"]
    if !has("model.safetensors") && !has("model.safetensors.index.json") { lacks.append("model.safetensors (or its index)") }
    if !has("tokenizer.json") { lacks.append("tokenizer.json") }
    throw InputError(path, "is a directory but not a checkpoint folder: it has no \(lacks.joined(separator: ", ")) "
                     + "(a Hugging Face checkpoint folder holds config.json, model.safetensors and tokenizer.json; or give a GGUF file)")
}

/// `LanguageModel.load` after `checkCheckpointFolder`.
public func loadCheckpoint(_ path: String) throws -> LanguageModel {
    try checkCheckpointFolder(path)
    return try LanguageModel.load(path: path)
}
