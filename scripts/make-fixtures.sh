#!/usr/bin/env bash
# Regenerates every reference fixture under Fixtures/ from independent Python implementations
# (tokenizers, gguf-py, transformers/torch). CI never runs this: it only reads the committed outputs.
# Needs the reference environment: /work/shared/tools/reference-env.sh (or an equivalent ~/.cache/auditor-ref/env
# providing $AUDITOR_REF_PY, $AUDITOR_REF_GGUF, $AUDITOR_REF_HF). See scripts/fixtures/README.md.
#   usage: scripts/make-fixtures.sh [tokenizer|gguf|tiny|smollm2|mia|metrics|extraction|traps_ghost|dataset_inference|convert|training|smollm2_training|peft|opacus|dp]...
#   (default: all, in this order)
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_FILE=${AUDITOR_REF_ENV:-$HOME/.cache/auditor-ref/env}
[ -f "$ENV_FILE" ] || { echo "missing $ENV_FILE: run reference-env.sh first" >&2; exit 1; }
# shellcheck disable=SC1090
source "$ENV_FILE"
export PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(tokenizer gguf tiny smollm2 mia metrics extraction traps_ghost dataset_inference convert training smollm2_training peft opacus dp)
for s in "${steps[@]}"; do
  case "$s" in
    tokenizer) script=tokenizer_fixtures.py ;;   # must run before tiny and smollm2 (they read its tokenizers)
    gguf) script=gguf_quant_fixtures.py ;;
    tiny) script=tiny_models.py ;;
    smollm2) script=smollm2_fixtures.py ;;
    metrics) script=metrics_fixtures.py ;;       # scikit-learn and scipy only
    mia) script=mia_fixtures.py ;;              # reads the smollm2 tokenizer
    extraction) script=extraction_fixtures.py ;; # p_z under transformers' sampling processors, SmolLM2 GGUF
    traps_ghost) script=traps_ghost_fixtures.py ;;   # trap scores and ghost statistics, SmolLM2 HF copy + tiny llama
    dataset_inference) script=dataset_inference_fixtures.py ;;   # scipy Welch t-tests
    convert) script=convert_fixtures.py ;;      # runs `auditor convert` ($AUDITOR_BIN or .build*/*/auditor); needs reference-env.sh --llama
    training) script=training_fixtures.py ;;     # full fine-tuning of the tiny models, torch AdamW
    smollm2_training) script=smollm2_training_fixtures.py ;;   # SmolLM2 gradients and 20 LoRA steps (PEFT)
    peft) script=peft_fixtures.py ;;             # LoRA adapters both ways (run the Swift tests first for ours)
    opacus) script=opacus_fixtures.py ;;         # per-sample gradient norms of the tiny models (Opacus GradSampleModule)
    dp) script=dp_accounting_fixtures.py ;;      # dp_accounting epsilons and noise calibrations -> Tests/PrivacyTests/Fixtures
    *) echo "unknown step $s" >&2; exit 2 ;;
  esac
  echo "== $script"
  "$AUDITOR_REF_PY" "scripts/fixtures/$script"
done
"$AUDITOR_REF_PY" - <<'PY'
import torch, transformers, tokenizers, safetensors, numpy, importlib.metadata as m
print(f"versions: torch {torch.__version__}, transformers {transformers.__version__}, tokenizers "
      f"{tokenizers.__version__}, gguf {m.version('gguf')}, safetensors {safetensors.__version__}, numpy {numpy.__version__}")
PY
echo "== sizes"
find Fixtures -type f ! -name .gitignore -printf '%10s  %p\n' | sort -k2
du -sb Fixtures | awk '{printf "total: %.2f MB\n", $1 / 1e6}'
