// Test helpers for the backward kernels: seeded inputs, central finite differences in Double, relative errors.
import Foundation
import XCTest

/// n values in [-scale, scale) from a 64-bit LCG: the same seed gives the same numbers on every machine.
func seededFloats(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var x = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    return (0..<n).map { _ in
        x = x &* 6364136223846793005 &+ 1442695040888963407
        return (Float(x >> 40) / Float(1 << 24) - 0.5) * 2 * scale
    }
}

func doubles(_ a: [Float]) -> [Double] { a.map(Double.init) }
func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }

/// d f / d inputs[a][i] for every entry of every input, by central differences with a step of h * max(1, |x|).
/// In Double the error is about h^2 |f'''| + 1e-16 |f| / h, far below Float32 kernel rounding.
func finiteDifferences(_ inputs: [[Double]], h: Double = 1e-5, _ f: ([[Double]]) -> Double) -> [[Double]] {
    var x = inputs
    return inputs.indices.map { a in
        inputs[a].indices.map { i in
            let x0 = x[a][i], step = h * max(1, abs(x0))
            x[a][i] = x0 + step; let fp = f(x)
            x[a][i] = x0 - step; let fm = f(x)
            x[a][i] = x0
            return (fp - fm) / (2 * step)
        }
    }
}

/// max_i |a_i - b_i| / max_i |b_i|: the error relative to the largest reference entry.
func relativeError(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var num = 0.0, den = 0.0
    for i in a.indices { num = max(num, abs(Double(a[i]) - b[i])); den = max(den, abs(b[i])) }
    return den == 0 ? num : num / den
}
func relativeError(_ a: [Float], _ b: [Float]) -> Double { relativeError(a, doubles(b)) }

/// Fails when the worst measured error exceeds its tolerance; KERNEL_ERRORS=1 prints both (to recalibrate).
func assertWithin(_ name: String, _ measured: Double, _ tolerance: Double, file: StaticString = #filePath, line: UInt = #line) {
    if ProcessInfo.processInfo.environment["KERNEL_ERRORS"] != nil {
        print("KERNEL_ERRORS \(name): measured \(measured) tolerance \(tolerance)")
    }
    XCTAssertLessThanOrEqual(measured, tolerance, "\(name): error \(measured) over tolerance \(tolerance)", file: file, line: line)
}
