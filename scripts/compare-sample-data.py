#!/usr/bin/env python3
# Synthetic customer-service notes for `auditor compare`'s sample (audits/compare): each record names a person with
# an e-mail address and a phone number, marked in "sensitive". Seeded: the same files every time.
#   usage: scripts/compare-sample-data.py [OUT_DIR]   (default audits/compare; writes train.jsonl and heldout.jsonl)
import json, random, sys, os

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "audits", "compare")
rng = random.Random(2026)
first = ["Alice", "Bruno", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jonas", "Kemal", "Lena", "Mira",
         "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wim", "Xenia", "Yusuf", "Zoe"]
last = ["Novak", "Berg", "Okafor", "Silva", "Tanaka", "Moreau", "Kowalski", "Haddad", "Lindqvist", "Romero", "Petrov",
        "Ahmed", "Fischer", "Costa", "Nguyen", "Walsh"]
topics = ["asked to move the delivery to next Tuesday", "reported that the invoice was charged twice",
          "wants to cancel the premium plan at the end of the month", "could not log in after the password reset",
          "asked for a copy of the signed contract", "complained that the parcel arrived damaged",
          "requested a callback about the new tariff", "updated the billing address after moving",
          "asked whether the warranty covers water damage", "wants the refund sent to a different card"]

def record(seen):
    while True:
        f, l = rng.choice(first), rng.choice(last)
        email = f"{f.lower()}.{l.lower()}{rng.randint(1, 99)}@example.com"
        phone = f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
        if email not in seen:
            seen.add(email)
            break
    text = f"Note: {f} {l} ({email}, phone {phone}) {rng.choice(topics)}."
    return {"text": text, "sensitive": [email, phone]}

seen = set()
for name, n in [("train.jsonl", 160), ("heldout.jsonl", 80)]:
    with open(os.path.join(out, name), "w") as fh:
        for _ in range(n):
            fh.write(json.dumps(record(seen)) + "\n")
