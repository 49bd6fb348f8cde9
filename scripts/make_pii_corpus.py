#!/usr/bin/env python3
"""Build the labeled PII corpus: positives in realistic sentences, and hard negatives.

    python3 scripts/make_pii_corpus.py tests/fixtures/pii-corpus.jsonl

One JSON object per line: {"text": ..., "spans": [{"start", "end", "type"}]}, offsets in
bytes of the UTF-8 text. Seeded: the same file every run. Standard library only. Values
are synthetic and valid by their own rules (Luhn, mod-97, mod-11, Base58Check, bech32, DEA,
SSN area/group/serial); hard negatives break exactly one rule or lack the context that
makes a number personal. Checked by crates/palisade-pii/tests/corpus.rs (per-entity
precision and recall) and bench/pii.sh (the same corpus through Presidio).
"""

import base64
import hashlib
import json
import random
import sys

R = random.Random(20261126)
PER_TYPE = 120

FIRST = ["jane", "omar", "li", "maria", "john", "aiko", "pierre", "sofia", "kwame", "anna", "raj", "eva"]
LAST = ["doe", "haddad", "wei", "garcia", "smith", "tanaka", "dubois", "rossi", "mensah", "novak", "patel", "berg"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "example.co.uk", "uni.example.edu"]
FILLER = [
    "Thanks for getting back to me so quickly.",
    "The shipment left the warehouse on Tuesday.",
    "Please update the record before the end of the week.",
    "Grüße aus München — bis bald!",
    "The meeting moved to the third floor.",
    "Le dossier est complet, merci.",
    "We reviewed the claim and everything looks fine.",
    "Our team will follow up after the audit.",
]


def digits(n):
    return "".join(R.choice("0123456789") for _ in range(n))


def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return body + str((10 - total % 10) % 10)


def group(num, sizes, sep):
    out, i = [], 0
    for s in sizes:
        out.append(num[i:i + s])
        i += s
    return sep.join(out)


def card():
    kind = R.choice(["visa", "mc", "amex", "disc"])
    if kind == "amex":
        n = luhn_complete(R.choice(["34", "37"]), 15)
        return group(n, [4, 6, 5], R.choice([" ", "-", ""]))
    prefix = {"visa": "4", "mc": str(R.randint(51, 55)), "disc": "6011"}[kind]
    n = luhn_complete(prefix, 16)
    return group(n, [4, 4, 4, 4], R.choice([" ", "-", ""]))


def bad_card():
    n = card()
    last = n[-1]
    return n[:-1] + str((int(last) + R.randint(1, 9)) % 10)


def ssn(valid=True, sep="-"):
    if valid:
        area = R.choice([R.randint(1, 665), R.randint(667, 899)])
        return f"{area:03d}{sep}{R.randint(1, 99):02d}{sep}{R.randint(1, 9999):04d}"
    area = R.choice(["000", "666", str(R.randint(900, 999))])
    return f"{area}{sep}{R.randint(1, 99):02d}{sep}{R.randint(1, 9999):04d}"


IBAN_LEN = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "NL": 18, "IT": 27, "BE": 16}


def iban(valid=True):
    cc = R.choice(list(IBAN_LEN))
    n = IBAN_LEN[cc]
    if cc in ("GB", "NL"):
        bban = "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + digits(n - 8)
    elif cc == "IT":
        bban = R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + digits(n - 5)
    else:
        bban = digits(n - 4)
    rearranged = bban + cc + "00"
    num = int("".join(str(int(ch, 36)) for ch in rearranged))
    check = 98 - num % 97
    if not valid:
        check = (check % 97) + 1 if check != 97 else 2
    raw = f"{cc}{check:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4)) if R.random() < 0.6 else raw


def nanp():
    return f"{R.randint(2, 9)}{digits(2)}", f"{R.randint(2, 9)}{digits(2)}", digits(4)


def phone():
    a, b, c = nanp()
    while a[1:] == "11" or b[1:] == "11":
        a, b, c = nanp()
    return R.choice([
        f"({a}) {b}-{c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"+1 {a} {b} {c}",
        f"+1-{a}-{b}-{c}",
        f"+44 20 {digits(4)} {digits(4)}",
        f"+49 30 {digits(8)}",
        f"+33 1 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"020 {digits(4)} {digits(4)}",
    ])


def nhs():
    while True:
        d = [R.randint(0, 9) for _ in range(9)]
        check = (11 - sum(x * (10 - i) for i, x in enumerate(d)) % 11) % 11
        if check != 10 and len(set(d)) > 1:
            s = "".join(map(str, d)) + str(check)
            return f"{s[:3]} {s[3:6]} {s[6:]}"


def nino():
    first = R.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = R.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
        first = "A"
    return f"{first}{second} {digits(2)} {digits(2)} {digits(2)} {R.choice('ABCD')}"


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(version):
    payload = bytes([version]) + R.randbytes(20)
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(payload + check, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(payload + check) - len((payload + check).lstrip(b"\0"))) + out


BECH = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_address():
    def polymod(values):
        gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
        chk = 1
        for v in values:
            top = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (top >> i) & 1 else 0
        return chk

    hrp = "bc"
    data = [0] + [R.randint(0, 31) for _ in range(32)]
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data
    mod = polymod(values + [0] * 6) ^ 1
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH[d] for d in data + checksum)


def dea():
    letters = R.choice("ABFGMPR") + R.choice("ABCDEFGHJKLMNPRSTWXYZ")
    d = [R.randint(0, 9) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return letters + "".join(map(str, d)) + str(check)


def itin():
    return f"9{digits(2)}-{R.choice([R.randint(50, 65), R.randint(70, 88), R.randint(90, 92), R.randint(94, 99)])}-{digits(4)}"


def jwt():
    b64 = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': digits(6), 'iat': 1700000000})}.{base64.urlsafe_b64encode(R.randbytes(32)).rstrip(b'=').decode()}"


def token():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    while True:
        t = "".join(R.choice(alphabet) for _ in range(R.randint(24, 40)))
        if any(c.isdigit() for c in t) and any(c.isalpha() for c in t):
            return t


def dob():
    y, m, d = R.randint(1930, 2010), R.randint(1, 12), R.randint(1, 28)
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
    return R.choice([f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{months[m - 1]} {d}, {y}", f"{d} {months[m - 1]} {y}"])


def email():
    return f"{R.choice(FIRST)}{R.choice(['.', '_', ''])}{R.choice(LAST)}{R.choice(['', str(R.randint(1, 99))])}@{R.choice(DOMAINS)}"


def ipv4():
    return ".".join(str(R.randint(1, 254)) for _ in range(4))


def ipv6():
    groups = [f"{R.randint(0, 0xFFFF):x}" for _ in range(8)]
    if R.random() < 0.5:
        return f"2001:db8::{groups[0]}:{groups[1]}"
    return ":".join(groups)


def mac():
    sep = R.choice([":", "-"])
    return sep.join(f"{R.randint(0, 255):02X}" for _ in range(6))


def url():
    path = "/".join(R.choice(["orders", "account", "docs", "v2", "files", "view"]) for _ in range(R.randint(1, 3)))
    return R.choice([f"https://www.example.com/{path}?id={digits(4)}", f"http://portal.example.org/{path}", f"https://{R.choice(FIRST)}:{token()[:10]}@db.example.net/{path}"])


def aws():
    return R.choice(["AKIA", "ASIA"]) + "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


# type -> (value maker, sentence templates with {v})
POSITIVE = {
    "EMAIL_ADDRESS": (email, ["Please write to {v} with the signed form.", "Contact: {v}", "cc {v} on the reply"]),
    "PHONE_NUMBER": (phone, ["You can call me at {v} after five.", "Phone: {v}", "Her mobile is {v}."]),
    "US_SSN": (ssn, ["My SSN is {v}.", "Social security number {v} was on the W-2.", "ssn: {v}"]),
    "CREDIT_CARD": (card, ["I paid with card {v} yesterday.", "Card number {v} expires 09/27.", "charged to {v}"]),
    "IBAN_CODE": (iban, ["Please refund to IBAN {v}.", "Bank details: {v}", "transfer to {v} by Friday"]),
    "IP_ADDRESS": (lambda: ipv4() if R.random() < 0.7 else ipv6(), ["Login from {v} was blocked.", "client={v} status=200", "the request came from {v}"]),
    "MAC_ADDRESS": (mac, ["Device {v} joined the network.", "hw addr {v}", "MAC {v} is not registered"]),
    "URL": (url, ["See {v} for the details.", "Link: {v}", "open {v} in your browser"]),
    "DATE_TIME": (dob, ["She was born on {v}.", "DOB: {v}", "Date of birth {v}, verified."]),
    "US_PASSPORT": (lambda: digits(9), ["Passport number {v} expires next year.", "passport: {v}"]),
    "US_DRIVER_LICENSE": (lambda: R.choice("ABCDEFGHJKLMNPRSTW") + digits(7), ["Driver license {v} was scanned.", "driver's license no. {v}"]),
    "US_BANK_NUMBER": (lambda: digits(R.randint(10, 12)), ["Bank account {v} at the credit union.", "acct {v} was debited"]),
    "US_ITIN": (itin, ["ITIN {v} on the return.", "taxpayer id {v}"]),
    "UK_NHS": (nhs, ["NHS number {v} registered at the surgery.", "nhs no: {v}"]),
    "UK_NINO": (nino, ["National Insurance number {v}.", "NI number {v} on the payslip"]),
    "CRYPTO": (lambda: R.choice([base58check(0), bech32_address()]), ["Send the BTC to {v} please.", "wallet {v}"]),
    "MEDICAL_LICENSE": (dea, ["Prescriber DEA number {v} on the script.", "DEA {v}"]),
    "MEDICAL_RECORD_NUMBER": (lambda: digits(8), ["MRN {v} admitted to ward 4.", "medical record {v} updated"]),
    "AWS_ACCESS_KEY": (aws, ["The leaked key {v} was rotated.", "aws_access_key_id = {v}"]),
    "JWT": (jwt, ["Authorization: Bearer {v}", "token {v} expired"]),
    "SECRET_TOKEN": (token, ["api_key = {v}", "the secret token is {v}", "password: {v}"]),
}

NEGATIVE = [
    lambda: f"Card {bad_card()} was declined (bad number).",
    lambda: f"SSN {ssn(valid=False)} is not a valid number.",
    lambda: f"Order number {'-'.join(nanp())} has shipped.",
    lambda: f"Invoice {digits(3)}-{digits(3)}-{digits(4)} is overdue.",
    lambda: f"Tracking {digits(10)} is in transit.",
    lambda: f"IBAN {iban(valid=False)} failed the bank's check.",
    lambda: f"Upgrade to version {R.randint(1, 20)}.{R.randint(0, 9)}.{R.randint(0, 99)}.{R.randint(0, 999)} today.",
    lambda: f"Release v{R.randint(1, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)} is out.",
    lambda: f"The meeting is on {R.randint(1, 28):02d}/{R.randint(1, 12):02d}/2025.",
    lambda: f"Reference {digits(9)} in the ledger.",
    lambda: f"We sold {R.randint(1000, 99999)} units in {R.randint(1990, 2025)}.",
    lambda: f"Build {digits(8)} passed all checks.",
    lambda: f"The hash was {''.join(R.choice('0123456789abcdef') for _ in range(40))}.",
    lambda: f"Room {R.randint(100, 999)}, floor {R.randint(1, 20)}, ext. {digits(4)}.",
    lambda: f"Part no. {R.choice('ABCDEFGH')}{digits(8)} is back in stock.",
    lambda: R.choice(FILLER),
]


def utf8_offset(text, char_index):
    return len(text[:char_index].encode())


def sentence(kind):
    make, templates = POSITIVE[kind]
    value = make()
    template = R.choice(templates)
    prefix = R.choice(FILLER) + " " if R.random() < 0.4 else ""
    suffix = " " + R.choice(FILLER) if R.random() < 0.4 else ""
    body = template.format(v=value)
    text = prefix + body + suffix
    at = text.index(value, len(prefix))
    return {"text": text, "spans": [{"start": utf8_offset(text, at), "end": utf8_offset(text, at + len(value)), "type": kind}]}


def main(out):
    rows = [sentence(kind) for kind in POSITIVE for _ in range(PER_TYPE)]
    rows += [{"text": R.choice(NEGATIVE)(), "spans": []} for _ in range(PER_TYPE * 8)]
    R.shuffle(rows)
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows written to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/pii-corpus.jsonl")
