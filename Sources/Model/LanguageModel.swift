// Opens a checkpoint (GGUF file, or Hugging Face directory with config.json + safetensors) as model + tokenizer.
import Foundation
import Checkpoint
import LM
import Tokenizer

public enum CheckpointFormat: String, Sendable { case gguf, safetensors }

/// A loaded checkpoint: the transformer, its tokenizer, and what was read to build them.
/// Immutable after init; Sendable checked by the compiler.
public final class LanguageModel: Sendable {
    public let model: TransformerModel
    public let tokenizer: BPETokenizer
    public let format: CheckpointFormat
    public let path: String
    /// Files read (weights, config, tokenizer), for hashing.
    public let files: [String]
    /// Tensor count per stored dtype, e.g. ["Q4_1": 210, "F32": 61].
    public let dtypeCounts: [String: Int]
    public let tensorCount: Int
    public var config: ModelConfig { model.config }

    init(model: TransformerModel, tokenizer: BPETokenizer, format: CheckpointFormat, path: String, files: [String],
         store: TensorStore) {
        self.model = model; self.tokenizer = tokenizer; self.format = format; self.path = path; self.files = files
        var counts: [String: Int] = [:]
        for n in store.tensorNames { if let e = store.entry(n) { counts[e.dtype.rawValue, default: 0] += 1 } }
        dtypeCounts = counts
        tensorCount = store.tensorNames.count
    }

    /// `path`: a .gguf file, a directory holding config.json + model.safetensors (or a sharded index) +
    /// tokenizer.json, or a .safetensors file with config.json and tokenizer.json beside it.
    public static func load(path: String) throws -> LanguageModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelError(file: path, "no such file or directory")
        }
        if !isDir.boolValue { try requireRegularFile(path) }
        if !isDir.boolValue && isGGUF(path) { return try loadGGUF(path) }
        let dir = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        let configPath = (dir as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            if !isDir.boolValue && !path.hasSuffix(".safetensors") {
                throw ModelError(file: path, "not a GGUF file (bad magic) and not a safetensors checkpoint")
            }
            throw ModelError(file: configPath, "missing config.json next to the safetensors weights")
        }
        try requireRegularFile(configPath)
        let config = try ModelConfig.fromHuggingFace(path: configPath)
        let store = try SafetensorsCheckpoint(path: path)
        try checkSizes(config, against: store, file: configPath)
        let params = Parameters(config.parameterSpecs())
        let loader = TensorLoader(store, file: store.files.count == 1 ? store.files[0] : dir)
        switch config.architecture {
        case .llama: try LlamaLoader.loadHF(loader, config, params)
        case .gpt2: try GPT2Loader.load(loader, config, params)
        case .gptNeoX: try GPTNeoXLoader.load(loader, config, params)
        }
        let tokPath = (dir as NSString).appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: tokPath) else {
            throw ModelError(file: tokPath, "missing tokenizer.json next to the checkpoint")
        }
        try requireRegularFile(tokPath)
        let tokenizer = try BPETokenizer(tokenizerJSON: tokPath)
        try checkVocab(tokenizer, config, file: tokPath)
        return LanguageModel(model: TransformerModel(config: config, params: params), tokenizer: tokenizer,
                             format: .safetensors, path: path, files: store.files + [configPath, tokPath], store: store)
    }

    /// Refuses sizes the checkpoint cannot hold before anything is allocated from them: a broken or hostile config.json
    /// or GGUF metadata (a layer count or hidden size of 10^12) would otherwise overflow or allocate terabytes. Every
    /// parameter comes from a tensor of the file, so twice their elements (plus slack) is far above any real need;
    /// the loader then checks each shape exactly.
    static func checkSizes(_ config: ModelConfig, against store: TensorStore, file: String) throws {
        let tensors = store.tensorNames.count
        guard config.nLayers <= tensors else {
            throw ModelError(file: file, "\(config.nLayers) layers, but the checkpoint has only \(tensors) tensors")
        }
        var available = 0
        for name in store.tensorNames { available = available &+ (store.entry(name)?.elementCount ?? 0) }
        let limit = available.multipliedReportingOverflow(by: 2).partialValue &+ (1 << 20)
        var needed = 0
        for (name, shape) in config.parameterSpecs() {
            var n = 1
            for d in shape {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                guard !o, p <= limit else {
                    throw ModelError(file: file, "parameter \(name) of shape \(shape) is larger than the whole checkpoint (\(available) values)")
                }
                n = p
            }
            needed += n
            guard needed <= limit else {
                throw ModelError(file: file, "the configuration needs more parameters than the checkpoint's \(available) values")
            }
        }
    }

    static func isGGUF(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    /// Refuses a directory or a FIFO, socket or device where a file is expected: opening a FIFO blocks for ever.
    static func requireRegularFile(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { return }  // a missing file is reported by whoever opens it
        switch st.st_mode & mode_t(S_IFMT) {
        case mode_t(S_IFREG): return
        case mode_t(S_IFDIR): throw ModelError(file: path, "is a directory (expected a file)")
        default: throw ModelError(file: path, "not a regular file (a FIFO, socket or device); give a checkpoint file or folder")
        }
    }

    static func loadGGUF(_ path: String) throws -> LanguageModel {
        let g = try GGUFFile(path: path)
        let config = try ModelConfig.fromGGUF(g)
        try checkSizes(config, against: g, file: path)
        let params = Parameters(config.parameterSpecs())
        try LlamaLoader.loadGGUF(TensorLoader(g, file: path), config, params)
        let tokenizer = try ggufTokenizer(g)
        try checkVocab(tokenizer, config, file: path)
        return LanguageModel(model: TransformerModel(config: config, params: params), tokenizer: tokenizer,
                             format: .gguf, path: path, files: [path], store: g)
    }

    /// The byte-level BPE tokenizer stored in GGUF metadata (tokenizer.ggml.*).
    static func ggufTokenizer(_ g: GGUFFile) throws -> BPETokenizer {
        let file = g.path
        guard let model = g.string("tokenizer.ggml.model") else {
            throw ModelError(file: file, "missing metadata key 'tokenizer.ggml.model'")
        }
        guard model == "gpt2" else {
            throw ModelError(file: file, "tokenizer model '\(model)' is not supported (only 'gpt2', byte-level BPE)")
        }
        guard let tokens = g.stringArray("tokenizer.ggml.tokens") else {
            throw ModelError(file: file, "missing metadata key 'tokenizer.ggml.tokens'")
        }
        guard let merges = g.stringArray("tokenizer.ggml.merges") else {
            throw ModelError(file: file, "missing metadata key 'tokenizer.ggml.merges'")
        }
        let pre = try BPETokenizer.preTokenizer(ggufName: g.string("tokenizer.ggml.pre") ?? "default", source: file)
        return try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: g.intArray("tokenizer.ggml.token_type"),
                                preTokenizer: pre, bosId: g.int("tokenizer.ggml.bos_token_id"),
                                eosId: g.int("tokenizer.ggml.eos_token_id"), padId: g.int("tokenizer.ggml.padding_token_id"),
                                addBos: g.bool("tokenizer.ggml.add_bos_token") ?? false, source: file)
    }

    static func checkVocab(_ t: BPETokenizer, _ c: ModelConfig, file: String) throws {
        if t.vocabSize > c.vocabSize {
            throw ModelError(file: file, "tokenizer has \(t.vocabSize) tokens but the model's vocabulary is \(c.vocabSize)")
        }
    }

    /// Scores texts: tokenises (with the tokenizer's own BOS setting), truncates to the context, scores.
    public func scoreTexts(_ texts: [String], options: ScoreOptions = ScoreOptions(),
                           progress: ((Int, Int) -> Void)? = nil) -> [(ids: [Int], truncated: Bool, scores: SequenceScores)] {
        let enc = texts.map { tokenizer.encode($0) }
        let ids = enc.map { Array($0.prefix(config.maxPositions)) }
        let s = model.score(ids, options: options, progress: progress)
        return (0..<texts.count).map { (ids[$0], enc[$0].count > config.maxPositions, s[$0]) }
    }
}
