#!/usr/bin/env bash
# The README's measured effect of fine-tuning on memorisation: canaries inserted 1, 10 and 100 times into a small
# text set, SmolLM2 fine-tuned with LoRA on it, and each canary's exposure before and after (exact: every one of the
# 10,000 candidates of the format is ranked). Needs a release build (scripts/quickstart.sh makes one).
#   usage: scripts/canary-finetune.sh [WORK_DIR]        env: AUDITOR_BIN (default .build/release/auditor)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${AUDITOR_BIN:-.build/release/auditor}
W=${1:-/tmp/auditor-canary-finetune}
rm -rf "$W"; mkdir -p "$W"
cat audits/quickstart/members.jsonl audits/quickstart/nonmembers.jsonl > "$W/base.jsonl"
"$BIN" canary generate --format "my PIN is {digits:4}" --repetitions 1,10,100 --per-repetition 2 --seed 1 -o "$W/canaries.json"
"$BIN" canary insert --manifest "$W/canaries.json" --dataset "$W/base.jsonl" -o "$W/train.jsonl" --seed 2
"$BIN" canary exposure --manifest "$W/train.jsonl.manifest.json" --dataset "$W/train.jsonl" > "$W/before.json"
"$BIN" finetune --data "$W/train.jsonl" --method lora --rank 8 --alpha 16 --targets q,v --lr 1e-3 --steps 64 --batch-size 8 \
  --seed 3 --out "$W/model" --db "$W/runs.sqlite"
"$BIN" canary exposure "$W/model" --manifest "$W/train.jsonl.manifest.json" --dataset "$W/train.jsonl" > "$W/after.json"
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
def rows(f):
    d = json.load(open(f"{w}/{f}"))
    return d["canaries"] if isinstance(d, dict) and "canaries" in d else d
before, after = rows("before.json"), rows("after.json")
print("repetitions  exposure before  exposure after  (bits, of a possible %.1f)" % before[0].get("max_exposure", 13.3))
def value(e):   # {"value": e, "ci95": [lower, upper]}, the one interval shape
    return e["value"] if isinstance(e, dict) else e
for b, a in zip(before, after):
    print("%11d  %15.1f  %14.1f" % (b["repetitions"], value(b["exposure"]), value(a["exposure"])))
PY
