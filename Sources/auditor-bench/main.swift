// auditor-bench: scoring and generation throughput on SmolLM2 beside this machine's measured sgemm peak.
//   swift run -c release auditor-bench [CHECKPOINT] [--threads N] [--quick] [--train full|lora|full-recompute|lora-recompute|dp-full|dp-lora] [--kfac N [--kfac-blocks B]]
import Foundation
import Glibc
import Attacks
import LM
import Model
import Stats
import Tensor
import Training
import Unlearning

setvbuf(stdout, nil, _IOLBF, 0)
var args = Array(CommandLine.arguments.dropFirst())
var threads = 2, quick = false
if let i = args.firstIndex(of: "--threads") { threads = Int(args[i + 1]) ?? 2; args.removeSubrange(i...i + 1) }
if let i = args.firstIndex(of: "--quick") { quick = true; args.remove(at: i) }
var miaTexts: Int? = nil            // --mia N: only the membership-inference benchmark on N texts of 128 tokens
if let i = args.firstIndex(of: "--mia") { miaTexts = Int(args[i + 1]); args.removeSubrange(i...i + 1) }
var miaLowercase = false              // --mia-lowercase: also time the attack that needs a second pass
if let i = args.firstIndex(of: "--mia-lowercase") { miaLowercase = true; args.remove(at: i) }
var trainMethod: String? = nil         // --train full|lora|full-recompute|lora-recompute|dp-full|dp-lora: only training steps at 8 x 128
if let i = args.firstIndex(of: "--train") { trainMethod = args[i + 1]; args.removeSubrange(i...i + 1) }
var onlyShape: (Int, Int)? = nil   // --shape BxT: profile one scoring shape, nothing else
if let i = args.firstIndex(of: "--shape") {
    let p = args[i + 1].split(separator: "x").compactMap { Int($0) }; onlyShape = (p[0], p[1]); args.removeSubrange(i...i + 1)
}
var kfacSequences: Int? = nil        // --kfac N: only the K-FAC edit of the last block's MLP over N sequences of 64 tokens
if let i = args.firstIndex(of: "--kfac") { kfacSequences = Int(args[i + 1]); args.removeSubrange(i...i + 1) }
var kfacBlocks = 1                    // --kfac-blocks B: the MLPs of the last B blocks (0: every block)
if let i = args.firstIndex(of: "--kfac-blocks") { kfacBlocks = Int(args[i + 1]) ?? 1; args.removeSubrange(i...i + 1) }
let path = args.first ?? {
    let cache = ProcessInfo.processInfo.environment["AUDITOR_CACHE"] ?? NSHomeDirectory() + "/.cache/auditor"
    return cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
}()
BLAS.setThreads(threads)

func now() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9 }
func peakRSSMiB() -> Double { var u = rusage(); getrusage(RUSAGE_SELF.rawValue, &u); return Double(u.ru_maxrss) / 1024 }
/// Best of `reps` timings of `body`, after one warm-up.
func best(_ reps: Int, _ body: () -> Void) -> Double {
    body()
    var b = Double.infinity
    for _ in 0..<reps { let t0 = now(); body(); b = min(b, now() - t0) }
    return b
}

print("auditor-bench: \(threads) thread(s), checkpoint \(path)")

if let (b, t) = onlyShape {
    let lm = try! LanguageModel.load(path: path)
    var r = SeededRNG(seed: 1)
    let seqs = (0..<b).map { _ in (0..<t).map { _ in Int(r.next() % UInt64(lm.config.vocabSize)) } }
    if ProcessInfo.processInfo.environment["BENCH_GENERATE"] != nil {   // profile generation: b prompts of t tokens
        let t0 = now(); _ = lm.model.generate(prompts: seqs, maxNewTokens: 32)
        print(String(format: "generate %d x (%d + 32): %.1f new tokens/s", b, t, Double(b * 32) / (now() - t0)))
        exit(0)
    }
    let t0 = now(); _ = lm.model.score(seqs, options: ScoreOptions(maxBatchTokens: b * t))
    print(String(format: "score %d x %d: %.1f tokens/s", b, t, Double(b * t) / (now() - t0)))
    exit(0)
}

if let n = kfacSequences {
    // Factors of gate/up/down of the last B blocks over n seeded random sequences of 64 tokens, then the edit at rho 0.8.
    let lm = try! LanguageModel.load(path: path)
    var r = SeededRNG(seed: 1)
    let seqs = (0..<n).map { _ in (0..<64).map { _ in Int(r.next() % UInt64(lm.config.vocabSize)) } }
    let layers = LayerRef.lastMLP(lm.config, blocks: kfacBlocks <= 0 ? lm.config.nLayers : kfacBlocks)
    let t0 = now()
    var lastReport = t0
    let factors = KFAC.collect(model: lm.model, sequences: seqs, layers: layers, batchSize: 8, progress: { done, total in
        if now() - lastReport > 60 { lastReport = now(); print(String(format: "  factors: %d of %d sequences, %.0f s", done, total, now() - t0)) }
    })
    let t1 = now()
    let reports = try! KFAC.edit(model: lm.model, factors: factors, rho: 0.8)
    let t2 = now()
    let names = layers.count <= 6 ? layers.map(\.description).joined(separator: ", ") : "\(layers.count) MLP projections of \(layers.count / 3) blocks"
    print(String(format: "k-fac %@ over %d x 64 tokens: factors %.1f s (%.0f tokens/s), eigendecompositions and edit %.1f s, total %.1f s, peak RSS %.0f MiB",
                 names, n, t1 - t0, Double(n * 64) / (t1 - t0), t2 - t1, t2 - t0, peakRSSMiB()))
    for rep in reports { print(String(format: "  %@: kept %d of %d pairs, relative change %.3f", rep.layer, rep.kept, rep.pairs, rep.relativeChange)) }
    exit(0)
}

if let count = miaTexts {
    // Texts of about 128 tokens: seeded random words from the tokenizer's vocabulary, decoded.
    let lm = try! LanguageModel.load(path: path)
    var r = SeededRNG(seed: 3)
    let texts = (0..<count).map { _ in lm.tokenizer.decode((0..<128).map { _ in 200 + Int(r.next() % 40000) }) }
    let ids = texts.map { Array(lm.tokenizer.encode($0).prefix(128)) }
    let tokens = ids.reduce(0) { $0 + $1.count }
    var t0 = now()
    _ = lm.model.score(ids, options: ScoreOptions())
    let plain = now() - t0
    print(String(format: "score alone: %d texts, %d tokens, %.1f s (%.1f tokens/s)", count, tokens, plain, Double(tokens) / plain))
    t0 = now()
    _ = try! MIAScorer(target: lm, options: MIAOptions(ks: [0.1, 0.2, 0.5], lowercase: false)).score(texts.map { lm.tokenizer.decode(lm.tokenizer.encode($0).prefix(128).map { $0 }) })
    let one = now() - t0
    print(String(format: "MIA, one pass (LOSS, zlib, Min-K%% and Min-K%%++ at k = 0.1, 0.2, 0.5): %.1f s = %.2f x scoring alone", one, one / plain))
    if miaLowercase {
    t0 = now()
    _ = try! MIAScorer(target: lm, options: MIAOptions(ks: [0.1, 0.2, 0.5], lowercase: true)).score(texts.map { lm.tokenizer.decode(lm.tokenizer.encode($0).prefix(128).map { $0 }) })
    let all = now() - t0
    print(String(format: "MIA + lowercase (a second pass over the lowercased texts): %.1f s = %.2f x scoring alone", all, all / plain))
    }
    print(String(format: "peak RSS: %.0f MiB", peakRSSMiB()))
    exit(0)
}

// 1. The machine's sgemm peak, on square and on the model's own shapes.
var peak = 0.0
for (m, n, k) in [(1024, 1024, 1024), (2048, 2048, 2048), (4096, 1536, 576), (4096, 576, 1536), (64, 49152, 576),
                  (256, 49152, 576), (128, 512, 64), (128, 64, 512)] {
    let a = FloatBuffer(count: m * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: m * n)
    for i in 0..<a.count { a[i] = Float(i % 7) * 0.01 }
    for i in 0..<b.count { b[i] = Float(i % 5) * 0.01 }
    let t = best(3) { BLAS.sgemm(transB: true, m: m, n: n, k: k, a: a.ptr, lda: k, b: b.ptr, ldb: k, c: c.ptr, ldc: n) }
    let gf = 2.0 * Double(m * n * k) / t / 1e9
    peak = max(peak, gf)
    print(String(format: "sgemm %5d x %5d x %5d: %7.1f GFLOP/s", m, n, k, gf))
}
print(String(format: "sgemm peak (measured now): %.1f GFLOP/s", peak))

/// Training steps at 8 x 128 tokens: full fine-tuning and LoRA (r 8 on q and v), AdamW, best of 2 after a warm-up.
/// FLOPs per step: forward 2 x (linear MACs + attention) per token; the backward twice that for full fine-tuning
/// (input and weight gradients), once for LoRA (input gradients only; the adapters' own products are small).
func trainingBenchmark(_ path: String, method: String, peak: Double) {
    do {
        let lm = try! LanguageModel.load(path: path)
        let c = lm.config
        var r = SeededRNG(seed: 7)
        let seqs = (0..<8).map { _ in (0..<128).map { _ in Int(r.next() % UInt64(c.vocabSize)) } }
        let dp = method.hasPrefix("dp-")
        let lora = method.hasPrefix("lora") || method == "dp-lora" ? LoRA(modelConfig: c, config: LoRAConfig(rank: 8, alpha: 16, targets: [.q, .v]), seed: 1) : nil
        var options = TrainingOptions()
        options.learningRate = 1e-5
        options.recompute = method.hasSuffix("-recompute")
        let trainer = Trainer(model: lm.model, lora: lora, options: options)
        let params = trainer.pass.trainable.storage.ptr, grads = trainer.pass.grads.storage.ptr
        // DP-SGD: every one of the 8 examples in the batch (q = 1, so the step is comparable), clipped at 1, noise 1.
        let examples = seqs.map { Example(tokens: $0, weights: [Float](repeating: 1, count: $0.count - 1)) }
        let dpOptions = DPOptions(noiseMultiplier: 1, clip: 1, sampleRate: 1, noiseSeed: 1)
        let secs = best(2) {
            if dp {
                _ = trainer.dpStep(dpOptions, step: 0, train: examples, noiseSeed: 1)
            } else {
                trainer.pass.zeroGradients()
                trainer.pass.forwardBackward(TrainingBatch(sequences: seqs))
                Clipping.clip(grads, trainer.groups, maxNorm: 1)
            }
            trainer.optimizer.step(params, grads, lr: 1e-5)
        }
        if dp {
            // The noise alone: one N(0, 1) draw per trainable value, as every DP step makes.
            let noiseSecs = best(2) {
                GaussianNoise.add(grads, ranges: trainer.groups.ranges.map(\.range), std: 1, seed: 5)
            }
            print(String(format: "  of which Gaussian noise for %ld values: %.2f s", trainer.groups.count, noiseSecs))
        }
        let tokens = 8 * 128
        let fwd = 2.0 * Double(c.linearMACsPerToken) * Double(tokens) + 2.0 * 2.0 * Double(c.nLayers * c.nHeads * c.headDim) * 8 * 128 * 129 / 2
        // A recomputed forward per block adds one forward's work.
        let flops = fwd * (method.hasPrefix("full") || method == "dp-full" ? 3 : 2) + (options.recompute ? fwd : 0)
        let gf = flops / secs / 1e9
        print(String(format: "train %@ 8 x 128, AdamW: %7.1f tokens/s  (%.2f s/step, %.1f effective GFLOP/s = %.0f%% of peak; the peak allows %.0f tokens/s)",
                     method.replacingOccurrences(of: "lora", with: "LoRA r8 q,v").replacingOccurrences(of: "dp-", with: "DP-SGD "), Double(tokens) / secs, secs, gf, 100 * gf / peak,
                     peak * 1e9 / (flops / Double(tokens))))
    }
    print(String(format: "peak RSS: %.0f MiB", peakRSSMiB()))
}

if let trainMethod { trainingBenchmark(path, method: trainMethod, peak: peak); exit(0) }

// 2. Load.
let t0 = now()
let lm: LanguageModel
do { lm = try LanguageModel.load(path: path) } catch { print("cannot load: \(error)"); exit(2) }
let c = lm.config
print(String(format: "load: %.2f s, %d parameters, peak RSS %.0f MiB", now() - t0, lm.model.params.count, peakRSSMiB()))

// 3. Scoring at fixed shapes (seeded random tokens).
var rng = SeededRNG(seed: 1)
func batch(_ b: Int, _ t: Int) -> [[Int]] { (0..<b).map { _ in (0..<t).map { _ in Int(rng.next() % UInt64(c.vocabSize)) } } }
/// FLOPs of one scoring pass: linear layers and head on every token, causal attention (QK^T and PV) per layer.
func flops(_ b: Int, _ t: Int) -> Double {
    let lin = 2.0 * Double(c.linearMACsPerToken) * Double(b * t)
    let att = 2.0 * 2.0 * Double(c.nLayers * c.nHeads * c.headDim) * Double(b) * Double(t) * Double(t + 1) / 2
    return lin + att
}
let scratch = Scratch()
let shapes: [(Int, Int)] = quick ? [(8, 128)] : [(8, 512), (8, 128), (1, 1024)]
for (b, t) in shapes {
    let seqs = batch(b, t)
    for stats in [false, true] {
        let opts = ScoreOptions(vocabStats: stats, maxBatchTokens: b * t)
        let secs = best(quick ? 1 : 2) { _ = lm.model.score(seqs, options: opts, scratch: scratch) }
        let gf = flops(b, t) / secs / 1e9
        print(String(format: "score %d x %4d%@: %7.1f tokens/s  (%.2f s/batch, %.1f effective GFLOP/s = %.0f%% of peak)",
                     b, t, stats ? " +vocab stats" : "             ", Double(b * t) / secs, secs, gf, 100 * gf / peak))
    }
}

// 4. Batched greedy generation: 8 prompts of 32 tokens, 64 new tokens each.
let prompts = batch(8, 32)
let newTokens = quick ? 16 : 64
let gsecs = best(1) { _ = lm.model.generate(prompts: prompts, maxNewTokens: newTokens, scratch: scratch) }
print(String(format: "generate 8 x (32 prompt + %d new), greedy: %.1f new tokens/s (%.2f s)",
             newTokens, Double(8 * newTokens) / gsecs, gsecs))
let g1 = best(1) { _ = lm.model.generate(prompts: [prompts[0]], maxNewTokens: newTokens, scratch: scratch) }
print(String(format: "generate 1 x (32 prompt + %d new), greedy: %.1f new tokens/s", newTokens, Double(newTokens) / g1))
print(String(format: "peak RSS: %.0f MiB", peakRSSMiB()))
