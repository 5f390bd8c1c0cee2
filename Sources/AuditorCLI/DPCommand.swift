// `auditor dp epsilon|noise`: differential-privacy planning for DP-SGD (Poisson-subsampled Gaussian steps).
import Audit
import ArgumentParser
import Foundation
import Privacy

struct DPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dp",
        abstract: "Differential-privacy accounting for DP-SGD: epsilon from noise, or noise for a target epsilon.",
        discussion: """
            Poisson-subsampled Gaussian steps under add-or-remove-one neighbours, the relation of Opacus and \
            dp_accounting. rdp: Renyi DP at dp_accounting's default orders (1.1..10.9, 11..63, 128..1024). pld: the \
            privacy-loss distribution, discretised pessimistically (interval 1e-4; never below the true epsilon) and \
            composed by FFT; it is the tighter of the two.
            """,
        subcommands: [Epsilon.self, Noise.self])

    enum Accountants: String, ExpressibleByArgument, CaseIterable {
        case rdp, pld, both
        var kinds: [PrivacyAccountantKind] {
            switch self {
            case .rdp: return [.rdp]
            case .pld: return [.pld]
            case .both: return [.rdp, .pld]
            }
        }
    }

    struct Epsilon: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Epsilon spent after T steps with sampling rate q and noise multiplier sigma, for delta.")
        @Option(help: "Sampling rate: the probability that an example joins a step, in (0, 1].") var q: Double
        @Option(help: "Noise multiplier sigma (noise standard deviation / clipping norm), >= 0.") var noise: Double
        @Option(help: "Number of steps, 0 to 1e9.") var steps: Int
        @Option(help: "Delta, in (0, 1).") var delta: Double
        @Option(help: "rdp, pld or both.") var accountant: Accountants = .both

        func run() throws {
            try reportingErrors {
                for kind in accountant.kinds {
                    switch kind {
                    case .rdp:
                        let r = try dpFlag { try RDPAccountant().epsilon(q: q, noise: noise, steps: steps, delta: delta) }
                        print("rdp: epsilon \(show(r.epsilon)) (optimal order \(show(r.optimalOrder)))")
                    case .pld:
                        let r = try dpFlag { try PLDAccountant().epsilon(q: q, noise: noise, steps: steps, delta: delta) }
                        print("pld: epsilon \(show(r.epsilon)) (discretisation interval \(show(r.discretizationInterval)))")
                    }
                }
            }
        }
    }

    struct Noise: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The smallest noise multiplier whose epsilon after T steps is at most the target, for delta.",
            discussion: "Give --steps, or --epochs (then steps = ceil(epochs / q)).")
        @Option(help: "Target epsilon, > 0.") var epsilon: Double
        @Option(help: "Delta, in (0, 1).") var delta: Double
        @Option(help: "Sampling rate: the probability that an example joins a step, in (0, 1].") var q: Double
        @Option(help: "Number of steps, 0 to 1e9.") var steps: Int?
        @Option(help: "Epochs instead of steps: steps = ceil(epochs / q).") var epochs: Double?
        @Option(help: "rdp, pld or both.") var accountant: Accountants = .both

        func run() throws {
            try reportingErrors {
                let t = try resolvedSteps()
                for kind in accountant.kinds {
                    let sigma = try dpFlag { try dpNoise(epsilon: epsilon, delta: delta, q: q, steps: t, accountant: kind) }
                    let spent = try dpFlag { try dpEpsilon(q: q, noise: sigma, steps: t, delta: delta, accountant: kind) }
                    print("\(kind.rawValue): noise \(show(sigma)) (epsilon \(show(spent)) after \(t) steps)")
                }
            }
        }

        /// --steps, or ceil(--epochs / --q); exactly one of the two.
        func resolvedSteps() throws -> Int {
            switch (steps, epochs) {
            case (let s?, nil): return s
            case (nil, let e?):
                guard e >= 0 && e.isFinite else { throw InputError("--epochs", "must be finite and >= 0; got \(e)") }
                guard q > 0 && q <= 1 else { throw InputError("--q", "must be a sampling rate in (0, 1]; got \(q)") }
                let t = (e / q).rounded(.up)
                guard t <= Double(maxEpochSteps) else {
                    throw InputError("--epochs", "gives \(Int(t)) steps, more than \(maxEpochSteps)")
                }
                return Int(t)
            case (nil, nil): throw InputError("--steps", "give --steps or --epochs")
            case (_?, _?): throw InputError("--epochs", "give --steps or --epochs, not both")
            }
        }
    }
}

/// The most steps `dp noise --epochs` will turn into.
private let maxEpochSteps = 100_000_000

/// A DPParameterError becomes "--flag: problem", the house form of a bad argument value (a usage error, exit 64: see reportingErrors).
private func dpFlag<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as DPParameterError {
        throw InputError("--" + e.parameter, e.problem)
    }
}

/// 6 significant digits; "inf" for infinity.
private func show(_ v: Double) -> String {
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    return String(format: "%.6g", v)
}
