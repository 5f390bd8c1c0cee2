// Attacks: membership inference, extraction, metrics (shared/REFERENCES.md sections 2-4).
