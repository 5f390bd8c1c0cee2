#!/usr/bin/env bash
# The main job on the default configuration: set up (apt packages, cached SmolLM2), build in release, and score
# the sample texts with SmolLM2-135M-Instruct. Output: JSON Lines on stdout (one object per text).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product auditor >&2
.build/release/auditor score --input audits/samples/texts.jsonl "$@"
