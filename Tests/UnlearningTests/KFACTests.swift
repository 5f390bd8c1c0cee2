// The K-FAC edit: LAPACK's eigenpairs, the factors against explicit sums over the observed rows (and the rows
// against the engine's own weight gradient), rho = 1 leaving the weights unchanged, the mask on diagonal factors.
import Foundation
import XCTest
@testable import Model
import Stats
import Tensor
import Training
@testable import Unlearning

/// Keeps every row of one layer's input and output gradient.
final class RawRows: LinearObserver {
    let target: LayerRef
    var a: [[Float]] = [], g: [[Float]] = []
    init(_ t: LayerRef) { target = t }
    func observe(layer: Int, slot: LinearSlot, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                 rows N: Int, inputs IN: Int, outputs OUT: Int) {
        guard layer == target.layer && slot == target.slot else { return }
        for n in 0..<N {
            a.append(Array(UnsafeBufferPointer(start: input + n * IN, count: IN)))
            g.append(Array(UnsafeBufferPointer(start: outputGradient + n * OUT, count: OUT)))
        }
    }
}

func randomSequences(_ count: Int, vocab: Int, seed: UInt64) -> [[Int]] {
    var rng = SeededRNG(seed: seed)
    return (0..<count).map { _ in (0..<(5 + Int(rng.next() % 8))).map { _ in Int(rng.next() % UInt64(vocab)) } }
}

final class KFACTests: XCTestCase {
    func testEigenpairs() {
        var rng = SeededRNG(seed: 1)
        let n = 7
        var m = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { let x = rng.uniform() * 2 - 1; m[i * n + j] = x; m[j * n + i] = x } }
        let e = Eigen.symmetric(m, n: n)!
        XCTAssertEqual(e.values, e.values.sorted())
        for j in 0..<n {
            for i in 0..<n {
                var av = 0.0
                for k in 0..<n { av += m[i * n + k] * e.vectors[k * n + j] }
                XCTAssertEqual(av, e.values[j] * e.vectors[i * n + j], accuracy: 1e-12)
            }
        }
    }

    func testFactorsMatchExplicitSums() throws {
        let lm = try tinyLlama(), c = lm.config
        let seqs = randomSequences(6, vocab: c.vocabSize, seed: 5)
        for target in [LayerRef(layer: 1, slot: .down), LayerRef(layer: 0, slot: .gate), LayerRef(layer: 1, slot: .q)] {
            let factors = KFAC.collect(model: lm.model, sequences: seqs, layers: [target], batchSize: 100, seed: 7)[target]!
            // The same batch and labels through a full-parameter pass that keeps every row.
            let pass = TrainingPass(model: lm.model), raw = RawRows(target)
            pass.linearObserver = raw
            pass.rowLoss = SampledLabels(seed: 7)
            let positions = seqs.reduce(0) { $0 + $1.count - 1 }
            pass.forwardBackward(TrainingBatch(sequences: seqs), gradScale: Float(positions))
            var counted: [Int] = [], off = 0
            for s in seqs { counted += off..<(off + s.count - 1); off += s.count }
            XCTAssertEqual(factors.positions, positions)
            let (IN, OUT) = target.slot.dimensions(c)!
            func explicit(_ rows: [[Float]], _ D: Int) -> [Double] {
                var m = [Double](repeating: 0, count: D * D)
                for n in counted { for i in 0..<D { for j in 0..<D { m[i * D + j] += Double(rows[n][i]) * Double(rows[n][j]) } } }
                return m.map { $0 / Double(positions) }
            }
            let A = explicit(raw.a, IN), G = explicit(raw.g, OUT)
            let scaleA = A.map(abs).max()!, scaleG = G.map(abs).max()!
            XCTAssertGreaterThan(scaleG, 0)
            var worst = 0.0
            for i in 0..<(IN * IN) { worst = max(worst, abs(A[i] - factors.A[i]) / scaleA) }
            for i in 0..<(OUT * OUT) { worst = max(worst, abs(G[i] - factors.G[i]) / scaleG) }
            // Measured: about 1e-7 of the largest entry (Float products summed in Double); allowed 1e-5.
            XCTAssertLessThan(worst, 1e-5, "\(target)")
            // The rows are what the layer saw: sum_n g_n a_n^T is the engine's gradient of the weight (whose backward
            // matches PyTorch, TrainingTests/ParityTests); the last row of each sequence has g = 0.
            let dW = pass.grads.values(target.weightName)
            var worstW = 0.0, scaleW = 0.0
            for o in 0..<OUT {
                for i in 0..<IN {
                    var s = 0.0
                    for n in 0..<raw.a.count { s += Double(raw.g[n][o]) * Double(raw.a[n][i]) }
                    worstW = max(worstW, abs(s - Double(dW[o * IN + i]))); scaleW = max(scaleW, abs(s))
                }
            }
            XCTAssertLessThan(worstW / scaleW, 1e-5, "\(target) weight gradient")
            for n in 0..<raw.g.count where !counted.contains(n) { XCTAssertTrue(raw.g[n].allSatisfy { $0 == 0 }) }
            print("k-fac factors \(target): worst relative difference \(worst), weight gradient \(worstW / scaleW)")
        }
    }

    func testRhoOneLeavesWeightsUnchanged() throws {
        let lm = try tinyLlama()
        let layers = LayerRef.lastMLP(lm.config, blocks: 2)
        XCTAssertEqual(layers.map(\.description), ["blk.0.gate", "blk.0.up", "blk.0.down", "blk.1.gate", "blk.1.up", "blk.1.down"])
        let before = lm.model.params.storage.array
        let factors = KFAC.collect(model: lm.model, sequences: randomSequences(8, vocab: lm.config.vocabSize, seed: 2), layers: layers, batchSize: 3)
        let reports = try KFAC.edit(model: lm.model, factors: factors, rho: 1)
        let after = lm.model.params.storage.array
        let scale = before.map(abs).max()!
        var worst: Float = 0
        for i in 0..<before.count { worst = max(worst, abs(after[i] - before[i])) }
        // Measured: a few float ulps of the largest weight; allowed 1e-5 of it.
        XCTAssertLessThan(worst, 1e-5 * scale)
        XCTAssertTrue(reports.allSatisfy { $0.kept == $0.pairs })
        print("k-fac rho 1: largest weight change \(worst) (largest weight \(scale))")
        let edited = try KFAC.edit(model: lm.model, factors: factors, rho: 0.5)
        XCTAssertTrue(edited.allSatisfy { $0.kept < $0.pairs && $0.relativeChange > 0 })
        XCTAssertThrowsError(try KFAC.edit(model: lm.model, factors: factors, rho: 1.5)) { XCTAssertTrue("\($0)".contains("rho")) }
    }

    func testDiagonalFactorsZeroTheLowCurvatureEntries() throws {
        // With A and G diagonal the eigenbases are the unit vectors, so the edit keeps W[i, j] exactly where
        // g_i * a_j is among the largest products holding rho of the mass, and zeroes it elsewhere.
        let lm = try tinyLlama(), c = lm.config, key = LayerRef(layer: 1, slot: .down)
        let (IN, OUT) = key.slot.dimensions(c)!
        var rng = SeededRNG(seed: 3)
        let a = (0..<IN).map { _ in rng.uniform() + 0.01 }, g = (0..<OUT).map { _ in rng.uniform() + 0.01 }
        var A = [Double](repeating: 0, count: IN * IN), G = [Double](repeating: 0, count: OUT * OUT)
        for i in 0..<IN { A[i * IN + i] = a[i] }
        for i in 0..<OUT { G[i * OUT + i] = g[i] }
        let W = lm.model.params.values(key.weightName)
        let rho = 0.6
        _ = try KFAC.edit(model: lm.model, factors: [key: KFACFactors(inputs: IN, outputs: OUT, A: A, G: G, positions: 1)], rho: rho)
        let Wn = lm.model.params.values(key.weightName)
        // The hand rule: sort products, keep until the kept mass reaches rho of the total.
        let total = g.reduce(0, +) * a.reduce(0, +)
        let sorted = (0..<(OUT * IN)).map { (g[$0 / IN] * a[$0 % IN], $0) }.sorted { $0.0 > $1.0 }
        var keep = Set<Int>(), cum = 0.0
        for (p, idx) in sorted { if cum >= rho * total { break }; keep.insert(idx); cum += p }
        for idx in 0..<(OUT * IN) {
            XCTAssertEqual(Wn[idx], keep.contains(idx) ? W[idx] : 0, accuracy: 1e-6, "entry \(idx)")
        }
    }

    func testLayerNames() throws {
        let c = try tinyLlama().config
        XCTAssertEqual(try LayerRef.parse("blk.1.gate", config: c), LayerRef(layer: 1, slot: .gate))
        XCTAssertEqual(try LayerRef.parse("model.layers.0.mlp.down_proj", config: c), LayerRef(layer: 0, slot: .down))
        XCTAssertEqual(try LayerRef.parse("1.up", config: c), LayerRef(layer: 1, slot: .up))
        XCTAssertThrowsError(try LayerRef.parse("blk.5.gate", config: c)) { XCTAssertTrue("\($0)".contains("block 5 does not exist")) }
        XCTAssertThrowsError(try LayerRef.parse("blk.1.mlp_in", config: c)) { XCTAssertTrue("\($0)".contains("no linear layer 'mlp_in'")) }
        XCTAssertThrowsError(try LayerRef.parse("gate", config: c)) { XCTAssertTrue("\($0)".contains("no block number")) }
    }
}
