// The "How to read this" section: what the figures mean, and whether this report shows the sensitive texts.
extension Report {
    struct HowToRead: ReportSection {
        func render(into md: inout MarkdownBuilder, _ ctx: ReportContext) {
            md.heading("How to read this")
            md.add("- Attack scores point one way: a higher score means the attack thinks the text is more likely a member (was in the training data).")
            md.add("- AUC is the chance that a random member scores above a random non-member: 0.5 is guessing, 1.0 is perfect separation. TPR at a low FPR is the fraction of members caught while wrongly flagging only that fraction of non-members; it is what matters for an individual's privacy.")
            md.add("- Every figure carries a 95% interval: bootstrap (resampling the texts) for AUC and TPR, Clopper-Pearson (exact binomial) for rates. Where no interval exists the table says how the figure was obtained instead.")
            md.add("- A threshold's margin is the distance between the figure and the threshold; a breach whose interval still reaches the allowed side may be sampling noise, one whose whole interval is beyond the threshold is not.")
            md.add("- Exposure is measured in bits: log2 of the number of candidate secrets minus log2 of the planted canary's rank among them (Carlini et al., The Secret Sharer, 2019). Its maximum, log2 of the number of candidates, means the model ranks the canary first. When the candidates are too many to rank them all, the rank is estimated from a random sample of them, and the interval says how far that estimate can be trusted: ranking first among m sampled candidates establishes only about log2 m bits.")
            md.add(ctx.options.showSecrets
                   ? "- This report SHOWS the sensitive texts (canaries, generated text): handle it as confidential."
                   : "- Sensitive texts (canaries, generated text) are replaced by \(Escape.markdown(redacted)); render with `--show-secrets` to see them.")
            md.add()
        }
    }
}
