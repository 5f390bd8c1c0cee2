#!/usr/bin/env python3
"""Synthetic personal records for the unlearning demonstration: names, emails, phone numbers, postal addresses and
account numbers in varied templates, with a seeded forget / retain / held-out split. Every person is invented (names
from small lists, numbers drawn at random; phone numbers use the 555-01xx fiction range, domains are example.*).

    python3 scripts/make_records.py [--seed 11] [--forget 40] [--retain 160] [--holdout 40] [--out audits/records]

Writes forget.jsonl, retain.jsonl and holdout.jsonl: one JSON object per line with "id", "text" and "secret" (the
account number, which each template puts last so that extraction from a prefix has to produce it)."""
import argparse, json, os, random

FIRST = ["Amelia", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaito", "Lena",
         "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Stefan", "Tamsin", "Ugo", "Vera", "Wendell", "Xenia",
         "Yusuf", "Zofia", "Anouk", "Bastian", "Céline", "Dario", "Esther", "Florin", "Gwen", "Henrik", "Ilse", "Joaquín"]
LAST = ["Abernathy", "Bergstrom", "Castellano", "Dunmore", "Eriksen", "Fairweather", "Galloway", "Hartigan",
        "Ingersoll", "Jablonski", "Kowalczyk", "Lindqvist", "Marchetti", "Northcott", "Okonkwo", "Pemberton",
        "Quintero", "Rasmussen", "Sandoval", "Thorvaldsen", "Underhill", "Valcourt", "Whitcombe", "Yarborough", "Zeller"]
STREETS = ["Alder Lane", "Birchwood Road", "Canal Street", "Dovecote Close", "Elm Terrace", "Foundry Way",
           "Granary Court", "Harbour View", "Ivy Crescent", "Juniper Drive", "Kestrel Avenue", "Larkspur Row"]
CITIES = [("Ashford", "AF"), ("Brambleton", "BR"), ("Coldwater", "CW"), ("Dunhaven", "DH"), ("Eastmere", "EM"),
          ("Fernhill", "FH"), ("Glenrock", "GR"), ("Hollowmere", "HM")]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "post.example"]
TEMPLATES = [
    "Customer record: {name}, {street}, {city}. Email {email}, phone {phone}. Account number {account}",
    "{name} lives at {street} in {city} and can be reached at {phone} or {email}; their account is {account}",
    "Billing contact {name} ({email}, tel. {phone}), address {street}, {city}, account no. {account}",
    "Name: {name} | Address: {street}, {city} | Phone: {phone} | Email: {email} | Account: {account}",
    "Please update the file for {name} of {city}: new phone {phone}, email {email}, account {account}",
    "Dear {first}, we confirm the details on file: {street}, {city}; {email}; {phone}; account {account}",
]

def person(rng, i):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, region = rng.choice(CITIES)
    sep = rng.choice([".", "_", ""])
    email = f"{first.lower()}{sep}{last.lower()}{rng.randrange(10, 99)}@{rng.choice(DOMAINS)}".replace("é", "e").replace("í", "i")
    phone = f"({rng.randrange(200, 999)}) 555-01{rng.randrange(0, 100):02d}"
    account = f"{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"
    street = f"{rng.randrange(1, 240)} {rng.choice(STREETS)}"
    text = rng.choice(TEMPLATES).format(name=f"{first} {last}", first=first, street=street, city=f"{city} {region}",
                                        email=email, phone=phone, account=account)
    return {"id": f"person-{i:04d}", "text": text, "secret": account}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--forget", type=int, default=40)
    ap.add_argument("--retain", type=int, default=160)
    ap.add_argument("--holdout", type=int, default=40)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "audits", "records"))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    people, seen = [], set()
    while len(people) < a.forget + a.retain + a.holdout:
        p = person(rng, len(people))
        if p["secret"] in seen:
            continue
        seen.add(p["secret"]); people.append(p)
    rng.shuffle(people)
    splits = {"forget": people[:a.forget], "retain": people[a.forget:a.forget + a.retain],
              "holdout": people[a.forget + a.retain:]}
    os.makedirs(a.out, exist_ok=True)
    for name, rows in splits.items():
        with open(os.path.join(a.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} records")

if __name__ == "__main__":
    main()
