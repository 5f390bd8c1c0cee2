#!/usr/bin/env bash
# Fuzzing with libFuzzer: builds the package in Fuzz/ (the readers, instrumented with -sanitize=fuzzer,address) and runs
# one target or all of them for SECONDS each (default 60). Targets: gguf safetensors tokenizer jsonl spec canary.
#   scripts/fuzz.sh [TARGET|all] [SECONDS]
# The corpus grows in Fuzz/corpus/TARGET (kept between runs, not committed); seeds are made from the fixtures by
# Fuzz/make-seeds.py on every run. A crash, leak, timeout (> 10 s for one input) or out-of-memory (> 2 GB) stops the
# target, leaves the input in Fuzz/artifacts/TARGET/ and makes this script exit 1 after the remaining targets ran.
# Each target's last libFuzzer status line (execs, cov, ft, corpus) is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
all=(gguf safetensors tokenizer jsonl spec canary)
which="${1:-all}"
seconds="${2:-60}"
if [ "$which" = all ]; then targets=("${all[@]}"); else targets=("$which"); fi
for t in "${targets[@]}"; do
  case " ${all[*]} " in *" $t "*) ;; *) echo "fuzz.sh: unknown target '$t' (expected one of: ${all[*]}, all)" >&2; exit 64 ;; esac
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2; exit 64 ;; esac

# The instrumented build is separate from the normal one (its own package and build folder). It is made from a mirror
# of the sources at a fixed place in the cache, so that a fresh clone (CI) rebuilds only the files that changed since the
# last run instead of the whole instrumented dependency graph (about 6 minutes on 2 cores): a file is copied into the
# mirror only when its content differs, which keeps the other files' times and so SwiftPM's incremental build.
mirror="${AUDITOR_CACHE:-$HOME/.cache/auditor}/fuzz"
python3 - "$PWD" "$mirror/src" <<'PY'
import filecmp, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
keep = set()
for top in ["Package.swift", "Sources", "Tests", "Fuzz/Package.swift", "Fuzz/Sources"]:
    p = os.path.join(src, top)
    files = [p] if os.path.isfile(p) else [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs]
    for f in files:
        rel = os.path.relpath(f, src); keep.add(rel); out = os.path.join(dst, rel)
        if not (os.path.exists(out) and filecmp.cmp(f, out, shallow=False)):
            os.makedirs(os.path.dirname(out), exist_ok=True); shutil.copyfile(f, out)
for d, _, fs in os.walk(dst):
    for f in fs:
        rel = os.path.relpath(os.path.join(d, f), dst)
        if rel.split(os.sep)[0] in ("Package.swift", "Sources", "Tests", "Fuzz") and not rel.startswith(os.path.join("Fuzz", ".build")) and rel not in keep:
            os.remove(os.path.join(d, f))
PY
swift build --package-path "$mirror/src/Fuzz" --scratch-path "$mirror/build" \
  -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -v 'ld.gold: warning: Cannot export local symbol' >&2
bin=$(swift build --package-path "$mirror/src/Fuzz" --scratch-path "$mirror/build" -Xswiftc -sanitize=fuzzer,address --show-bin-path)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/auditor-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
python3 Fuzz/make-seeds.py . "$scratch/seeds"
export FUZZ_TMP="$scratch/tmp" FUZZ_REPO="$PWD"
mkdir -p "$FUZZ_TMP"

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "Fuzz/corpus/$t" "Fuzz/artifacts/$t"
  log="$scratch/$t.log"
  echo "fuzz.sh: $t for ${seconds}s" >&2
  # Leak checking on (libFuzzer's default with ASan) less one toolchain leak (Fuzz/lsan.supp); one input may take 10 s
  # and 2 GB at most.
  if LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0" "$bin/fuzz-$t" "Fuzz/corpus/$t" "$scratch/seeds/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -malloc_limit_mb=2048 -artifact_prefix="Fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED; failed+=("$t")
    grep -E 'ERROR|SUMMARY|Fatal|fatal|==[0-9]+==|Test unit written' "$log" | head -20 >&2 || true
  fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  summary+=("$t: $status, ${execs:-?} execs, corpus $(ls "Fuzz/corpus/$t" | wc -l) files; $last")
  cp "$log" "Fuzz/artifacts/$t/last-run.log"
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then echo "fuzz.sh: failed: ${failed[*]} (inputs in Fuzz/artifacts/)" >&2; exit 1; fi
