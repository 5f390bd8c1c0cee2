// Upper bounds on every count a user can give (CLI options and spec values), checked where they are parsed so that a
// huge number is refused with the bound in the message instead of overflowing, trapping or allocating terabytes.
public enum Limits {
    /// Token lengths (prefix, suffix, new tokens, training examples): far above any context; the context check gives the
    /// precise limit later.
    public static let tokens = 1_000_000
    /// Bootstrap resamples.
    public static let resamples = 100_000
    /// Canary candidates scored: sampled references and the enumeration threshold.
    public static let candidates = 10_000_000
    /// Canaries generated per repetition count.
    public static let perRepetition = 100_000
    /// n of (n, p)-discoverability (a number in a formula, not a loop).
    public static let discoverabilityN = 1_000_000_000
    /// Other counts (samples, controls, passphrases, words, rounds, top-k, listed runs).
    public static let count = 1_000_000
}
