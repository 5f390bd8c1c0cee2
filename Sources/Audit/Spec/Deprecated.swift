// Old spellings a spec may still hold: the attack names the `mia` command printed before the one vocabulary
// (min_k@0.2, min_k++@0.2, ref_diff) and the spec families written that way. Each is read as its new spelling with a
// warning that names the file, the line and the new spelling.
import Attacks

enum DeprecatedSpelling {
    /// Old attack families of `attacks.mia.attacks` and their spellings now.
    static let families = ["min_k": "mink", "min_k++": "minkpp", "ref_diff": "reference", "min_kpp": "minkpp"]

    /// The catalog key of an old attack name ("min_k@0.2" -> "mink_0.2", "min_k++@0.2" -> "minkpp_0.2",
    /// "ref_diff" -> "reference"); nil when `name` is not an old spelling.
    static func attack(_ name: String) -> String? {
        if name == "ref_diff" { return MIAAttack.reference.key }
        for (prefix, make) in [("min_k++@", MIAAttack.minKPlusPlus), ("min_k@", MIAAttack.minK)] where name.hasPrefix(prefix) {
            guard let k = Double(name.dropFirst(prefix.count)), k > 0, k <= 1 else { return nil }
            return make(k).key
        }
        return nil
    }

    /// A threshold's metric key with an old attack name replaced ("mia.min_k@0.2.auc" -> "mia.mink_0.2.auc"); nil
    /// when nothing in it is old.
    static func metric(_ key: String) -> String? {
        guard key.hasPrefix("mia.") else { return nil }
        for suffix in [".auc", ".tpr_at_fpr_1pct", ".tpr_at_fpr_0.1pct"] where key.hasSuffix(suffix) {
            if let new = attack(String(key.dropFirst(4).dropLast(suffix.count))) { return "mia." + new + suffix }
        }
        return nil
    }

    /// Why a key that names one bound of an interval (the old `auc_lower`, `auc_upper`, `completion_lower` fields) is
    /// not a metric: intervals are written {value, ci95} and a threshold compares the value. Nil for other keys.
    static func intervalBound(_ key: String) -> String? {
        for bound in ["_lower", "_upper"] where key.hasSuffix(bound) {
            let base = String(key.dropLast(bound.count))
            let hint = Figure(key: base) != nil ? "; a threshold compares the value: '\(base)'" : ""
            return "'\(key)' names one end of an interval, which is no longer a separate key (every interval is written "
                + "{\"value\": v, \"ci95\": [lower, upper]})\(hint)"
        }
        return nil
    }
}
