// Learning-rate schedules (as transformers' get_constant_schedule_with_warmup, get_linear_schedule_with_warmup and
// get_cosine_schedule_with_warmup) and global-norm gradient clipping (as torch.nn.utils.clip_grad_norm_).
import Foundation

public enum Schedule: String, Sendable, CaseIterable {
    case constant, linear, cosine

    /// The learning rate at 0-based `step` of `total`, after `warmup` steps rising linearly from 0 to `peak`.
    public func rate(peak: Double, step: Int, total: Int, warmup: Int) -> Double {
        if step < warmup { return peak * Double(step) / Double(max(1, warmup)) }
        let progress = Double(step - warmup) / Double(max(1, total - warmup))
        switch self {
        case .constant: return peak
        case .linear: return peak * max(0, 1 - progress)
        case .cosine: return peak * max(0, 0.5 * (1 + Foundation.cos(Double.pi * progress)))
        }
    }
}

public enum Clipping {
    /// The L2 norm of the gradients over `groups`, accumulated in Double.
    public static func norm(_ grads: UnsafePointer<Float>, _ groups: ParameterGroups) -> Double {
        var s = 0.0
        for (range, _) in groups.ranges { for i in range { s += Double(grads[i]) * Double(grads[i]) } }
        return s.squareRoot()
    }

    /// Scales the gradients by min(1, maxNorm / (norm + 1e-6)) and returns the norm before clipping.
    @discardableResult
    public static func clip(_ grads: UnsafeMutablePointer<Float>, _ groups: ParameterGroups, maxNorm: Double) -> Double {
        let n = norm(grads, groups)
        let coef = maxNorm / (n + 1e-6)
        if coef < 1 {
            let f = Float(coef)
            for (range, _) in groups.ranges { for i in range { grads[i] *= f } }
        }
        return n
    }
}
