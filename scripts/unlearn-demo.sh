#!/usr/bin/env bash
# The unlearning demonstration on SmolLM2-135M-Instruct (README "Unlearning"): LoRA-fine-tune it on synthetic
# personal records until their account numbers are extractable, then unlearn the forget split with each method and
# measure the direct leak rate (scripts/leak_rate.py), retain / held-out perplexity and time.
#   AUDITOR=.build/debug/auditor W=/tmp/unlearn-demo scripts/unlearn-demo.sh
set -euo pipefail
A=${AUDITOR:-.build/debug/auditor}
SMOL=${SMOL:-$HOME/.cache/auditor/models/SmolLM2-135M-Instruct-f32-hf}
W=${W:-/tmp/unlearn-demo}
R=audits/records
mkdir -p "$W"
# A small split, so that the whole demonstration fits in under an hour on 2 cores: 20 forget, 40 retain, 20 held-out.
head -20 $R/forget.jsonl > "$W/forget.jsonl"; head -40 $R/retain.jsonl > "$W/retain.jsonl"; head -20 $R/holdout.jsonl > "$W/holdout.jsonl"
cat "$W/forget.jsonl" "$W/retain.jsonl" > "$W/train.jsonl"
[ -e "$W/ft/model.safetensors" ] || "$A" finetune "$SMOL" --data "$W/train.jsonl" --method lora --rank 16 --alpha 32 --targets all-linear \
    --steps 120 --batch-size 8 --lr 2e-3 --schedule cosine --warmup 10 --out "$W/ft" --db "$W/runs.sqlite"
echo "fine-tuned, forget: $(python3 scripts/leak_rate.py "$A" "$W/ft" "$W/forget.jsonl")"
echo "fine-tuned, held-out: $(python3 scripts/leak_rate.py "$A" "$W/ft" "$W/holdout.jsonl")"
common=(--forget "$W/forget.jsonl" --retain "$W/retain.jsonl" --holdout "$W/holdout.jsonl" --db "$W/runs.sqlite" --no-audit)
for m in ${METHODS:-npo graddiff ga+kl kfac ssd simnpo ihl ga}; do
    rm -rf "$W/$m"
    case $m in
        kfac) extra=(--rho "${RHO:-0.8}") ;;
        ssd) extra=() ;;
        *) extra=(--steps "${STEPS:-16}" --lr "${LR:-1e-5}" --batch-size 4 --eval-every "${EVAL_EVERY:-2}") ;;
    esac
    "$A" unlearn "$W/ft" "${common[@]}" --method "$m" "${extra[@]}" --out "$W/$m" > "$W/$m.log" 2> "$W/$m.err"
    cat "$W/$m.log"
    echo "$m, forget: $(python3 scripts/leak_rate.py "$A" "$W/$m" "$W/forget.jsonl")"
done
