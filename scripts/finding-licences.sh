#!/usr/bin/env bash
# The README's SmolLM2 finding: well-known licence texts (from /usr/share/common-licenses, certainly on the web and
# so likely in the training data) against freshly written licence-style texts (audits/samples/licence-style-fresh.jsonl,
# written for this project, in no training set). Member chunks are cut to the fresh texts' word counts so that length
# alone cannot separate the sets. Writes reports/finding/{members.jsonl,mia.json,extract.json}.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product auditor >&2
out=reports/finding; mkdir -p "$out"
python3 - "$out/members.jsonl" "$out/extract-samples.jsonl" <<'PY'
import json, re, sys
fresh = [json.loads(l) for l in open('audits/samples/licence-style-fresh.jsonl')]
lengths = [len(f['text'].split()) for f in fresh]
words = []
for name in ['GPL-3', 'Apache-2.0', 'MPL-2.0', 'LGPL-2.1', 'GPL-2', 'Artistic', 'GFDL-1.3', 'LGPL-3']:
    t = re.sub(r'\s+', ' ', open('/usr/share/common-licenses/' + name).read()).strip()
    words.append((name, t.split(' ')))
with open(sys.argv[1], 'w') as out:
    for i, n in enumerate(lengths):
        name, w = words[i % len(words)]
        start = 300 + 400 * (i // len(words))          # past the title block, distinct chunks per licence
        out.write(json.dumps({'id': f'{name}-{start}', 'text': ' '.join(w[start:start + n])}) + '\n')
with open(sys.argv[2], 'w') as out:                     # 5 chunks of 120 words per licence for extraction
    for name, w in words:
        for j in range(5):
            start = 200 + 500 * j
            if start + 120 <= len(w):
                out.write(json.dumps({'id': f'{name}-{start}', 'text': ' '.join(w[start:start + 120])}) + '\n')
PY
A=.build/release/auditor
$A mia --members "$out/members.jsonl" --nonmembers audits/samples/licence-style-fresh.jsonl --k 0.2 \
   --per-text "$out/mia-per-text.jsonl" > "$out/mia.json"
# Extraction (Carlini et al.'s setting): 50-token prefix, 50-token suffix, p_z under temperature 1, top-k 40.
$A extract --input "$out/extract-samples.jsonl" --prefix 50 --suffix 50 > "$out/extract.json"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(d + '/mia.json'))
print(f"members {m['members']}, non-members {m['nonmembers']}")
for a in m['attacks']:
    auc, t = a['auc'], a['tpr_at_fpr_1pct']
    print(f"  {a['attack']:<22} AUC {auc['value']:.3f} [{auc['ci95'][0]:.3f}, {auc['ci95'][1]:.3f}]   TPR@1%FPR {t['value']:.3f} [{t['ci95'][0]:.3f}, {t['ci95'][1]:.3f}]")
b = m['blind_baseline']
print(f"  blind baseline ({b['feature']}): AUC {b['auc']['value']:.3f} [{b['auc']['ci95'][0]:.3f}, {b['auc']['ci95'][1]:.3f}]" + ("  WARNING: " + m['warning'] if 'warning' in m else ''))
e = json.load(open(d + '/extract.json'))['summary']
for k in ['exact', 'approximate', 'np_discoverable']:
    print(f"  extraction {k:<16} {e[k]['count']}/{e['samples']} = {e[k]['rate']:.3f} [{e[k]['ci95'][0]:.3f}, {e[k]['ci95'][1]:.3f}]")
print(f"  mean exact memorisation {e['mean_exact_memorization']:.3f}, mean extraction strength {e['mean_extraction_strength']:.3f}")
PY
