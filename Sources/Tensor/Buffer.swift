// Float32 buffers: owned, aligned, uninitialised or zeroed memory that kernels address by raw pointer.
import Foundation

/// A heap block of Float32 values. Kernels take `ptr` and the shape comment at the call site says how to read it.
/// Not Sendable: writes through `ptr` are unsynchronised; an owner that shares one says why that is safe.
public final class FloatBuffer {
    public let ptr: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int, zeroed: Bool = true) {
        precondition(count >= 0)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        ptr = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        if zeroed { ptr.initialize(repeating: 0, count: count) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { UnsafeMutableRawPointer(ptr).deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }
    public func zero() { ptr.update(repeating: 0, count: count) }
    public subscript(i: Int) -> Float {
        get { ptr[i] }
        set { ptr[i] = newValue }
    }
}

/// Scratch memory that grows on demand and is reused between calls (one per forward context).
/// Not Sendable: `get` mutates unsynchronised; give each concurrent caller its own.
public final class Scratch {
    private var buffers: [String: FloatBuffer] = [:]
    public init() {}
    /// A buffer of at least `count` floats for `key`; contents are not preserved across growth.
    public func get(_ key: String, _ count: Int) -> UnsafeMutablePointer<Float> {
        if let b = buffers[key], b.count >= count { return b.ptr }
        let b = FloatBuffer(count: count, zeroed: false)
        buffers[key] = b
        return b.ptr
    }
    public var bytes: Int { buffers.values.reduce(0) { $0 + $1.count * 4 } }
}
