#!/usr/bin/env bash
# The test suite: set up (apt packages, cached SmolLM2 for the exactness tests), then swift test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift test --disable-swift-testing "$@"   # the suite is XCTest; this keeps the closing line XCTest's
