// `auditor convert`: rewrites a checkpoint as a Hugging Face folder or a GGUF file and prints the SHA-256 of what it wrote.
import Audit
import ArgumentParser
import Foundation
import Model

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint to a Hugging Face folder or a GGUF file (F32, F16 or Q8_0).",
        discussion: """
            OUT ending in .gguf is written as GGUF v3 (Llama only; --type sets how 2-D weights are stored, norms stay \
            F32), anything else as a Hugging Face folder: config.json, F32 model.safetensors (sharded above 2 GiB), \
            tokenizer.json, tokenizer_config.json. Q and K rows move between llama.cpp's and Hugging Face's RoPE \
            layouts. The output is built under a temporary name beside OUT and renamed when complete; the input is \
            only read. Prints "SHA-256  path" for every file written (the format of sha256sum); progress and a \
            summary go to stderr.
            """)

    @Argument(help: "The checkpoint to read: a GGUF file or a Hugging Face folder.") var input: String
    @Argument(help: "Where to write: a .gguf file, or a new (or empty) folder.") var output: String
    @Option(help: "Output format: hf or gguf (default: gguf when OUT ends in .gguf, else hf).") var to: String?
    @Option(help: "GGUF weight type: f32, f16 or q8_0 (default: f32).") var type: String?

    func run() throws {
        try reportingErrors {
            let format: ExportFormat
            if let to {
                guard let f = ExportFormat(rawValue: to) else { throw InputError("--to", "unknown format '\(to)' (expected hf or gguf)") }
                format = f
            } else {
                format = output.lowercased().hasSuffix(".gguf") ? .gguf : .huggingFace
            }
            let names = GGUFOutputType.allCases.map(\.rawValue)
            var ggufType = GGUFOutputType.f32
            if let type {
                guard let t = GGUFOutputType(rawValue: type.lowercased()) else {
                    throw InputError("--type", "unknown type '\(type)' (expected \(names.joined(separator: ", ")))")
                }
                guard format == .gguf else {
                    throw InputError("--type", "applies to GGUF output only; a Hugging Face folder is always F32")
                }
                ggufType = t
            }
            // The output is checked before the (possibly long) load, and again by the writer.
            try LanguageModel.checkOutput(output, format: format, input: input)
            let start = Date()
            let lm = try loadCheckpoint(input)
            try lm.checkExportable(as: format, to: output)
            let c = lm.config
            let what = format == .gguf ? "GGUF (\(ggufType.rawValue.uppercased()))" : "a Hugging Face folder (F32)"
            FileHandle.standardError.write(Data("converting \(input) (\(lm.format.rawValue), \(c.architecture.rawValue), \(lm.model.params.count) parameters) to \(what)\n".utf8))
            var bar: Audit.Progress?
            let progress: ExportProgress = { done, total, bytes in
                if bar == nil { bar = Audit.Progress(total: total, unit: "tensors", rateUnit: "MB", label: "convert") }
                bar?.update(done: done, work: bytes / 1_000_000)
            }
            let files = format == .gguf ? try lm.writeGGUF(to: output, type: ggufType, progress: progress)
                                        : try lm.writeHuggingFace(to: output, progress: progress)
            var bytes = 0
            for f in files {
                print("\(try sha256(file: f))  \(f)")
                bytes += (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
            }
            FileHandle.standardError.write(Data(String(format: "wrote %@: %ld file(s), %ld bytes in %.1f s\n",
                                                       output, files.count, bytes, Date().timeIntervalSince(start)).utf8))
        }
    }
}
