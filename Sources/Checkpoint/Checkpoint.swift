// Shared checkpoint vocabulary: CheckpointError, DType (GGML and safetensors), TensorEntry, MappedFile, TensorStore.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bad input from the user: always names the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// Element types of both formats. Raw values are the safetensors spellings (GGML-only types use ggml's names).
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i8 = "I8", i16 = "I16", i32 = "I32", i64 = "I64", u8 = "U8", bool = "BOOL"
    case q4_0 = "Q4_0", q4_1 = "Q4_1", q5_0 = "Q5_0", q5_1 = "Q5_1", q8_0 = "Q8_0", q4_k = "Q4_K", q6_k = "Q6_K"

    /// Elements per block: 1 for plain types, 32 for the legacy quants, 256 for the k-quants (ggml-common.h).
    public var blockSize: Int {
        switch self {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_k, .q6_k: return 256
        default: return 1
        }
    }

    /// Bytes per block (sizeof(block_xxx) in ggml-common.h; the element size for plain types).
    public var blockBytes: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        case .q4_0: return 18   // fp16 d, qs[16]
        case .q4_1: return 20   // fp16 d, fp16 m, qs[16]
        case .q5_0: return 22   // fp16 d, qh[4], qs[16]
        case .q5_1: return 24   // fp16 d, fp16 m, qh[4], qs[16]
        case .q8_0: return 34   // fp16 d, int8 qs[32]
        case .q4_k: return 144  // fp16 d, fp16 dmin, scales[12], qs[128]
        case .q6_k: return 210  // ql[128], qh[64], int8 scales[16], fp16 d
        }
    }

    /// Whether `Dequant.dequantize` can turn this type into Float32.
    public var isFloatConvertible: Bool {
        switch self {
        case .i8, .i16, .i32, .i64, .u8, .bool: return false
        default: return true
        }
    }

    /// The GGML type id (ggml.h `enum ggml_type`); nil for types GGUF cannot hold here.
    public var ggmlType: UInt32? {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q5_0: return 6
        case .q5_1: return 7
        case .q8_0: return 8
        case .q4_k: return 12
        case .q6_k: return 14
        case .i8: return 24
        case .i16: return 25
        case .i32: return 26
        case .i64: return 27
        case .f64: return 28
        case .bf16: return 30
        case .u8, .bool: return nil
        }
    }

    public init?(ggmlType id: UInt32) {
        guard let t = DType.allCases.first(where: { $0.ggmlType == id }) else { return nil }
        self = t
    }

    /// The plain types a safetensors header may name.
    public init?(safetensors name: String) {
        guard let t = DType(rawValue: name), t.blockSize == 1 else { return nil }
        self = t
    }
}

public struct TensorEntry: Sendable, Equatable {
    public let name: String
    /// Row-major, outermost first. For GGUF this is the file's dims reversed (ggml stores dims[0] innermost).
    public let shape: [Int]
    public let dtype: DType
    /// Absolute byte offset in `file`.
    public let offset: Int
    public let byteCount: Int
    public let file: String

    public init(name: String, shape: [Int], dtype: DType, offset: Int, byteCount: Int, file: String) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.offset = offset
        self.byteCount = byteCount
        self.file = file
    }

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A whole file mapped read-only (PROT_READ, MAP_PRIVATE); unmapped when the object dies.
/// Unchecked, and safe because it is immutable after init: `bytes` is a read-only mapping nobody writes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    public var count: Int { bytes.count }

    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO would otherwise wait for a writer for ever; it is then refused below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw CheckpointError(file: path, "cannot open: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError(file: path, "cannot stat: \(errnoText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError(file: path, "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {  // mmap rejects length 0
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p: UnsafeMutableRawPointer? = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw CheckpointError(file: path, "cannot map \(size) bytes: \(errnoText())")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// Tensors in one checkpoint, whatever the format.
public protocol TensorStore: AnyObject {
    /// The file paths this store reads (for hashing).
    var files: [String] { get }
    /// In file order.
    var tensorNames: [String] { get }
    func entry(_ name: String) -> TensorEntry?
    /// Dequantise or convert to Float32, row-major. CheckpointError for an unknown name or an unconvertible dtype.
    func floats(_ name: String) throws -> [Float]
}

/// Converts `entry`'s bytes in `map` to Float32; shared by the GGUF and safetensors readers.
func convertToFloats(_ entry: TensorEntry, in map: MappedFile) throws -> [Float] {
    guard entry.dtype.isFloatConvertible else {
        throw CheckpointError(file: entry.file,
                              "tensor '\(entry.name)' has dtype \(entry.dtype.rawValue), which does not convert to Float32")
    }
    // Readers checked at open time that the bytes lie within the map and match the element count.
    precondition(entry.offset >= 0 && entry.offset + entry.byteCount <= map.count)
    let n = entry.elementCount
    return [Float](unsafeUninitializedCapacity: n) { buf, initialized in
        if n > 0 { Dequant.dequantize(map.bytes.baseAddress! + entry.offset, type: entry.dtype, count: n, into: buf.baseAddress!) }
        initialized = n
    }
}

func unknownTensor(_ name: String, in file: String) -> CheckpointError {
    CheckpointError(file: file, "no tensor named '\(name)'")
}
