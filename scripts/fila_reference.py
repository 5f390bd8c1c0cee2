#!/usr/bin/env python3
"""Reference for LoKU's Fisher-weighted LoRA initialisation (FILA; shared/REFERENCES.md section 6), written from the
paper's rule with numpy's full SVD: row weights r_i = sqrt(sum_j I_f[i,j] / (1e-5 + I_r[i,j])), the rank-k SVD of
diag(r) W = U S V^T, A = (V sqrt(S / s))^T, B = diag(1 / (r + 1e-5)) U sqrt(S / s), residual W - s B A.
Writes Fixtures/unlearning/fila.json (seeded inputs and outputs) for Tests/UnlearningTests/FILATests.swift.
    source ~/.cache/auditor-ref/env && $AUDITOR_REF_PY scripts/fila_reference.py
"""
import json, os
import numpy as np

rng = np.random.default_rng(11)
cases = []
for out_dim, in_dim, rank, scaling in [(6, 9, 2, 2.0), (9, 5, 3, 0.5)]:
    W = rng.normal(size=(out_dim, in_dim))
    I_f = rng.uniform(0.0, 2.0, size=(out_dim, in_dim)) ** 2
    I_r = rng.uniform(0.0, 1.0, size=(out_dim, in_dim)) ** 2
    r = np.sqrt((I_f / (1e-5 + I_r)).sum(axis=1))
    U, S, Vt = np.linalg.svd(r[:, None] * W, full_matrices=False)
    U, S, V = U[:, :rank], S[:rank], Vt[:rank].T
    root = np.sqrt(S / scaling)
    A = (V * root).T
    B = (1.0 / (r + 1e-5))[:, None] * (U * root)
    cases.append({"outputs": out_dim, "inputs": in_dim, "rank": rank, "scaling": scaling,
                  "W": W.ravel().tolist(), "forget": I_f.ravel().tolist(), "retain": I_r.ravel().tolist(),
                  "rows": r.tolist(), "BA": (B @ A).ravel().tolist(), "residual": (W - scaling * B @ A).ravel().tolist(),
                  "singular": S.tolist()})
path = os.path.join(os.path.dirname(__file__), "..", "Fixtures", "unlearning", "fila.json")
with open(path, "w") as f:
    json.dump({"source": "scripts/fila_reference.py (numpy %s)" % np.__version__, "cases": cases}, f, indent=1)
print("wrote", os.path.normpath(path))
