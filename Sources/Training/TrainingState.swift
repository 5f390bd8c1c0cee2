// A resumable training state in one safetensors file: the trainable parameters, the optimiser's moments, and in
// the metadata the steps taken and how they were taken, so that resuming continues the same run bit for bit.
import Checkpoint
import Foundation

extension Trainer {
    /// Writes the state after `step` steps to `path` (atomically: temporary file, then rename).
    public func saveState(to path: String, step: Int) throws {
        let p = pass.trainable
        var tensors: [(name: String, shape: [Int], data: [Float])] = [("params", [p.storage.count], p.storage.array)]
        for (name, values) in optimizer.state().sorted(by: { $0.key < $1.key }) { tensors.append((name, [values.count], values)) }
        try SafetensorsWriter.write(tensors, metadata: ["auditor.step": String(step), "auditor.optimizer": options.optimizer.rawValue,
                                                        "auditor.seed": String(options.seed), "auditor.trainable": String(p.storage.count)],
                                    to: path)
    }

    /// Restores parameters and optimiser state from `path`; returns the steps already taken. Checks that the state
    /// belongs to a run with these trainable parameters, this optimiser and this seed.
    public func restoreState(from path: String) throws -> Int {
        let f = try SafetensorsFile(path: path)
        let p = pass.trainable
        func fail(_ m: String) -> TrainingError { TrainingError("\(path): \(m)") }
        guard let s = f.metadata["auditor.step"], let step = Int(s), step >= 0 else { throw fail("not a training state (no step)") }
        guard f.metadata["auditor.optimizer"] == options.optimizer.rawValue else {
            throw fail("saved with the \(f.metadata["auditor.optimizer"] ?? "?") optimiser, not \(options.optimizer.rawValue)")
        }
        guard f.metadata["auditor.seed"] == String(options.seed) else {
            throw fail("saved with seed \(f.metadata["auditor.seed"] ?? "?"), not \(options.seed): the data order would differ")
        }
        let params = try f.floats("params")
        guard params.count == p.storage.count else {
            throw fail("holds \(params.count) trainable values, this model and method have \(p.storage.count)")
        }
        var state: [String: [Float]] = [:]
        for name in f.tensorNames where name != "params" { state[name] = try f.floats(name) }
        do { try optimizer.restore(state, steps: step) } catch let e as OptimizerError { throw fail(e.description) }
        params.withUnsafeBufferPointer { p.storage.ptr.update(from: $0.baseAddress!, count: params.count) }
        return step
    }
}
