// safetensors writer for F32 tensors (huggingface/safetensors README "Format"), atomic via a temporary file and rename.
import Foundation

#if _endian(big)
#error("SafetensorsWriter writes host-order floats; safetensors is little-endian")
#endif

/// Header: sorted-key JSON padded with spaces to a multiple of 8; data in the order given.
public enum SafetensorsWriter {
    /// F32 only; writes to a temporary file in the same directory then renames (atomic); header padded with spaces to a multiple of 8.
    public static func write(_ tensors: [(name: String, shape: [Int], data: [Float])], metadata: [String: String], to path: String) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: path, message) }

        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            guard t.name != "__metadata__", header[t.name] == nil else { throw fail("duplicate or reserved tensor name '\(t.name)'") }
            guard t.shape.allSatisfy({ $0 >= 0 }), t.shape.reduce(1, *) == t.data.count else {
                throw fail("tensor '\(t.name)' has shape \(t.shape) but \(t.data.count) values")
            }
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.data.count]] as [String: Any]
            offset += 4 * t.data.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))

        let directory = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("cannot create \(temporary): \(errnoText())") }
        var done = false
        defer {
            if !done { close(fd); unlink(temporary) }
        }
        func put(_ bytes: UnsafeRawBufferPointer) throws {
            var p = bytes.baseAddress, left = bytes.count
            while left > 0 {
                let n = Foundation.write(fd, p, left)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw fail("cannot write \(temporary): \(errnoText())") }
                p! += n
                left -= n
            }
        }
        var length = UInt64(json.count).littleEndian
        try withUnsafeBytes(of: &length) { try put($0) }
        try json.withUnsafeBytes { try put($0) }
        for t in tensors { try t.data.withUnsafeBytes { try put($0) } }
        guard fsync(fd) == 0 else { throw fail("cannot sync \(temporary): \(errnoText())") }
        done = true
        guard close(fd) == 0 else { unlink(temporary); throw fail("cannot close \(temporary): \(errnoText())") }
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw fail("cannot rename \(temporary) into place: \(reason)")
        }
    }
}
