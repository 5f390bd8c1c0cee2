// The inputs step: load and hash every checkpoint and dataset first, so a bad file fails before any long computation.
import Attacks
import Foundation
import LM
import Store

/// The models and data the later steps read.
struct AuditInputs {
    var target: AuditedModel
    var reference: AuditedModel?
    var memberTexts: [String] = [], nonmemberTexts: [String] = []
    var extractionTexts: [(id: Any?, text: String)] = []
    var canaryManifest: CanaryManifest?
    var trapManifest: TrapManifest?
}

extension AuditRunner {
    func loadInputs() throws -> (AuditInputs, StepOutput) {
        let target = try spec.targetEndpoint.map { try loadEndpoint($0, "target") } ?? loadModel(spec.target, "target")
        var inputs = AuditInputs(target: target,
                                 reference: try spec.reference.map { try loadModel($0, "reference") })
        var out = StepOutput(checkpoints: [inputs.target.record] + (inputs.reference.map { [$0.record] } ?? []))
        if let p = spec.members {
            inputs.memberTexts = try readJSONLTexts(p, field: spec.field).map(\.text)
            out.datasets.append(try datasetRecord("members", p, inputs.memberTexts.count))
        }
        if let p = spec.nonmembers {
            inputs.nonmemberTexts = try readJSONLTexts(p, field: spec.field).map(\.text)
            out.datasets.append(try datasetRecord("nonmembers", p, inputs.nonmemberTexts.count))
        }
        if let p = spec.extraction {
            inputs.extractionTexts = try readJSONLTexts(p, field: spec.field)
            out.datasets.append(try datasetRecord("extraction", p, inputs.extractionTexts.count))
            if let e = spec.extractionSpec { try checkExtractionLengths(e, inputs.extractionTexts, target.model, file: p) }
        }
        if let p = spec.canaries {
            let m = try readCanaryManifest(p)
            if m.canaries.isEmpty { throw InputError(p, "the manifest lists no canaries") }
            inputs.canaryManifest = m
            out.datasets.append(try datasetRecord("canaries", p, m.canaries.count))
            if let w = spec.canary?.words { out.datasets.append(try datasetRecord("canary-words", w, try readWordList(w).count)) }
        }
        if let p = spec.traps {
            let m = try readTrapManifest(p)
            if m.traps.isEmpty { throw InputError(p, "the manifest lists no traps") }
            inputs.trapManifest = m
            out.datasets.append(try datasetRecord("traps", p, m.traps.count))
        }
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
