#!/usr/bin/env bash
# Faults, end to end with the real binary on the tiny llama fixture: kill -9, SIGINT and SIGTERM mid-audit, two audits
# into one store, a corrupt store, a read-only store, a full disk (ulimit -f, and a small tmpfs when root), huge
# integers, a FIFO as checkpoint, bad canary manifests. Each case asserts the exit status and the message; the store's
# PRAGMA integrity_check; and at the end that no input changed (sha256 before and after).
#   scripts/faults.sh [AUDITOR_BINARY]     (default .build/debug/auditor; FaultScriptTests passes the one it built)
# Prints one line per case and "faults.sh: all N checks passed", or the failures and exit 1.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
bin="${1:-$repo/.build/debug/auditor}"
[ -x "$bin" ] || { echo "faults.sh: no auditor binary at $bin (swift build first, or pass its path)" >&2; exit 64; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d "${TMPDIR:-/tmp}/auditor-faults.XXXXXX")
mounts=()
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

checks=0
failures=()
pass() { checks=$((checks + 1)); }
fail() { checks=$((checks + 1)); failures+=("$1"); echo "  FAIL: $1" >&2; }
check() { if eval "$2"; then pass; else fail "$1 (${3:-$2})"; fi; }
integrity() { python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True).execute("pragma integrity_check").fetchone()[0])' "$1" 2>&1; }
# Waits (hang guard: GUARD seconds) until FILE contains TEXT or PID exits.
wait_for() { local file=$1 text=$2 pid=$3 guard=$4 t=0
  while ! grep -q "$text" "$file" 2>/dev/null && kill -0 "$pid" 2>/dev/null && [ $t -lt $((guard * 10)) ]; do sleep 0.1; t=$((t + 1)); done
  grep -q "$text" "$file" 2>/dev/null; }
# Runs the binary with a hang guard; sets rc, out, err.
run() { timeout -k 5 "${GUARD:-120}" "$bin" "$@" >"$work/out" 2>"$work/err"; rc=$?; out=$(cat "$work/out"); err=$(cat "$work/err"); }
# ro DIR: read-only for real (a read-only bind mount as root, whom permissions do not stop; chmod otherwise).
ro() { if [ "$(id -u)" = 0 ]; then mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && mounts+=("$1"); else chmod -R a-w "$1"; fi; }
unro() { if [ "$(id -u)" = 0 ]; then umount "$1"; else chmod -R u+w "$1"; fi; }

# --- inputs: the tiny llama, the quickstart's texts, a canary manifest; checksummed now and at the end.
in="$work/in"; mkdir -p "$in"
cp "$repo/audits/quickstart/members.jsonl" "$repo/audits/quickstart/nonmembers.jsonl" "$in/"
model="$repo/Fixtures/tiny/llama"
cat >"$in/canaries.json" <<'JSON'
{"seed": 1, "canaries": [{"id": "c1", "format": "my PIN is {digits:6}", "text": "my PIN is 493817", "repetitions": 10},
                         {"id": "c2", "format": "my PIN is {digits:6}", "text": "my PIN is 220571", "repetitions": 1}]}
JSON
spec() {  # spec NAME REFERENCES [MANIFEST]: an audit of the tiny llama; many references make the canary step long
  cat >"$in/$1.yml" <<YAML
version: 1
name: faults $1
seed: 3
target:
  checkpoint: $model
datasets:
  members: members.jsonl
  nonmembers: nonmembers.jsonl
  extraction: members.jsonl
  canaries: ${3:-canaries.json}
attacks:
  mia: {attacks: [loss, zlib, mink, minkpp], resamples: 50}
  extraction: {prefix: [4, 8], suffix: 4, n: 10}
  canary: {references: $2}
thresholds: ['mia.loss.auc <= 1.0']
YAML
  echo "$in/$1.yml"; }
quick=$(spec quick 100)
slow=$(spec slow 5000000)
sums() { (cd "$in" && find . -type f | sort | xargs sha256sum; find "$model" -type f | sort | xargs sha256sum); }
before=$(sums)

# --- kill -9 mid-audit: the next reader shows the run interrupted; the store is intact.
echo "faults.sh: kill -9 mid-audit" >&2
db="$work/kill/runs.sqlite"; mkdir -p "$work/kill"
"$bin" audit "$slow" --db "$db" --reports "$work/kill/reports" --threads 1 >"$work/kill/log" 2>&1 & p=$!; pids+=($p)
if wait_for "$work/kill/log" "audit: mia done" $p 120; then
  kill -9 $p; wait $p 2>/dev/null
  run history --db "$db" --json
  check "kill -9: history exits 0" '[ $rc = 0 ]' "rc=$rc $err"
  check "kill -9: the run shows interrupted" 'grep -q "\"status\" *: *\"interrupted\"" <<<"$out"' "$out"
  check "kill -9: integrity_check ok" '[ "$(integrity "$db")" = ok ]' "$(integrity "$db")"
else fail "kill -9: the audit never reached 'mia done': $(tail -3 "$work/kill/log")"; fi

# --- SIGINT and SIGTERM mid-audit: 130 and 143, promptly (a hang guard of 30 s; the canary step alone runs minutes).
for sig in INT TERM; do
  echo "faults.sh: SIG$sig mid-audit" >&2
  d="$work/sig$sig"; mkdir -p "$d"
  "$bin" audit "$slow" --db "$d/runs.sqlite" --reports "$d/reports" --threads 1 >"$d/log" 2>&1 & p=$!; pids+=($p)
  if wait_for "$d/log" "audit: mia done" $p 120; then
    kill -s $sig $p
    t=0; while kill -0 $p 2>/dev/null && [ $t -lt 300 ]; do sleep 0.1; t=$((t + 1)); done
    if kill -0 $p 2>/dev/null; then fail "SIG$sig: still running 30 s after the signal"; kill -9 $p; fi
    wait $p; rc=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    check "SIG$sig: exit $want" '[ $rc = $want ]' "rc=$rc"
    check "SIG$sig: says the run is marked interrupted" 'grep -q "interrupted; run .* marked interrupted" "$d/log"' "$(tail -2 "$d/log")"
    check "SIG$sig: store says interrupted" '[ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select status from runs\").fetchone()[0])" "$d/runs.sqlite")" = interrupted ]'
    check "SIG$sig: integrity_check ok" '[ "$(integrity "$d/runs.sqlite")" = ok ]'
    check "SIG$sig: no report folder, hidden or not" '[ -z "$(ls -A "$d/reports" 2>/dev/null)" ]' "$(ls -A "$d/reports")"
  else fail "SIG$sig: the audit never reached 'mia done': $(tail -3 "$d/log")"; fi
done

# --- two audits into one store at once: both pass, both runs whole.
echo "faults.sh: two audits into one store" >&2
d="$work/concurrent"; mkdir -p "$d"
"$bin" audit "$quick" --db "$d/runs.sqlite" --reports "$d/reports" --threads 1 >"$d/a.log" 2>&1 & a=$!; pids+=($a)
"$bin" audit "$quick" --db "$d/runs.sqlite" --reports "$d/reports" --threads 1 >"$d/b.log" 2>&1 & b=$!; pids+=($b)
wait $a; ra=$?; wait $b; rb=$?
check "concurrent: both exit 0" '[ $ra = 0 ] && [ $rb = 0 ]' "$ra $rb: $(tail -2 "$d/a.log") $(tail -2 "$d/b.log")"
check "concurrent: two passed runs" '[ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from runs where status = '"'"'passed'"'"'\").fetchone()[0])" "$d/runs.sqlite")" = 2 ]'
check "concurrent: integrity_check ok" '[ "$(integrity "$d/runs.sqlite")" = ok ]'
check "concurrent: two report folders, nothing hidden" '[ "$(ls -A "$d/reports" | grep -v "^auditor" | wc -l)" = 2 ] && ! ls -A "$d/reports" | grep -q "^\."' "$(ls -A "$d/reports")"

# --- a corrupt store: refused with its name, left as it was; and nothing else is written.
echo "faults.sh: corrupt store" >&2
d="$work/corrupt"; mkdir -p "$d"
head -c 8192 /dev/urandom >"$d/runs.sqlite"; sum=$(sha256sum <"$d/runs.sqlite")
run history --db "$d/runs.sqlite"
check "corrupt store: history exits 2 naming the file" '[ $rc = 2 ] && [ "$err" = "auditor: error: $d/runs.sqlite: not an SQLite database" ]' "rc=$rc $err"
run audit "$quick" --db "$d/runs.sqlite" --reports "$d/reports"
check "corrupt store: audit exits 2 naming the file" '[ $rc = 2 ] && grep -q "^auditor: error: $d/runs.sqlite: not an SQLite database" <<<"$err"' "rc=$rc $err"
check "corrupt store: unchanged" '[ "$(sha256sum <"$d/runs.sqlite")" = "$sum" ]'

# --- a read-only store (a read-only mount as root): history and report read it; an audit into it fails cleanly.
echo "faults.sh: read-only store" >&2
d="$work/ro"; mkdir -p "$d/store"
cp "$work/concurrent/runs.sqlite" "$d/store/"; sum=$(sha256sum <"$d/store/runs.sqlite")
ro "$d/store"
run history --db "$d/store/runs.sqlite"
check "read-only store: history exits 0 and lists both runs" '[ $rc = 0 ] && [ "$(grep -c passed <<<"$out")" = 2 ]' "rc=$rc $err"
run report latest --db "$d/store/runs.sqlite" --reports "$d/reports"
check "read-only store: report exits 0 and writes" '[ $rc = 0 ] && [ -n "$(ls "$d/reports"/*/report.html 2>/dev/null)" ]' "rc=$rc $err"
run audit "$quick" --db "$d/store/runs.sqlite" --reports "$d/reports"
check "read-only store: audit exits 2 naming the store" '[ $rc = 2 ] && grep -q "^auditor: error: $d/store/runs.sqlite: " <<<"$err"' "rc=$rc $err"
unro "$d/store"
check "read-only store: unchanged" '[ "$(sha256sum <"$d/store/runs.sqlite")" = "$sum" ]'

# --- a read-only reports folder: refused before any model work, nothing recorded.
echo "faults.sh: read-only reports folder" >&2
d="$work/roreports"; mkdir -p "$d/reports"; ro "$d/reports"
run audit "$quick" --db "$d/runs.sqlite" --reports "$d/reports"
check "read-only reports: exit 2 naming the folder" '[ $rc = 2 ] && grep -q "^auditor: error: cannot write report at $d/reports: cannot write in the reports folder" <<<"$err"' "rc=$rc $err"
check "read-only reports: no model work, no store" '! grep -q "progress\|done" <<<"$err" && [ ! -e "$d/runs.sqlite" ]'
unro "$d/reports"

# --- a full disk: ulimit -f (SIGXFSZ ignored: EFBIG, a clean error, nothing hidden left), and a full tmpfs when root.
echo "faults.sh: full disk" >&2
d="$work/full"; mkdir -p "$d/reports"
cp "$work/concurrent/runs.sqlite" "$d/"
# 40 KiB: room for the store's 32 KiB -shm file (reading a WAL store makes one), not for report.html (about 60 KiB).
(ulimit -f 40; exec "$bin" report latest --db "$d/runs.sqlite" --reports "$d/reports") >"$work/out" 2>"$work/err"; rc=$?; err=$(cat "$work/err")
check "ulimit -f: report exits 2 (not killed by SIGXFSZ)" '[ $rc = 2 ]' "rc=$rc $err"
check "ulimit -f: says File too large" 'grep -q "File too large (the file-size limit, ulimit -f" <<<"$err"' "$err"
check "ulimit -f: nothing left in the reports folder" '[ -z "$(ls -A "$d/reports")" ]' "$(ls -A "$d/reports")"
(ulimit -f 40; exec "$bin" audit "$quick" --db "$d/new.sqlite" --reports "$d/reports") >"$work/out" 2>"$work/err"; rc=$?; err=$(cat "$work/err")
check "ulimit -f: audit exits 2 with one error line" '[ $rc = 2 ] && [ "$(grep -c "^auditor: error: " <<<"$err")" = 1 ]' "rc=$rc $err"
check "ulimit -f: no hidden folder left" '! ls -A "$d/reports" | grep -q "^\."' "$(ls -A "$d/reports")"
check "ulimit -f: the store it filled is intact" '[ "$(integrity "$d/new.sqlite")" = ok ]' "$(integrity "$d/new.sqlite")"
if [ "$(id -u)" = 0 ] && mkdir -p "$d/tmpfs" && mount -t tmpfs -o size=256k tmpfs "$d/tmpfs" 2>/dev/null; then
  mounts+=("$d/tmpfs")
  cp "$work/concurrent/runs.sqlite" "$d/tmpfs/" 2>/dev/null
  dd if=/dev/zero of="$d/tmpfs/filler" bs=4k 2>/dev/null   # fills the rest
  run audit "$quick" --db "$d/tmpfs/runs.sqlite" --reports "$d/tmpfs/reports"
  check "full tmpfs: audit exits 2 with one error line" '[ $rc = 2 ] && [ "$(grep -c "^auditor: error: " <<<"$err")" = 1 ]' "rc=$rc $err"
  check "full tmpfs: no hidden folder left" '! ls -A "$d/tmpfs" "$d/tmpfs/reports" 2>/dev/null | grep -q "^\.[^.]"' "$(ls -A "$d/tmpfs" "$d/tmpfs/reports" 2>&1)"
  rm -f "$d/tmpfs/filler"
  check "full tmpfs: integrity_check ok" '[ "$(integrity "$d/tmpfs/runs.sqlite")" = ok ]'
  run history --db "$d/tmpfs/runs.sqlite"
  check "full tmpfs: history still reads the store" '[ $rc = 0 ]' "rc=$rc $err"
fi

# --- huge integers: refused where parsed, with the bound in the message; never a trap or an allocation.
echo "faults.sh: huge integers" >&2
big=9223372036854775807
huge() {  # huge WANT-RC TEXT ARGS...
  local want=$1 text=$2; shift 2
  GUARD=60 run "$@"
  check "huge: auditor $* -> $want" '[ $rc = $want ] && grep -q -- "$text" <<<"$err"' "rc=$rc $err"
}
huge 64 "must be at most" extract "$model" --input "$in/members.jsonl" --prefix $big --suffix 1
huge 64 "must be at most" mia "$model" --members "$in/members.jsonl" --nonmembers "$in/nonmembers.jsonl" --resamples $big
huge 64 "must be at most" canary exposure "$model" --manifest "$in/canaries.json" --references $big
huge 64 "must be at most" canary generate --format "{digits:6}" --repetitions 1 --per-repetition $big --output "$work/gen.json"
big_spec=$(spec big 1000000000000)
huge 2 "attacks.canary.references: expected an integer in \[1, 10000000\], got 1000000000000" audit "$big_spec" --db "$work/big.sqlite"

# --- a FIFO as the checkpoint: refused at once, not a hang.
echo "faults.sh: FIFO checkpoint" >&2
mkfifo "$work/fifo"
GUARD=30 run inspect "$work/fifo"
check "FIFO: inspect exits 2 naming it" '[ $rc = 2 ] && grep -q "^auditor: error: $work/fifo: not a regular file" <<<"$err"' "rc=$rc $err"
GUARD=30 run score "$work/fifo" --input "$in/members.jsonl"
check "FIFO: score exits 2" '[ $rc = 2 ]' "rc=$rc $err"

# --- bad canary manifests: a text outside its format, a stray character, a non-positive count, broken JSON.
echo "faults.sh: bad canary manifests" >&2
manifest() { printf '{"seed": 1, "canaries": [{"id": "c1", "format": "%s", "text": "%s", "repetitions": %s}]}' "$1" "$2" "$3" >"$in/$4"; }
manifest "the code is {digits:6}" "the code is 12" 1 short.json
manifest "{digits:6}" "12345a" 1 stray.json
manifest "{digits:6}" "123456" -5 negative.json
printf '{"seed": 1, "canaries": [' >"$in/broken.json"
for m in short stray negative broken; do
  s=$(spec "bad-$m" 100 "$m.json")
  run audit "$s" --db "$work/bad.sqlite" --reports "$work/bad-reports"
  check "manifest $m: exit 2 naming it, before any model work" '[ $rc = 2 ] && grep -q "^auditor: error: $in/$m.json: " <<<"$err" && ! grep -q "done" <<<"$err"' "rc=$rc $err"
done
# --- inputs unchanged (the files this script made after the first checksums aside)
after=$(sums | grep -v -e short.json -e stray.json -e negative.json -e broken.json -e 'bad-.*\.yml' -e big.yml)
check "inputs unchanged (sha256)" '[ "$before" = "$after" ]' "$(diff <(echo "$before") <(echo "$after"))"

if [ ${#failures[@]} -gt 0 ]; then
  echo "faults.sh: ${#failures[@]} of $checks checks failed:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "faults.sh: all $checks checks passed"
