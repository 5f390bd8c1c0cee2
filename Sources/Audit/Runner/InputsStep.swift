// The inputs step: load and hash every checkpoint and dataset first, so a bad file fails before any long computation.
import Attacks
import Foundation
import LM
import Store

/// The models and data the later steps read.
struct AuditInputs {
    var target: AuditedModel
    var reference: AuditedModel?
    var data: DataFiles

    /// The data files, read before the run starts.
    struct DataFiles {
        var memberTexts: [String] = [], nonmemberTexts: [String] = []
        var extractionTexts: [(id: Any?, text: String)] = []
        var canaryManifest: CanaryManifest?
        var trapManifest: TrapManifest?
    }
    var memberTexts: [String] { data.memberTexts }
    var nonmemberTexts: [String] { data.nonmemberTexts }
    var extractionTexts: [(id: Any?, text: String)] { data.extractionTexts }
    var canaryManifest: CanaryManifest? { data.canaryManifest }
    var trapManifest: TrapManifest? { data.trapManifest }
}

extension AuditRunner {
    /// Reads and checks every data file of the spec (datasets, manifests, word lists) before the run is stored or
    /// any model is loaded: a directory, a FIFO or a malformed file fails here, naming the file.
    func readDataInputs() throws -> (AuditInputs.DataFiles, StepOutput) {
        var data = AuditInputs.DataFiles(), out = StepOutput()
        if spec.targetEndpoint == nil { try requireCheckpointPath(spec.target) }
        if let r = spec.reference { try requireCheckpointPath(r) }
        if let p = spec.members {
            data.memberTexts = try readJSONLTexts(p, field: spec.field).map(\.text)
            out.datasets.append(try datasetRecord("members", p, data.memberTexts.count))
        }
        if let p = spec.nonmembers {
            data.nonmemberTexts = try readJSONLTexts(p, field: spec.field).map(\.text)
            out.datasets.append(try datasetRecord("nonmembers", p, data.nonmemberTexts.count))
        }
        // The same text on both sides: `mia` warns, and so does the report (from this finding).
        let shared = Set(data.memberTexts).intersection(data.nonmemberTexts).count
        if shared > 0 {
            out.findings.append(FindingRecord(step: "inputs", kind: "overlap", dataset: "members+nonmembers", index: 0,
                                              itemID: nil, secret: nil, numbers: ["shared": Double(shared)]))
        }
        if let p = spec.extraction {
            data.extractionTexts = try readJSONLTexts(p, field: spec.field)
            out.datasets.append(try datasetRecord("extraction", p, data.extractionTexts.count))
        }
        if let p = spec.canaries {
            let m = try readCanaryManifest(p)
            if m.canaries.isEmpty { throw InputError(p, "the manifest lists no canaries") }
            data.canaryManifest = m
            out.datasets.append(try datasetRecord("canaries", p, m.canaries.count))
            if let w = spec.canary?.words { out.datasets.append(try datasetRecord("canary-words", w, try readWordList(w).count)) }
        }
        if let p = spec.traps {
            let m = try readTrapManifest(p)
            if m.traps.isEmpty { throw InputError(p, "the manifest lists no traps") }
            data.trapManifest = m
            out.datasets.append(try datasetRecord("traps", p, m.traps.count))
        }
        return (data, out)
    }

    /// The inputs step: loads and hashes the checkpoints; the data files were read by `readDataInputs`.
    func loadInputs(_ data: (AuditInputs.DataFiles, StepOutput)) throws -> (AuditInputs, StepOutput) {
        let target = try spec.targetEndpoint.map { try loadEndpoint($0, "target") } ?? loadModel(spec.target, "target")
        let inputs = AuditInputs(target: target, reference: try spec.reference.map { try loadModel($0, "reference") }, data: data.0)
        var out = data.1
        out.checkpoints = [inputs.target.record] + (inputs.reference.map { [$0.record] } ?? [])
        // Before any model work, once the tokenizer is at hand: every extraction text long enough.
        if let e = spec.extractionSpec, let p = spec.extraction { try checkExtractionLengths(e, inputs.extractionTexts, target.model, file: p) }
        return (inputs, out)
    }

    /// Before any model work: every extraction text must hold the longest prefix + the suffix. The error names every
    /// text that does not, by its id (else its line's number), with its length.
    func checkExtractionLengths(_ e: AuditSpec.ExtractionSpec, _ texts: [(id: Any?, text: String)], _ lm: any AuditableModel,
                                file: String) throws {
        let need = e.prefixes.max()! + e.suffix   // the spec reader admits no empty list
        guard need <= lm.contextLength else {
            throw InputError(spec.path, "attacks.extraction: prefix + suffix (\(need)) exceeds the model's context (\(lm.contextLength))")
        }
        var short: [String] = []
        for (i, t) in texts.enumerated() {
            let n = try lm.encode(t.text).count
            if n < need { short.append("\(t.id.map { "'\($0)'" } ?? "text \(i + 1)") (\(n) tokens)") }
        }
        guard short.isEmpty else {
            throw InputError(file, "\(short.count) of \(texts.count) texts have fewer tokens than the longest prefix + suffix = \(need) "
                             + "that extraction needs: \(short.joined(separator: ", ")) (shorten attacks.extraction's prefix or suffix "
                             + "in \(spec.path), or leave these texts out)")
        }
    }
}
