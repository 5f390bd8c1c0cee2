#!/usr/bin/env bash
# Opens a report.html in headless Chromium (Debian package `chromium`, installed by scripts/setup.sh; CI runs it in
# Tests/CLITests/HTMLOfflineCheckTests.swift) with a network log and
# fails if the page makes any request that an empty page does not (Chromium's own update/account traffic is the
# baseline). A positive control page with an external <img> and stylesheet must show up, or the check itself is
# broken. Usage: scripts/check-html-offline.sh reports/<run-id>/report.html [more.html ...]
set -euo pipefail
command -v chromium >/dev/null || { echo "check-html-offline: needs chromium (apt-get install chromium)" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
hosts() {   # scheme://host of every URL in the net log of rendering $1
    rm -f "$tmp/nl.json"
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --disable-default-apps --disable-extensions \
        --log-net-log="$tmp/nl.json" --net-log-capture-mode=Everything --dump-dom "file://$(realpath "$1")" >/dev/null 2>&1 || true
    python3 - "$tmp/nl.json" <<'PY'
import json, sys, urllib.parse
d = json.load(open(sys.argv[1]))
seen = set()
for e in d["events"]:
    for k in ("url", "original_url"):
        v = e.get("params", {}).get(k)
        if v:
            u = urllib.parse.urlparse(str(v))
            if u.scheme not in ("file", "data"):
                seen.add(u.scheme + "://" + (u.hostname or ""))
print("\n".join(sorted(seen)))
PY
}
echo '<!DOCTYPE html><html><body>empty</body></html>' > "$tmp/empty.html"
echo '<!DOCTYPE html><html><body><img src="http://leak.example.invalid/x.png"><link rel="stylesheet" href="https://fonts.example.invalid/a.css"></body></html>' > "$tmp/leaky.html"
hosts "$tmp/empty.html" > "$tmp/baseline"
control=$(hosts "$tmp/leaky.html")     # captured first: `| grep -q` would close the pipe on python mid-print
if ! grep -q "leak.example.invalid" <<< "$control"; then
    echo "check-html-offline: the control page's request was not seen; the check cannot be trusted" >&2; exit 2
fi
status=0
for f in "$@"; do
    extra=$(hosts "$f" | comm -23 - "$tmp/baseline")
    if [ -n "$extra" ]; then echo "FAIL $f requests: $extra"; status=1; else echo "ok   $f: no request beyond an empty page's"; fi
done
exit $status
