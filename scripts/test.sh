#!/usr/bin/env bash
# The test suite: set up (apt packages, cached SmolLM2 for the exactness tests), start a real vLLM server on loopback
# for the remote backend's tests (scripts/vllm-server.sh; venv and converted model cached), then swift test. The
# server is stopped on the way out, whatever happened. If it cannot start, AUDITOR_VLLM_URL stays unset: the remote
# tests then skip with the reason locally and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
started=""
stop_server() { if [ -n "$started" ]; then scripts/vllm-server.sh stop || true; fi; }
trap stop_server EXIT
if [ "${AUDITOR_SKIP_VLLM:-}" != 1 ]; then
  started=1
  if url=$(scripts/vllm-server.sh start); then
    export AUDITOR_VLLM_URL="$url"
    AUDITOR_VLLM_PID=$(cat "${AUDITOR_CACHE:-$HOME/.cache/auditor}/vllm-server.pid"); export AUDITOR_VLLM_PID
  else
    echo "test.sh: the vLLM server did not start; the remote tests will say so" >&2
  fi
fi
# Fuzz smoke run (scripts/fuzz.sh): every libFuzzer target for AUDITOR_FUZZ_SECONDS (default 10) on its instrumented
# build; a crash, leak or hang fails CI. Only for the whole suite (no arguments); AUDITOR_SKIP_FUZZ=1 skips it. It runs
# first and its status is returned after the tests, so that a fuzz failure does not hide the suite's results.
fuzz=0
if [ $# -eq 0 ] && [ "${AUDITOR_SKIP_FUZZ:-}" != 1 ]; then
  scripts/fuzz.sh all "${AUDITOR_FUZZ_SECONDS:-10}" >&2 || fuzz=$?
fi
swift test --disable-swift-testing "$@"   # the suite is XCTest; this keeps the closing line XCTest's
if [ "$fuzz" != 0 ]; then echo "test.sh: the fuzz smoke run failed (scripts/fuzz.sh, above)" >&2; exit "$fuzz"; fi
