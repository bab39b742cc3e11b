#!/usr/bin/env python3
"""Held-out test corpus "C" for the ibars secret scanner (sensitive-file classifier).

What this is
------------
A labelled, synthetic-but-realistic file tree that imitates what a backup tool
finds on operators' machines: home directories, /srv and /opt application
trees, project checkouts.  About half of the files contain a planted, real
secret (sensitive); the other half are look-alikes in the same file types that
must NOT be flagged (public keys, certificates, placeholders, Luhn-failing
card-like numbers, IBANs with wrong check digits, hashes, UUIDs, base64 of
non-secret data, short lists of e-mail addresses, docs with obviously fake
example tokens, ...).

This corpus was written by a helper who had not read the scanner's code or its
earlier corpora.  The secret shapes were designed only from the definition of
"sensitive" below and general knowledge of real operators' files; it is meant
to be an untuned, held-out test.

Sensitive means:
  * private keys (SSH, PEM/TLS, PGP private key blocks);
  * cloud credentials and service tokens (AWS key id + secret, GCP
    service-account JSON, Azure connection strings, GitHub/GitLab tokens,
    Slack tokens/webhooks, Stripe secret keys, SendGrid/Twilio/Mailgun keys,
    database URLs with passwords, npm/PyPI tokens, JWT signing secrets, ...);
  * .env secrets (passwords, secret keys, tokens in .env-style files);
  * payment card numbers (Luhn-valid, real issuer prefixes, 13-19 digits);
  * IBANs (valid mod-97 check digits);
  * bulk personal data (lists of at least ~20 people's e-mail addresses).

Real keys are generated with ssh-keygen and openssl at build time (so key
bytes differ between runs); everything else comes from a fixed random seed.

Label format
------------
OUT_DIR/labels.tsv, one line per file, tab separated:

    relative/path<TAB>normal<TAB>S<TAB>1

where the path is relative to OUT_DIR (OUT_DIR stands for the machine's "/"),
and S is 1 when the file holds a real (planted) secret, 0 for a look-alike.

Usage
-----
    scripts/eval/classify-heldout-c.py OUT_DIR

OUT_DIR is created (a non-empty OUT_DIR is refused).  Score the scanner with

    cargo run --release -p ibars-core --example eval_classify OUT_DIR

Needs: python3 (stdlib only), ssh-keygen, openssl.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import string
import struct
import subprocess
import sys
import tempfile
import uuid
import zlib
from collections import Counter

SEED = 20240917
R = random.Random(SEED)

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64URL = ALNUM + "-_"
B64 = ALNUM + "+/"


# ---------------------------------------------------------------------------
# small random helpers
# ---------------------------------------------------------------------------

def rs(n, alphabet=ALNUM):
    return "".join(R.choice(alphabet) for _ in range(n))


def rhex(n):
    return rs(n, HEX)


def rdigits(n):
    return rs(n, string.digits)


def rbytes(n):
    return bytes(R.getrandbits(8) for _ in range(n))


def b64(data):
    return base64.b64encode(data).decode()


def b64url_nopad(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def ruuid():
    return str(uuid.UUID(int=R.getrandbits(128), version=4))


def pick(seq):
    return R.choice(seq)


def wrap(s, n=64):
    return "\n".join(s[i:i + n] for i in range(0, len(s), n))


def ts(year=2024, month=None, day=None):
    month = month or R.randint(1, 12)
    day = day or R.randint(1, 28)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (year, month, day, R.randint(0, 23),
                                             R.randint(0, 59), R.randint(0, 59))


def human_password():
    words = ["Falcon", "river", "Copper", "maple", "Harbor", "tundra", "Violet",
             "anchor", "Cobalt", "meadow", "Quartz", "lantern", "Orchid",
             "glacier", "Saffron", "pepper", "Marble", "cactus", "Ember", "willow"]
    style = R.randint(0, 3)
    if style == 0:
        return pick(words).capitalize() + pick("!#$%&*") + pick(words) + rdigits(R.randint(2, 4))
    if style == 1:
        return "-".join(pick(words).lower() for _ in range(3)) + rdigits(2)
    if style == 2:
        return rs(R.randint(14, 22), ALNUM + "!@#%^*_-+=")
    return pick(words) + rdigits(4) + pick("!?.$") + pick(words).lower()


def strong_password(n=None):
    return rs(n or R.randint(16, 28), ALNUM + "_-")


# ---------------------------------------------------------------------------
# people, companies, hosts
# ---------------------------------------------------------------------------

FIRST = ["Anna", "Lukas", "Sofia", "Jonas", "Emma", "Noah", "Mia", "Elias", "Lea",
         "Paul", "Chloe", "Hugo", "Louise", "Gabriel", "Camille", "Arthur",
         "Olivia", "James", "Amelia", "Oliver", "Isla", "Harry", "Priya", "Rahul",
         "Aisha", "Omar", "Yuki", "Haruto", "Mei", "Wei", "Lucia", "Mateo",
         "Martina", "Pablo", "Giulia", "Lorenzo", "Sara", "Matteo", "Fatima",
         "Youssef", "Eva", "Jan", "Katarzyna", "Piotr", "Ingrid", "Lars", "Astrid",
         "Mikko", "Aino", "Sean", "Niamh", "Tomas", "Ines", "Joao", "Beatriz",
         "Daniel", "Rebecca", "Michael", "Jennifer", "David", "Laura", "Kevin",
         "Hannah", "Felix", "Marie", "Jakob", "Clara", "Maximilian", "Johanna"]
LAST = ["Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
        "Becker", "Hoffmann", "Koch", "Martin", "Bernard", "Dubois", "Thomas",
        "Robert", "Petit", "Durand", "Leroy", "Smith", "Jones", "Taylor", "Brown",
        "Williams", "Wilson", "Evans", "Patel", "Sharma", "Khan", "Nakamura",
        "Tanaka", "Chen", "Wang", "Garcia", "Fernandez", "Lopez", "Martinez",
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "de Vries", "Jansen",
        "van Dijk", "Bakker", "Kowalski", "Nowak", "Wisniewski", "Johansson",
        "Andersson", "Nilsson", "Virtanen", "Korhonen", "Murphy", "Kelly",
        "O'Brien", "Novak", "Silva", "Santos", "Costa", "Oliveira", "Peters",
        "Hartmann", "Wolf", "Krause", "Lehmann", "Keller", "Brandt"]
FREEMAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com",
            "gmx.de", "web.de", "t-online.de", "orange.fr", "free.fr", "libero.it",
            "proton.me", "posteo.de", "btinternet.com", "wp.pl", "live.nl",
            "aol.com", "mail.ru", "seznam.cz", "yahoo.co.uk"]
COMPANIES = [("Kessler Logistik GmbH", "kessler-logistik.de"),
             ("Northwind Apps Ltd", "northwind-apps.co.uk"),
             ("Atelier Moreau SARL", "atelier-moreau.fr"),
             ("Bakkerij Visser BV", "bakkerijvisser.nl"),
             ("Brightline Analytics Inc", "brightline-analytics.com"),
             ("Fjordvik Marine AS", "fjordvik.no"),
             ("Rossi Meccanica Srl", "rossimeccanica.it"),
             ("Helios Solar SL", "heliossolar.es"),
             ("Polar Byte Oy", "polarbyte.fi"),
             ("Greenleaf Organics", "greenleaf-organics.com")]


def ascii_name(s):
    return re.sub(r"[^a-z]", "", s.lower())


def person():
    return pick(FIRST), pick(LAST)


def email_for(first, last, domain=None):
    f, l = ascii_name(first), ascii_name(last)
    domain = domain or pick(FREEMAIL)
    style = R.randint(0, 5)
    local = [f"{f}.{l}", f"{f[0]}{l}", f"{f}{l}{R.randint(1, 99)}", f"{f}_{l}",
             f"{l}.{f}", f"{f}.{l}{R.randint(70, 99)}"][style]
    return f"{local}@{domain}"


def people(n, domain=None):
    """n people with distinct e-mail addresses."""
    out, seen = [], set()
    while len(out) < n:
        f, l = person()
        e = email_for(f, l, domain)
        if e in seen:
            continue
        seen.add(e)
        out.append((f, l, e))
    return out


CITIES = [("Berlin", "DE"), ("Hamburg", "DE"), ("Munich", "DE"), ("Cologne", "DE"),
          ("Paris", "FR"), ("Lyon", "FR"), ("London", "GB"), ("Manchester", "GB"),
          ("Amsterdam", "NL"), ("Utrecht", "NL"), ("Madrid", "ES"), ("Valencia", "ES"),
          ("Milan", "IT"), ("Turin", "IT"), ("Vienna", "AT"), ("Zurich", "CH"),
          ("Warsaw", "PL"), ("Stockholm", "SE"), ("Dublin", "IE"), ("Lisbon", "PT"),
          ("Helsinki", "FI"), ("Oslo", "NO"), ("Brussels", "BE"), ("Prague", "CZ")]

USERS = ["alice", "bob", "dev", "ops", "deploy", "marta", "jens", "priya", "tom",
         "svc-backup", "admin", "kai", "lena", "root"]


def home(user=None):
    user = user or pick(USERS)
    return "root" if user == "root" else f"home/{user}"


def phone():
    return pick([f"+49 30 {rdigits(7)}", f"+33 1 {rdigits(2)} {rdigits(2)} {rdigits(2)} {rdigits(2)}",
                 f"+44 20 {rdigits(4)} {rdigits(4)}", f"+31 20 {rdigits(3)} {rdigits(4)}",
                 f"+1 415-555-{rdigits(4)}", f"+39 02 {rdigits(4)} {rdigits(4)}"])


# ---------------------------------------------------------------------------
# payment cards
# ---------------------------------------------------------------------------

def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(partial):
    for c in "0123456789":
        if luhn_ok(partial + c):
            return partial + c
    raise AssertionError


def issuer_ok(d):
    """Real issuer prefix for the given length (used for validation)."""
    n = len(d)
    if d[0] == "4" and n in (13, 16, 19):
        return True
    if (51 <= int(d[:2]) <= 55 or 2221 <= int(d[:4]) <= 2720) and n == 16:
        return True
    if d[:2] in ("34", "37") and n == 15:
        return True
    if (d[:4] == "6011" or d[:2] == "65" or 644 <= int(d[:3]) <= 649) and 16 <= n <= 19:
        return True
    if 3528 <= int(d[:4]) <= 3589 and 16 <= n <= 19:
        return True
    if (d[:2] == "36" or 300 <= int(d[:3]) <= 305) and 14 <= n <= 19:
        return True
    if d[:2] == "62" and 16 <= n <= 19:
        return True
    if d[:4] in ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763") and 12 <= n <= 19:
        return True
    return False


CARD_KINDS = [
    ("visa", lambda: "4" + rdigits(5), 16),
    ("visa", lambda: pick(["4532", "4716", "4929", "4485", "4024"]) + rdigits(2), 16),
    ("visa13", lambda: "4" + rdigits(5), 13),
    ("visa19", lambda: "4" + rdigits(5), 19),
    ("mastercard", lambda: str(R.randint(51, 55)) + rdigits(4), 16),
    ("mastercard2", lambda: str(R.randint(2221, 2720)) + rdigits(2), 16),
    ("amex", lambda: pick(["34", "37"]) + rdigits(4), 15),
    ("discover", lambda: pick(["6011", "65" + rdigits(2), str(R.randint(644, 649)) + rdigits(1)]) + rdigits(2), 16),
    ("jcb", lambda: str(R.randint(3528, 3589)) + rdigits(2), 16),
    ("diners", lambda: pick(["36" + rdigits(4), "30" + str(R.randint(0, 5)) + rdigits(3)]), 14),
    ("unionpay", lambda: "62" + rdigits(4), pick([16, 17, 18, 19])),
    ("maestro", lambda: pick(["6759", "6761", "5018", "5020"]) + rdigits(2), pick([16, 18, 19])),
]


def card(kind=None):
    if kind is None:
        k = pick(CARD_KINDS)
    else:
        k = pick([c for c in CARD_KINDS if c[0] == kind])
    name, pre, n = k
    p = pre()
    num = luhn_complete(p + rdigits(n - len(p) - 1))
    assert luhn_ok(num) and issuer_ok(num), num
    return num


def fmt_card(num, style=None):
    style = style if style is not None else R.randint(0, 2)
    if style == 0:
        return num
    sep = " " if style == 1 else "-"
    n = len(num)
    if n == 15:
        groups = [num[:4], num[4:10], num[10:]]
    elif n == 14:
        groups = [num[:4], num[4:10], num[10:]]
    else:
        groups = [num[i:i + 4] for i in range(0, n, 4)]
    return sep.join(groups)


def bad_luhn_card():
    """Card-shaped number with an issuer prefix that fails Luhn."""
    num = card(pick(["visa", "mastercard", "amex", "discover", "mastercard2"]))
    last = int(num[-1])
    return num[:-1] + str((last + R.randint(1, 9)) % 10)


def expiry():
    return "%02d/%02d" % (R.randint(1, 12), R.randint(25, 30))


# ---------------------------------------------------------------------------
# IBANs
# ---------------------------------------------------------------------------

IBAN_LEN = {"AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24,
            "FI": 18, "FR": 27, "GB": 22, "IE": 22, "IT": 27, "LU": 20, "NL": 18,
            "NO": 15, "PL": 28, "PT": 25, "SE": 24}


def _iban_num(s):
    return int("".join(str(int(ch, 36)) for ch in s))


def iban_check(cc, bban):
    return "%02d" % (98 - _iban_num(bban + cc + "00") % 97)


def iban_valid(iban):
    iban = iban.replace(" ", "").upper()
    if len(iban) < 15 or iban[:2] not in IBAN_LEN or len(iban) != IBAN_LEN[iban[:2]]:
        return False
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", iban):
        return False
    return _iban_num(iban[4:] + iban[:4]) % 97 == 1


def _es_digit(ds, weights=(1, 2, 4, 8, 5, 10, 9, 7, 3, 6)):
    s = sum(int(d) * w for d, w in zip(ds, weights))
    r = 11 - s % 11
    return {11: 0, 10: 1}.get(r, r)


def _it_cin(s):
    odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16,
           10, 22, 25, 24, 23]
    tot = 0
    for i, ch in enumerate(s):
        v = int(ch) if ch.isdigit() else ord(ch) - 65
        tot += odd[v] if i % 2 == 0 else v
    return chr(65 + tot % 26)


def _fr_key(bank, branch, acct):
    return "%02d" % (97 - (89 * int(bank) + 15 * int(branch) + 3 * int(acct)) % 97)


def bban(cc):
    if cc == "DE":
        return pick(["37040044", "10010010", "50010517", "20041133", "70150000",
                     "12030000", "43060967", "76050101"]) + rdigits(10)
    if cc == "GB":
        return pick(["NWBK", "BARC", "HBUK", "LOYD", "MIDL", "MONZ"]) + rdigits(6) + rdigits(8)
    if cc == "IE":
        return pick(["AIBK", "BOFI", "IPBS"]) + rdigits(6) + rdigits(8)
    if cc == "FR":
        bank, branch, acct = pick(["30004", "30003", "20041", "10278", "30066"]), rdigits(5), rdigits(11)
        return bank + branch + acct + _fr_key(bank, branch, acct)
    if cc == "NL":
        return pick(["INGB", "ABNA", "RABO", "TRIO", "SNSB", "KNAB"]) + rdigits(10)
    if cc == "ES":
        bank, branch, acct = pick(["2100", "0049", "0182", "0081", "2038"]), rdigits(4), rdigits(10)
        return bank + branch + str(_es_digit("00" + bank + branch)) + str(_es_digit(acct)) + acct
    if cc == "IT":
        rest = pick(["03069", "02008", "05034", "03062"]) + rdigits(5) + rdigits(12)
        return _it_cin(rest) + rest
    if cc == "BE":
        first = pick(["068", "310", "001", "363", "735"]) + rdigits(7)
        chk = int(first) % 97 or 97
        return first + "%02d" % chk
    if cc == "AT":
        return pick(["20111", "12000", "14000", "32000"]) + rdigits(11)
    if cc == "CH":
        return pick(["00762", "09000", "00230", "00700"]) + rdigits(12)
    if cc == "PL":
        return rdigits(24)
    if cc == "SE":
        return pick(["500", "800", "600", "300"]) + rdigits(17)
    if cc == "PT":
        return pick(["0035", "0033", "0007", "0010"]) + rdigits(17)
    if cc == "DK":
        return rdigits(14)
    if cc == "FI":
        return rdigits(14)
    if cc == "LU":
        return pick(["001", "002", "003", "014"]) + rdigits(13)
    if cc == "NO":
        return rdigits(11)
    if cc == "CZ":
        return pick(["0800", "0100", "2010", "0300"]) + rdigits(16)
    raise KeyError(cc)


def iban(cc=None):
    cc = cc or pick(list(IBAN_LEN))
    b = bban(cc)
    s = cc + iban_check(cc, b) + b
    assert iban_valid(s) and len(s) == IBAN_LEN[cc], s
    return s


def bad_iban(cc=None):
    good = iban(cc)
    chk = int(good[2:4])
    while True:
        new = "%02d" % R.randint(2, 98)
        if new != good[2:4]:
            s = good[:2] + new + good[4:]
            if not iban_valid(s):
                return s


def group4(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def fmt_iban(s, grouped=None):
    grouped = R.random() < 0.5 if grouped is None else grouped
    return group4(s) if grouped else s


BICS = {"DE": ["COBADEFFXXX", "PBNKDEFF", "INGDDEFFXXX", "DEUTDEFF", "GENODEM1GLS"],
        "GB": ["NWBKGB2L", "BARCGB22", "HBUKGB4B", "LOYDGB2L"],
        "FR": ["BNPAFRPP", "SOGEFRPP", "PSSTFRPPPAR", "CRLYFRPP"],
        "NL": ["INGBNL2A", "ABNANL2A", "RABONL2U", "TRIONL2U"],
        "ES": ["CAIXESBBXXX", "BSCHESMM", "BBVAESMM"],
        "IT": ["BCITITMM", "UNCRITMM"], "BE": ["GKCCBEBB", "BBRUBEBB"],
        "AT": ["BKAUATWW", "RZOOAT2L"], "CH": ["UBSWCHZH80A", "POFICHBEXXX"]}


def bic(cc):
    return pick(BICS.get(cc, ["DEUTDEFF"]))


# ---------------------------------------------------------------------------
# real key material (ssh-keygen / openssl)
# ---------------------------------------------------------------------------

class Keys:
    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0

    def _path(self, stem):
        self.n += 1
        return os.path.join(self.tmp, "%s-%03d" % (stem, self.n))

    @staticmethod
    def _run(args, stdin=None):
        res = subprocess.run(args, input=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, check=True)
        return res.stdout

    def ssh(self, kind="ed25519", comment="user@host", bits=None, pem=False):
        p = self._path("ssh")
        args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", p]
        if bits:
            args += ["-b", str(bits)]
        if pem:
            args += ["-m", "PEM"]
        self._run(args)
        with open(p) as f:
            priv = f.read()
        with open(p + ".pub") as f:
            pub = f.read()
        return priv, pub, p

    def ssh_cert(self, ca_path, pub_path, ident, principals):
        self._run(["ssh-keygen", "-q", "-s", ca_path, "-I", ident, "-n", principals,
                   "-V", "+52w", pub_path])
        with open(pub_path[:-4] + "-cert.pub") as f:
            return f.read()

    def rsa_pkcs8(self, bits=2048):
        return self._run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:%d" % bits]).decode()

    def rsa_trad(self, bits=2048):
        return self._run(["openssl", "genrsa", "-traditional", str(bits)]).decode()

    def ec(self, curve="prime256v1", params=True):
        args = ["openssl", "ecparam", "-genkey", "-name", curve]
        if not params:
            args.append("-noout")
        return self._run(args).decode()

    def ed25519(self):
        return self._run(["openssl", "genpkey", "-algorithm", "ed25519"]).decode()

    def ec_params(self):
        return self._run(["openssl", "genpkey", "-genparam", "-algorithm", "EC",
                          "-pkeyopt", "ec_paramgen_curve:P-256"]).decode()

    def dh_params(self):
        return self._run(["openssl", "genpkey", "-genparam", "-algorithm", "DH",
                          "-pkeyopt", "group:ffdhe2048"]).decode()

    def _keyfile(self, pem):
        p = self._path("pem")
        with open(p, "w") as f:
            f.write(pem)
        return p

    def pubkey(self, priv_pem):
        return self._run(["openssl", "pkey", "-in", self._keyfile(priv_pem), "-pubout"]).decode()

    def cert(self, priv_pem, cn, org="", days=825):
        subj = "/CN=%s" % cn + ("/O=%s" % org if org else "")
        return self._run(["openssl", "req", "-x509", "-new", "-key", self._keyfile(priv_pem),
                          "-subj", subj, "-days", str(days), "-sha256"]).decode()

    def csr(self, priv_pem, cn, org=""):
        subj = "/CN=%s" % cn + ("/O=%s" % org if org else "")
        return self._run(["openssl", "req", "-new", "-key", self._keyfile(priv_pem),
                          "-subj", subj]).decode()

    def rsa_numbers(self, priv_pem):
        der = self._run(["openssl", "rsa", "-traditional", "-in", self._keyfile(priv_pem),
                         "-outform", "DER"])
        return parse_rsa_der(der)


def parse_rsa_der(der):
    """RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv }"""
    def read_len(b, i):
        l = b[i]
        i += 1
        if l & 0x80:
            k = l & 0x7F
            l = int.from_bytes(b[i:i + k], "big")
            i += k
        return l, i
    assert der[0] == 0x30
    _, i = read_len(der, 1)
    ints = []
    while i < len(der):
        assert der[i] == 0x02
        l, i = read_len(der, i + 1)
        ints.append(int.from_bytes(der[i:i + l], "big"))
        i += l
    names = ["version", "n", "e", "d", "p", "q", "dp", "dq", "qi"]
    return dict(zip(names, ints))


def int_bytes(x):
    return x.to_bytes((x.bit_length() + 7) // 8 or 1, "big")


def pem_body(pem, label=None):
    lines = [l for l in pem.strip().splitlines() if not l.startswith("-----")]
    return "".join(lines)


def pem_blocks(text):
    return re.findall(r"-----BEGIN [A-Z ]+-----\n.*?-----END [A-Z ]+-----\n?", text, re.S)


# --- OpenPGP (RFC 4880) transferable keys built from an openssl RSA key -----

def _pgp_mpi(x):
    return struct.pack(">H", x.bit_length()) + int_bytes(x)


def _pgp_packet(tag, body):
    n = len(body)
    if n < 192:
        hdr = bytes([n])
    elif n < 8384:
        n2 = n - 192
        hdr = bytes([(n2 >> 8) + 192, n2 & 0xFF])
    else:
        hdr = b"\xff" + struct.pack(">I", n)
    return bytes([0xC0 | tag]) + hdr + body


def _crc24(data):
    crc = 0xB704CE
    for b in data:
        crc ^= b << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def pgp_armor(kind, data, comment=None):
    out = ["-----BEGIN PGP %s KEY BLOCK-----" % kind]
    if comment:
        out.append("Comment: %s" % comment)
    out.append("")
    out.append(wrap(b64(data), 64))
    out.append("=" + b64(struct.pack(">I", _crc24(data))[1:]))
    out.append("-----END PGP %s KEY BLOCK-----" % kind)
    return "\n".join(out) + "\n"


def pgp_keys(nums, uid, created):
    n, e, d, p, q = nums["n"], nums["e"], nums["d"], nums["p"], nums["q"]
    if p > q:
        p, q = q, p
    u = pow(p, -1, q)
    pub_body = b"\x04" + struct.pack(">I", created) + b"\x01" + _pgp_mpi(n) + _pgp_mpi(e)
    fpr = hashlib.sha1(b"\x99" + struct.pack(">H", len(pub_body)) + pub_body).digest()
    uid_b = uid.encode()
    hashed_sub = (b"\x05\x02" + struct.pack(">I", created)          # creation time
                  + b"\x02\x1b\x03"                                  # key flags: certify+sign
                  + b"\x16\x21\x04" + fpr                            # issuer fingerprint
                  + b"\x04\x0b\x09\x08\x07"                          # preferred sym
                  + b"\x02\x1e\x01")                                 # features
    sig_hashed = (b"\x04\x13\x01\x08" + struct.pack(">H", len(hashed_sub)) + hashed_sub)
    h = hashlib.sha256()
    h.update(b"\x99" + struct.pack(">H", len(pub_body)) + pub_body)
    h.update(b"\xb4" + struct.pack(">I", len(uid_b)) + uid_b)
    h.update(sig_hashed)
    h.update(b"\x04\xff" + struct.pack(">I", len(sig_hashed)))
    digest = h.digest()
    k = (n.bit_length() + 7) // 8
    di = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    em = b"\x00\x01" + b"\xff" * (k - len(di) - 3) + b"\x00" + di
    s = pow(int.from_bytes(em, "big"), d, n)
    unhashed = b"\x09\x10" + fpr[-8:]
    sig_body = sig_hashed + struct.pack(">H", len(unhashed)) + unhashed + digest[:2] + _pgp_mpi(s)
    secret_mpis = _pgp_mpi(d) + _pgp_mpi(p) + _pgp_mpi(q) + _pgp_mpi(u)
    sec_body = pub_body + b"\x00" + secret_mpis + struct.pack(">H", sum(secret_mpis) % 65536)
    tail = _pgp_packet(13, uid_b) + _pgp_packet(2, sig_body)
    secret = _pgp_packet(5, sec_body) + tail
    public = _pgp_packet(6, pub_body) + tail
    return secret, public, fpr.hex().upper()


# --- PuTTY .ppk (version 2, unencrypted) ----------------------------------

def _ssh_string(b):
    return struct.pack(">I", len(b)) + b


def _ssh_mpint(x):
    b = int_bytes(x)
    if b[0] & 0x80:
        b = b"\x00" + b
    return _ssh_string(b)


def ppk_from_rsa(nums, comment):
    n, e, d, p, q = nums["n"], nums["e"], nums["d"], nums["p"], nums["q"]
    iqmp = pow(q, -1, p)
    pub = _ssh_string(b"ssh-rsa") + _ssh_mpint(e) + _ssh_mpint(n)
    priv = _ssh_mpint(d) + _ssh_mpint(p) + _ssh_mpint(q) + _ssh_mpint(iqmp)
    mac_key = hashlib.sha1(b"putty-private-key-file-mac-key").digest()
    data = (_ssh_string(b"ssh-rsa") + _ssh_string(b"none") + _ssh_string(comment.encode())
            + _ssh_string(pub) + _ssh_string(priv))
    mac = hmac.new(mac_key, data, hashlib.sha1).hexdigest()
    pl = wrap(b64(pub), 64).splitlines()
    vl = wrap(b64(priv), 64).splitlines()
    return ("PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: %s\n"
            "Public-Lines: %d\n%s\nPrivate-Lines: %d\n%s\nPrivate-MAC: %s\n"
            % (comment, len(pl), "\n".join(pl), len(vl), "\n".join(vl), mac))


def jwk_from_rsa(nums, kid, private=True):
    u = lambda x: b64url_nopad(int_bytes(x))
    k = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": u(nums["n"]), "e": u(nums["e"])}
    if private:
        k.update({"d": u(nums["d"]), "p": u(nums["p"]), "q": u(nums["q"]),
                  "dp": u(nums["dp"]), "dq": u(nums["dq"]), "qi": u(nums["qi"])})
    return k


# ---------------------------------------------------------------------------
# provider token formats (random bodies)
# ---------------------------------------------------------------------------

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _b62(x, width):
    out = ""
    while x:
        x, r = divmod(x, 62)
        out = B62[r] + out
    return out.rjust(width, "0")


def checksummed(prefix, body_len=30):
    body = rs(body_len)
    return prefix + body + _b62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


def aws_key_id(prefix="AKIA"):
    return prefix + rs(16, string.ascii_uppercase + "234567")


def aws_secret():
    return rs(40, B64)


def github_token(kind="ghp"):
    return checksummed(kind + "_")


def github_fine_grained():
    return "github_pat_" + rs(22, UPPER_ALNUM) + "_" + rs(59, ALNUM)


def gitlab_pat():
    return "glpat-" + rs(20, B64URL)


def gitlab_runner():
    return "glrt-" + rs(20, B64URL)


def slack_bot():
    return "xoxb-%s-%s-%s" % (rdigits(R.randint(11, 13)), rdigits(R.randint(11, 13)), rs(24))


def slack_user():
    return "xoxp-%s-%s-%s-%s" % (rdigits(11), rdigits(11), rdigits(13), rhex(32))


def slack_webhook():
    return "https://hooks.slack.com/services/T%s/B%s/%s" % (
        rs(R.randint(8, 10), UPPER_ALNUM), rs(R.randint(8, 10), UPPER_ALNUM), rs(24))


def stripe_secret(prefix="sk_live_"):
    if R.random() < 0.4:
        return prefix + rs(24)
    return prefix + "51" + rs(14, UPPER_ALNUM + string.ascii_lowercase) + rs(83)


def stripe_whsec():
    return "whsec_" + rs(32)


def sendgrid():
    return "SG." + rs(22, B64URL) + "." + rs(43, B64URL)


def twilio_sid():
    return "AC" + rhex(32)


def mailgun_key():
    if R.random() < 0.5:
        return "key-" + rhex(32)
    return "%s-%s-%s" % (rhex(32), rhex(8), rhex(8))


def npm_token():
    return checksummed("npm_")


def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pypi_token(project=None):
    ident = ruuid().encode()
    if project:
        cav = json.dumps({"version": 1, "permissions": {"projects": [project]}},
                         separators=(",", ":")).encode()
    else:
        cav = json.dumps({"version": 1, "permissions": "user"}, separators=(",", ":")).encode()
    mac = (b"\x02" + b"\x01\x08pypi.org" + b"\x02" + _varint(len(ident)) + ident + b"\x00"
           + b"\x02" + _varint(len(cav)) + cav + b"\x00" + b"\x00" + b"\x06\x20" + rbytes(32))
    return "pypi-" + b64url_nopad(mac)


def azure_storage_key():
    return b64(rbytes(64))


def azure_sas_sig():
    from urllib.parse import quote
    return quote(b64(rbytes(32)), safe="")


def azure_client_secret():
    return rs(3, ALNUM) + "8Q~" + rs(34, ALNUM + "_.~-")


def django_key():
    return rs(50, "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)")


def jwt_secret():
    return pick([rhex(64), b64(rbytes(48)), rs(48, ALNUM)])


def vault_token():
    return "hvs." + rs(24)


def openai_key():
    return "sk-proj-" + rs(R.choice([48, 74, 124]), B64URL) + "T3BlbkFJ" + rs(24, B64URL)


def anthropic_key():
    return "sk-ant-api03-" + rs(93, B64URL) + "AA"


def hf_token():
    return "hf_" + rs(34, string.ascii_letters)


def telegram_token():
    return "%s:AA%s" % (rdigits(10), rs(33, B64URL))


def do_token():
    return "dop_v1_" + rhex(64)


def shopify_token():
    return "shpat_" + rhex(32)


def docker_pat():
    return "dckr_pat_" + rs(27, B64URL)


def gcp_sa(keys, project, name):
    pem = keys.rsa_pkcs8(2048)
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": rhex(40),
        "private_key": pem,
        "client_email": "%s@%s.iam.gserviceaccount.com" % (name, project),
        "client_id": "1" + rdigits(20),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/%s%%40%s.iam.gserviceaccount.com" % (name, project),
        "universe_domain": "googleapis.com",
    }


def gcp_project():
    return pick(["shop-prod", "analytics", "data-platform", "billing-etl", "iot-ingest",
                 "marketing-site"]) + "-" + rdigits(6)


def db_url(scheme=None, user=None, host=None, db=None, password=None):
    scheme = scheme or pick(["postgres", "postgresql", "mysql", "mariadb"])
    port = {"postgres": 5432, "postgresql": 5432, "mysql": 3306, "mariadb": 3306,
            "redis": 6379, "amqp": 5672, "mongodb": 27017}.get(scheme, 5432)
    user = user or pick(["app", "shop", "billing", "etl_rw", "svc_api", "wiki"])
    host = host or pick(["db.internal", "10.0.3.12", "pg-prod-1.int.%s" % pick(COMPANIES)[1],
                         "mysql01", "db", "prod-db.cluster-c%s.eu-central-1.rds.amazonaws.com" % rs(12, LOWER_ALNUM)])
    db = db or pick(["app", "shop", "billing", "wiki", "crm", "analytics"])
    password = password or pick([strong_password(), human_password()])
    from urllib.parse import quote
    return "%s://%s:%s@%s:%d/%s" % (scheme, user, quote(password, safe=""), host, port, db)


# ---------------------------------------------------------------------------
# corpus bookkeeping
# ---------------------------------------------------------------------------

FORBIDDEN_PARTS = {"node_modules", ".cache", "target", "__pycache__", "tmp", "build",
                   "dist", ".tmp", "temp"}
FORBIDDEN_ROOTS = ("etc/", "usr/", "tmp/", "var/tmp/", "proc/", "sys/", "dev/", "run/")


class Corpus:
    def __init__(self):
        self.files = {}

    def add(self, path, content, secret, cat):
        assert not path.startswith("/") and path not in self.files, path
        assert not path.startswith(FORBIDDEN_ROOTS), path
        assert not (set(path.split("/")) & FORBIDDEN_PARTS), path
        if isinstance(content, str):
            content = content.encode()
        assert len(content) < 480 * 1024, (path, len(content))
        self.files[path] = (content, bool(secret), cat)


def indent(text, n):
    pad = " " * n
    return "\n".join(pad + l if l else l for l in text.rstrip("\n").split("\n"))


def jstr(s):
    return json.dumps(s)


# ---------------------------------------------------------------------------
# filler: logs, CSV rows ...
# ---------------------------------------------------------------------------

PATHS = ["/api/orders", "/api/orders/%d", "/api/cart", "/api/products/%d", "/healthz",
         "/api/users/me", "/login", "/api/invoices/%d", "/static/app.%s.js", "/metrics",
         "/api/search?q=%s", "/api/shipments/%d/track"]


def _req_path():
    p = pick(PATHS)
    if "%d" in p:
        return p % R.randint(1000, 999999)
    if "%s" in p:
        return p % rs(8, LOWER_ALNUM)
    return p


def app_log_line(when, app="api"):
    lvl = R.choices(["INFO", "DEBUG", "WARN", "ERROR"], [70, 20, 8, 2])[0]
    kind = R.randint(0, 5)
    if kind <= 2:
        msg = "request completed method=%s path=%s status=%d duration_ms=%d request_id=%s" % (
            pick(["GET", "GET", "POST", "PUT"]), _req_path(), pick([200, 200, 201, 204, 304, 404]),
            R.randint(2, 900), rhex(32))
    elif kind == 3:
        msg = "job finished queue=%s job_id=%d attempts=%d elapsed=%.2fs" % (
            pick(["mailer", "exports", "thumbnails", "webhooks"]), R.randint(10000, 99999999),
            R.randint(1, 3), R.random() * 30)
    elif kind == 4:
        msg = "cache %s key=%s:%d ttl=%d" % (pick(["hit", "miss"]), pick(["product", "cart", "session"]),
                                             R.randint(1, 99999), pick([60, 300, 3600]))
    else:
        msg = "db pool stats active=%d idle=%d waiting=%d" % (R.randint(0, 20), R.randint(0, 10), R.randint(0, 3))
    return "%s.%03dZ %-5s [%s-%d] %s" % (when, R.randint(0, 999), lvl, app, R.randint(1, 8), msg)


def log_lines(n, app="api", year=2024, month=None):
    month = month or R.randint(1, 12)
    day = R.randint(1, 20)
    lines = []
    sec = R.randint(0, 3600)
    for _ in range(n):
        sec += R.randint(0, 7)
        h, rem = divmod(sec, 3600)
        m, s = divmod(rem, 60)
        when = "%04d-%02d-%02dT%02d:%02d:%02d" % (year, month, day + h // 24, h % 24, m, s)
        lines.append(app_log_line(when, app))
    return lines


def sized_log(target, app="api", inject=None, at=0.7):
    """Log of about `target` bytes; `inject` lines are placed at fraction `at`."""
    lines = []
    size = 0
    while size < target:
        chunk = log_lines(200, app)
        lines += chunk
        size += sum(len(l) + 1 for l in chunk)
    if inject:
        pos = int(len(lines) * at)
        stamp = lines[pos][:19]
        lines[pos:pos] = [l.replace("@TS@", stamp) for l in inject]
    return "\n".join(lines) + "\n"


def access_log_line():
    ip = "%d.%d.%d.%d" % (R.randint(1, 223), R.randint(0, 255), R.randint(0, 255), R.randint(1, 254))
    ua = pick(["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
               "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
               "curl/8.5.0", "Googlebot/2.1 (+http://www.google.com/bot.html)",
               "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"])
    return '%s - - [%02d/%s/2024:%02d:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "-" "%s"' % (
        ip, R.randint(1, 28), pick(["Jan", "Feb", "Mar", "Apr", "May", "Jun"]), R.randint(0, 23),
        R.randint(0, 59), R.randint(0, 59), pick(["GET", "GET", "POST"]), _req_path(),
        pick([200, 200, 301, 304, 404]), R.randint(200, 90000), ua)


# ===========================================================================
# POSITIVES: private keys
# ===========================================================================

def pos_keys(c, K):
    cat = "keys"
    A = lambda p, t: c.add(p, t, True, cat)
    N = lambda p, t: c.add(p, t, False, cat)   # public halves that sit next to them

    priv, pub, _ = K.ssh("ed25519", "alice@thinkpad-x1")
    A("home/alice/.ssh/id_ed25519", priv)
    N("home/alice/.ssh/id_ed25519.pub", pub)

    priv, pub, _ = K.ssh("rsa", "deploy@build-01", bits=3072)
    A("home/deploy/.ssh/id_rsa", priv)
    N("home/deploy/.ssh/id_rsa.pub", pub)

    priv, pub, _ = K.ssh("ecdsa", "ops@bastion", bits=256)
    A("home/ops/.ssh/id_ecdsa", priv)

    priv, pub, _ = K.ssh("ed25519", "gitlab-runner deploy key")
    A("srv/gitlab-runner/ssh/deploy_key", priv)
    N("srv/gitlab-runner/ssh/deploy_key.pub", pub)

    priv, pub, _ = K.ssh("rsa", "jens@old-laptop", bits=2048, pem=True)
    A("home/jens/.ssh/legacy_rsa", priv)

    dom = "shop.kessler-logistik.de"
    key = K.rsa_pkcs8(2048)
    A("opt/nginx/ssl/%s.key" % dom, key)
    N("opt/nginx/ssl/%s.crt" % dom, K.cert(key, dom, "Kessler Logistik GmbH"))

    key = K.rsa_trad(2048)
    A("srv/haproxy/certs/api.northwind-apps.co.uk.pem",
      K.cert(key, "api.northwind-apps.co.uk", "Northwind Apps Ltd") + key)

    key = K.ec("prime256v1", params=False)
    crt = K.cert(key, "shop.greenleaf-organics.com")
    A("home/dev/projects/shop/deploy/k8s/tls-secret.yaml",
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-tls\n  namespace: shop\n"
      "  labels:\n    app.kubernetes.io/name: shop\ntype: kubernetes.io/tls\nstringData:\n"
      "  tls.crt: |\n%s\n  tls.key: |\n%s\n" % (indent(crt, 4), indent(key, 4)))

    priv, pub, _ = K.ssh("ed25519", "ansible@deploy")
    A("srv/ansible/inventories/prod/group_vars/web/vars.yml",
      "---\n# web tier\nnginx_worker_processes: auto\nnginx_client_max_body_size: 64m\n"
      "app_user: shop\napp_root: /srv/shop\ndeploy_branch: main\n\n"
      "deploy_ssh_public_key: \"%s\"\ndeploy_ssh_private_key: |\n%s\n\n"
      "logrotate_keep_days: 14\n" % (pub.strip(), indent(priv, 2)))

    key = K.rsa_pkcs8(2048)
    A("home/dev/projects/edge/envs/prod.tfvars",
      'region        = "eu-central-1"\ninstance_type = "t3.small"\ndomain        = "edge.brightline-analytics.com"\n\n'
      "origin_tls_private_key = <<EOT\n%sEOT\n\nenable_waf = true\n" % key)

    key = K.rsa_trad(2048)
    A("opt/billing/app/signing.py",
      '"""Signs invoice PDFs before upload to the archive."""\nimport base64\nimport hashlib\n\n'
      "from cryptography.hazmat.primitives import hashes, serialization\n"
      "from cryptography.hazmat.primitives.asymmetric import padding\n\n"
      'PRIVATE_KEY = b"""%s"""\n\n\n'
      "def sign(data: bytes) -> str:\n    key = serialization.load_pem_private_key(PRIVATE_KEY, password=None)\n"
      "    sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())\n"
      "    return base64.b64encode(sig).decode()\n" % key)

    key = K.ed25519()
    A("home/dev/projects/webhooks/src/sign.js",
      "'use strict';\nconst crypto = require('crypto');\n\n"
      "const privateKey = `%s`;\n\n"
      "function signPayload(body) {\n  return crypto.sign(null, Buffer.from(body), privateKey).toString('base64');\n}\n\n"
      "module.exports = { signPayload };\n" % key)

    priv, pub, _ = K.ssh("ed25519", "gitlab-ci@api")
    A("home/dev/projects/api/.gitlab-ci.yml",
      "stages: [test, deploy]\n\nvariables:\n  DEPLOY_HOST: app-01.internal\n  SSH_PRIVATE_KEY: |\n%s\n\n"
      "test:\n  stage: test\n  image: python:3.12\n  script:\n    - pip install -r requirements.txt\n    - pytest -q\n\n"
      "deploy:\n  stage: deploy\n  image: alpine:3.19\n  before_script:\n    - apk add --no-cache openssh-client\n"
      "    - eval $(ssh-agent -s)\n    - echo \"$SSH_PRIVATE_KEY\" | tr -d '\\r' | ssh-add -\n"
      "  script:\n    - ssh deploy@$DEPLOY_HOST 'cd /srv/api && git pull && systemctl restart api'\n"
      "  only: [main]\n" % indent(priv, 4))

    priv, pub, _ = K.ssh("rsa", "backup@nas", bits=2048)
    A("home/marta/notes/server-access.md",
      "# Server access\n\nNAS: `nas.fritz.box` (user `backup`, port 2222)\n\n"
      "Key for the backup user (copy to `~/.ssh/nas_backup`, chmod 600):\n\n```\n%s```\n\n"
      "Public part is already in `/volume1/homes/backup/.ssh/authorized_keys`.\n" % priv)

    priv, pub, _ = K.ssh("ed25519", "build@ci-runner-02")
    A("home/bob/Mail/sent/1712345678.M123P4567.mail01",
      "Return-Path: <bob.weber@kessler-logistik.de>\nFrom: Bob Weber <bob.weber@kessler-logistik.de>\n"
      "To: Jens Becker <jens.becker@kessler-logistik.de>\nSubject: key for the build box\n"
      "Date: Fri, 05 Apr 2024 16:41:18 +0200\nMessage-ID: <%s@kessler-logistik.de>\nMIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=utf-8\n\nHi Jens,\n\nhere is the key for ci-runner-02, the old one is revoked.\n\n"
      "%s\nCheers,\nBob\n" % (ruuid(), priv))

    key = K.rsa_trad(2048)
    src = ("import paramiko, io\n\nKEY = \"\"\"%s\"\"\"\n\npkey = paramiko.RSAKey.from_private_key(io.StringIO(KEY))\n"
           "t = paramiko.Transport((\"sftp.partner-edi.net\", 22))\nt.connect(username=\"greenleaf\", pkey=pkey)\n"
           "sftp = paramiko.SFTPClient.from_transport(t)\nsftp.listdir(\"/outbound\")" % key)
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Pull EDI files from partner SFTP\n"]},
        {"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [
            {"name": "stdout", "output_type": "stream", "text": ["['ORDERS_20240311.edi', 'DESADV_20240311.edi']\n"]}],
         "source": [l + "\n" for l in src.split("\n")[:-1]] + [src.split("\n")[-1]]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "version": "3.11.4"}},
        "nbformat": 4, "nbformat_minor": 5}
    A("home/priya/notebooks/edi-sftp-pull.ipynb", json.dumps(nb, indent=1))

    nums = K.rsa_numbers(K.rsa_trad(2048))
    sec, pubk, fpr = pgp_keys(nums, "Bob Weber <bob.weber@kessler-logistik.de>", 1680000000 + R.randint(0, 9999999))
    kid = rhex(8).upper()   # file names stay stable across runs; key bytes do not
    A("home/bob/backup/gpg/secret-key-%s.asc" % kid, pgp_armor("PRIVATE", sec))
    N("home/bob/backup/gpg/public-key-%s.asc" % kid, pgp_armor("PUBLIC", pubk))

    nums = K.rsa_numbers(K.rsa_trad(3072))
    sec, pubk, fpr = pgp_keys(nums, "Release Signing <release@polarbyte.fi>", 1650000000 + R.randint(0, 9999999))
    A("home/lena/Documents/release-signing.md",
      "# Release signing key\n\nFingerprint: `%s`\n\nOffline copy of the secret key (import with `gpg --import`):\n\n"
      "```\n%s```\n" % (" ".join(fpr[i:i + 4] for i in range(0, 40, 4)), pgp_armor("PRIVATE", sec)))

    key = K.ec("prime256v1", params=True)
    ca = K.cert(K.ec("prime256v1", params=False), "Fjordvik VPN CA", "Fjordvik Marine AS", 3650)
    crt = K.cert(key, "laptop-astrid", "Fjordvik Marine AS")
    A("home/astrid/vpn/fjordvik.ovpn",
      "client\ndev tun\nproto udp\nremote vpn.fjordvik.no 1194\nresolv-retry infinite\nnobind\n"
      "persist-key\npersist-tun\nremote-cert-tls server\ncipher AES-256-GCM\nverb 3\n"
      "<ca>\n%s</ca>\n<cert>\n%s</cert>\n<key>\n%s</key>\n" % (ca, crt, key))

    key = K.rsa_pkcs8(2048)
    lines = key.strip().split("\n")
    java_lines = "\n".join('        + "%s\\n"' % l for l in lines[1:])
    A("srv/app/src/main/java/com/northwind/auth/TokenSigner.java",
      "package com.northwind.auth;\n\nimport java.security.KeyFactory;\nimport java.security.PrivateKey;\n"
      "import java.security.spec.PKCS8EncodedKeySpec;\nimport java.util.Base64;\n\npublic final class TokenSigner {\n\n"
      '    private static final String SIGNING_KEY = "%s\\n"\n%s;\n\n'
      "    static PrivateKey load() throws Exception {\n        String b64 = SIGNING_KEY.replaceAll(\"-----[A-Z ]+-----\", \"\").replaceAll(\"\\\\s\", \"\");\n"
      "        return KeyFactory.getInstance(\"RSA\").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64)));\n"
      "    }\n}\n" % (lines[0], java_lines))

    nums = K.rsa_numbers(K.rsa_trad(2048))
    A("home/dev/projects/sso/config/jwks-private.json",
      json.dumps({"keys": [jwk_from_rsa(nums, "sso-%s" % rhex(8))]}, indent=2) + "\n")

    nums = K.rsa_numbers(K.rsa_trad(2048))
    A("home/tom/Documents/putty/fileserver.ppk", ppk_from_rsa(nums, "rsa-key-20230614"))

    priv, pub, _ = K.ssh("rsa", "", bits=2048)
    A("srv/infra/cloud-init/web-03/user-data",
      "#cloud-config\nhostname: web-03\nmanage_etc_hosts: true\npackage_update: true\npackages:\n  - nginx\n  - fail2ban\n"
      "ssh_pwauth: false\nssh_deletekeys: true\nssh_keys:\n  rsa_private: |\n%s\n  rsa_public: %s\n"
      "runcmd:\n  - systemctl enable --now nginx\n" % (indent(priv, 4), pub.strip()))

    priv, pub, _ = K.ssh("ed25519", "provision@bootstrap")
    A("opt/provision/bootstrap.sh",
      "#!/bin/bash\nset -euo pipefail\n\n# one-shot bootstrap for new build agents\nuseradd -m -s /bin/bash builder || true\n"
      "install -d -m 700 -o builder -g builder /home/builder/.ssh\n\n"
      "cat > /home/builder/.ssh/id_ed25519 <<'EOF'\n%sEOF\nchmod 600 /home/builder/.ssh/id_ed25519\n"
      "chown builder: /home/builder/.ssh/id_ed25519\n\nsu - builder -c 'ssh-keyscan git.internal >> ~/.ssh/known_hosts'\n" % priv)

    priv, pub, _ = K.ssh("ecdsa", "ci@runner", bits=384)
    inj = ["@TS@.512Z INFO  [job-48213] $ cat ~/.ssh/id_ecdsa"] + priv.rstrip("\n").split("\n") + \
          ["@TS@.530Z INFO  [job-48213] $ ssh -o StrictHostKeyChecking=no deploy@app-02 ./release.sh"]
    A("home/ci/job-logs/2024-03/job-48213.log", sized_log(200 * 1024, "ci", inj, 0.73))

    key = K.ec("prime256v1", params=False)
    pk8 = subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", K._keyfile(key)],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    A("home/dev/projects/mobile/fastlane/AuthKey_%s.p8" % rs(10, UPPER_ALNUM), pk8)

    key = K.rsa_trad(3072)
    A("srv/sso/saml/sp-signing.key", key)
    N("srv/sso/saml/sp-signing.crt", K.cert(key, "sso.rossimeccanica.it", "Rossi Meccanica Srl", 3650))

    key = K.ec("secp384r1", params=False)
    A("home/dev/projects/gateway/internal/auth/keys.go",
      "package auth\n\nimport (\n\t\"crypto/x509\"\n\t\"encoding/pem\"\n)\n\n"
      "// signingKeyPEM is the ES384 key used for internal service tokens.\nvar signingKeyPEM = []byte(`%s`)\n\n"
      "func signingKey() (any, error) {\n\tblock, _ := pem.Decode(signingKeyPEM)\n\treturn x509.ParseECPrivateKey(block.Bytes)\n}\n" % key)

    key = K.rsa_pkcs8(4096)
    A("var/www/shop/config/jwt/private.pem", key)
    N("var/www/shop/config/jwt/public.pem", K.pubkey(key))

    key = K.ec("prime256v1", params=False)
    A("home/kai/projects/billing/config/initializers/apns.rb",
      "# frozen_string_literal: true\n\nAPNS_CONFIG = {\n  team_id: \"%s\",\n  key_id: \"%s\",\n"
      "  private_key: <<~PEM\n%s\n  PEM\n}.freeze\n" % (rs(10, UPPER_ALNUM), rs(10, UPPER_ALNUM), indent(key, 4)))


# ===========================================================================
# POSITIVES: cloud credentials and service tokens
# ===========================================================================

def pos_cloud(c, K):
    cat = "cloud"
    A = lambda p, t: c.add(p, t, True, cat)

    # --- AWS ---------------------------------------------------------------
    A("home/alice/.aws/credentials",
      "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n[prod-admin]\n"
      "aws_access_key_id = %s\naws_secret_access_key = %s\nregion = eu-west-1\n"
      % (aws_key_id(), aws_secret(), aws_key_id(), aws_secret()))

    A("srv/etl/jobs/export_to_s3.py",
      "import datetime\nimport boto3\n\nBUCKET = \"brightline-exports\"\n\n"
      "s3 = boto3.client(\n    \"s3\",\n    region_name=\"eu-central-1\",\n    aws_access_key_id=\"%s\",\n"
      "    aws_secret_access_key=\"%s\",\n)\n\n\ndef upload(path):\n"
      "    key = \"daily/%%s/%%s\" %% (datetime.date.today().isoformat(), path.rsplit(\"/\", 1)[-1])\n"
      "    s3.upload_file(path, BUCKET, key)\n    return key\n" % (aws_key_id(), aws_secret()))

    A("home/dev/projects/infra/terraform.tfvars",
      'aws_region     = "eu-central-1"\naws_access_key = "%s"\naws_secret_key = "%s"\n\n'
      'vpc_cidr       = "10.20.0.0/16"\nenvironment    = "production"\ninstance_count = 3\n' % (aws_key_id(), aws_secret()))

    A("opt/media/docker-compose.yml",
      "services:\n  thumbor:\n    image: ghcr.io/minimalcompact/thumbor:7.7\n    restart: unless-stopped\n"
      "    ports:\n      - \"8888:80\"\n    environment:\n      LOADER: tc_aws.loaders.s3_loader\n"
      "      TC_AWS_REGION: eu-west-1\n      TC_AWS_LOADER_BUCKET: media-originals\n"
      "      AWS_ACCESS_KEY_ID: %s\n      AWS_SECRET_ACCESS_KEY: %s\n"
      "  redis:\n    image: redis:7-alpine\n    restart: unless-stopped\n" % (aws_key_id(), aws_secret()))

    A("home/dev/projects/site/.github/workflows/deploy.yml",
      "name: deploy\non:\n  push:\n    branches: [main]\n\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n"
      "    env:\n      AWS_ACCESS_KEY_ID: %s\n      AWS_SECRET_ACCESS_KEY: %s\n      AWS_DEFAULT_REGION: eu-central-1\n"
      "    steps:\n      - uses: actions/checkout@v4\n      - run: npm ci && npm run build\n"
      "      - run: aws s3 sync ./public s3://www.greenleaf-organics.com --delete\n"
      "      - run: aws cloudfront create-invalidation --distribution-id E%s --paths '/*'\n"
      % (aws_key_id(), aws_secret(), rs(13, UPPER_ALNUM)))

    A("opt/backup/bin/s3-offsite.sh",
      "#!/bin/sh\n# nightly offsite copy, called from cron\nexport AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY='%s'\n"
      "export AWS_DEFAULT_REGION=eu-north-1\n\nrestic -r s3:s3.amazonaws.com/fjordvik-offsite backup /srv/data --exclude-caches\n"
      "restic -r s3:s3.amazonaws.com/fjordvik-offsite forget --keep-daily 7 --keep-weekly 5 --prune\n"
      % (aws_key_id(), aws_secret()))

    A("srv/api/src/main/resources/application-prod.properties",
      "server.port=8080\nspring.jpa.hibernate.ddl-auto=validate\nlogging.level.root=INFO\n"
      "cloud.aws.region.static=eu-central-1\ncloud.aws.stack.auto=false\n"
      "cloud.aws.credentials.access-key=%s\ncloud.aws.credentials.secret-key=%s\n"
      "app.documents.bucket=northwind-docs-prod\n" % (aws_key_id(), aws_secret()))

    inj = ["@TS@.101Z DEBUG [worker-2] botocore.credentials: loaded credentials from env "
           "AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s" % (aws_key_id(), aws_secret())]
    A("srv/etl/logs/worker-2024-05.log", sized_log(210 * 1024, "worker", inj, 0.81))

    # --- GCP ----------------------------------------------------------------
    proj = gcp_project()
    A("home/dev/projects/analytics/credentials/bq-loader-%s.json" % rhex(12),
      json.dumps(gcp_sa(K, proj, "bq-loader"), indent=2) + "\n")

    proj = gcp_project()
    sa = json.dumps(gcp_sa(K, proj, "gcs-backup"), indent=2)
    A("home/dev/projects/shop/deploy/k8s/gcs-credentials.yaml",
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: gcs-credentials\n  namespace: shop\ntype: Opaque\n"
      "stringData:\n  key.json: |\n%s\n" % indent(sa, 4))

    proj = gcp_project()
    sa = gcp_sa(K, proj, "sheets-reader")
    src = "from google.oauth2 import service_account\nimport gspread\n\ninfo = " + json.dumps(sa, indent=4) + \
          "\ncreds = service_account.Credentials.from_service_account_info(info, scopes=[\"https://www.googleapis.com/auth/spreadsheets.readonly\"])\n" \
          "gc = gspread.authorize(creds)\nws = gc.open(\"Q2 pipeline\").sheet1\nlen(ws.get_all_records())"
        
    nb = {"cells": [{"cell_type": "code", "execution_count": 1, "metadata": {},
                     "outputs": [{"data": {"text/plain": ["412"]}, "execution_count": 1, "metadata": {},
                                  "output_type": "execute_result"}],
                     "source": [l + "\n" for l in src.split("\n")[:-1]] + [src.split("\n")[-1]]}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    A("home/priya/notebooks/pipeline-report.ipynb", json.dumps(nb, indent=1))

    # --- Azure ---------------------------------------------------------------
    acct = pick(["nwappsprod", "kesslerdocs", "heliosdata"]) + rdigits(2)
    A("srv/portal/appsettings.Production.json", json.dumps({
        "Logging": {"LogLevel": {"Default": "Information", "Microsoft.AspNetCore": "Warning"}},
        "AllowedHosts": "*",
        "ConnectionStrings": {
            "Storage": "DefaultEndpointsProtocol=https;AccountName=%s;AccountKey=%s;EndpointSuffix=core.windows.net" % (acct, azure_storage_key()),
            "Sql": "Server=tcp:nw-sql-prod.database.windows.net,1433;Initial Catalog=portal;Persist Security Info=False;"
                   "User ID=portal_app;Password=%s;MultipleActiveResultSets=False;Encrypt=True;" % strong_password()},
        "AzureAd": {"Instance": "https://login.microsoftonline.com/", "TenantId": ruuid(), "ClientId": ruuid(),
                    "ClientSecret": azure_client_secret()}}, indent=2) + "\n")

    A("home/dev/projects/orders-func/local.settings.json", json.dumps({
        "IsEncrypted": False,
        "Values": {
            "FUNCTIONS_WORKER_RUNTIME": "node",
            "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=ordersfunc%s;AccountKey=%s;EndpointSuffix=core.windows.net" % (rdigits(3), azure_storage_key()),
            "ServiceBusConnection": "Endpoint=sb://orders-%s.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=%s" % (rs(6, LOWER_ALNUM), b64(rbytes(32))),
            "ORDERS_QUEUE": "orders-in"}}, indent=2) + "\n")

    A("home/marta/scripts/Copy-Backups.ps1",
      "# Copies the nightly SQL backups to blob storage\n$ErrorActionPreference = 'Stop'\n"
      "$source = 'D:\\Backups\\SQL'\n"
      "$sas = 'https://kesslerbackup.blob.core.windows.net/sql?sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2026-12-31T22:59:59Z&st=2024-01-01T00:00:00Z&spr=https&sig=%s'\n"
      "azcopy copy \"$source\\*\" $sas --recursive --overwrite=ifSourceNewer\n" % azure_sas_sig())

    # --- GitHub / GitLab ------------------------------------------------------
    A("home/bob/.git-credentials", "https://bobweber:%s@github.com\nhttps://oauth2:%s@gitlab.kessler-logistik.de\n"
      % (github_token("ghp"), gitlab_pat()))

    A("home/dev/.config/gh/hosts.yml", "github.com:\n    users:\n        devkessler:\n            oauth_token: %s\n"
      "    git_protocol: https\n    oauth_token: %s\n    user: devkessler\n" % ((lambda t: (t, t))(github_token("gho"))))

    A("home/dev/projects/release-bot/bot.py",
      "import os\nimport requests\n\nREPO = \"polarbyte/firmware\"\nGITHUB_TOKEN = \"%s\"\n\n"
      "session = requests.Session()\nsession.headers.update({\n    \"Authorization\": f\"Bearer {GITHUB_TOKEN}\",\n"
      "    \"Accept\": \"application/vnd.github+json\",\n})\n\n\ndef create_release(tag, notes):\n"
      "    r = session.post(f\"https://api.github.com/repos/{REPO}/releases\", json={\"tag_name\": tag, \"body\": notes})\n"
      "    r.raise_for_status()\n    return r.json()[\"html_url\"]\n" % github_fine_grained())

    A("opt/tools/mirror-repos.sh",
      "#!/usr/bin/env bash\nset -e\nGITLAB=https://gitlab.com/api/v4\nGROUP=heliossolar\n\n"
      "for id in $(curl -s --header \"PRIVATE-TOKEN: %s\" \"$GITLAB/groups/$GROUP/projects?per_page=100\" | jq -r '.[].id'); do\n"
      "  echo \"mirroring $id\"\ndone\n" % gitlab_pat())

    A("srv/gitlab-runner/config/config.toml",
      "concurrent = 4\ncheck_interval = 0\nshutdown_timeout = 0\n\n[session_server]\n  session_timeout = 1800\n\n"
      "[[runners]]\n  name = \"docker-runner-01\"\n  url = \"https://gitlab.heliossolar.es\"\n  id = %d\n"
      "  token = \"%s\"\n  token_obtained_at = 2024-02-11T09:12:44Z\n  token_expires_at = 0001-01-01T00:00:00Z\n"
      "  executor = \"docker\"\n  [runners.docker]\n    tls_verify = false\n    image = \"alpine:3.19\"\n"
      "    privileged = false\n    volumes = [\"/cache\"]\n    shm_size = 0\n" % (R.randint(10, 900), gitlab_runner()))

    A("home/dev/projects/ops/.github/workflows/sync.yml",
      "name: nightly-sync\non:\n  schedule:\n    - cron: '17 3 * * *'\njobs:\n  sync:\n    runs-on: ubuntu-latest\n"
      "    steps:\n      - uses: actions/checkout@v4\n        with:\n          repository: brightline/internal-config\n"
      "          token: %s\n      - run: ./scripts/sync.sh\n" % github_token("ghp"))

    # --- Slack ---------------------------------------------------------------
    A("home/dev/projects/standup-bot/app.js",
      "const { App } = require('@slack/bolt');\n\nconst app = new App({\n  token: '%s',\n"
      "  signingSecret: '%s',\n});\n\napp.command('/standup', async ({ command, ack, say }) => {\n"
      "  await ack();\n  await say(`Thanks <@${command.user_id}>, noted.`);\n});\n\n"
      "(async () => {\n  await app.start(process.env.PORT || 3000);\n  console.log('standup bot running');\n})();\n"
      % (slack_bot(), rhex(32)))

    A("srv/monitoring/alertmanager/alertmanager.yml",
      "global:\n  resolve_timeout: 5m\n  slack_api_url: '%s'\n\nroute:\n  receiver: ops-slack\n  group_by: [alertname, instance]\n"
      "  group_wait: 30s\n  repeat_interval: 4h\n\nreceivers:\n  - name: ops-slack\n    slack_configs:\n"
      "      - channel: '#ops-alerts'\n        send_resolved: true\n        title: '{{ .CommonLabels.alertname }}'\n" % slack_webhook())

    A("home/dev/projects/deployer/notify/slack.go",
      "package notify\n\nimport (\n\t\"bytes\"\n\t\"encoding/json\"\n\t\"net/http\"\n)\n\n"
      "const webhookURL = \"%s\"\n\nfunc Post(text string) error {\n"
      "\tbody, _ := json.Marshal(map[string]string{\"text\": text})\n"
      "\t_, err := http.Post(webhookURL, \"application/json\", bytes.NewReader(body))\n\treturn err\n}\n" % slack_webhook())

    A("home/jens/scripts/export_slack_channel.py",
      "from slack_sdk import WebClient\n\nclient = WebClient(token=\"%s\")\n\n"
      "resp = client.conversations_history(channel=\"C%s\", limit=1000)\nfor m in resp[\"messages\"]:\n"
      "    print(m.get(\"user\"), m.get(\"text\", \"\")[:80])\n" % (slack_user(), rs(10, UPPER_ALNUM)))

    # --- Stripe / SendGrid / Twilio / Mailgun ---------------------------------
    A("var/www/shop/config/payment.php",
      "<?php\n\nrequire_once __DIR__ . '/../vendor/autoload.php';\n\n"
      "\\Stripe\\Stripe::setApiKey('%s');\n\nreturn [\n    'currency' => 'eur',\n"
      "    'success_url' => 'https://shop.greenleaf-organics.com/checkout/success',\n"
      "    'cancel_url' => 'https://shop.greenleaf-organics.com/cart',\n];\n" % stripe_secret())

    A("home/kai/projects/billing/config/initializers/stripe.rb",
      "Rails.configuration.stripe = {\n  publishable_key: \"pk_live_%s\",\n  secret_key: \"%s\",\n"
      "  webhook_secret: \"%s\"\n}\n\nStripe.api_key = Rails.configuration.stripe[:secret_key]\n"
      % (rs(99), stripe_secret("rk_live_"), stripe_whsec()))

    A("srv/portal/portal/settings/production.py",
      "from .base import *  # noqa\n\nDEBUG = False\nALLOWED_HOSTS = [\"portal.northwind-apps.co.uk\"]\n\n"
      "EMAIL_BACKEND = \"django.core.mail.backends.smtp.EmailBackend\"\nEMAIL_HOST = \"smtp.sendgrid.net\"\n"
      "EMAIL_PORT = 587\nEMAIL_USE_TLS = True\nEMAIL_HOST_USER = \"apikey\"\nEMAIL_HOST_PASSWORD = \"%s\"\n"
      "DEFAULT_FROM_EMAIL = \"Northwind Portal <no-reply@northwind-apps.co.uk>\"\n" % sendgrid())

    A("srv/app/src/main/java/com/northwind/mail/MailConfig.java",
      "package com.northwind.mail;\n\nimport com.sendgrid.SendGrid;\nimport org.springframework.context.annotation.Bean;\n"
      "import org.springframework.context.annotation.Configuration;\n\n@Configuration\npublic class MailConfig {\n\n"
      "    private static final String SENDGRID_API_KEY = \"%s\";\n\n    @Bean\n    public SendGrid sendGrid() {\n"
      "        return new SendGrid(SENDGRID_API_KEY);\n    }\n}\n" % sendgrid())

    A("home/tom/scripts/sms_alert.rb",
      "require 'twilio-ruby'\n\naccount_sid = '%s'\nauth_token  = '%s'\n\n"
      "client = Twilio::REST::Client.new(account_sid, auth_token)\nclient.messages.create(\n"
      "  from: '+14155550123',\n  to: ARGV[0],\n  body: ARGV[1]\n)\n" % (twilio_sid(), rhex(32)))

    A("home/pi/homeassistant/secrets.yaml",
      "# Use this file to store secrets like usernames and passwords.\nlatitude_home: 52.5200\nlongitude_home: 13.4050\n"
      "twilio_account_sid: %s\ntwilio_auth_token: %s\nmqtt_password: %s\nfritzbox_password: %s\n"
      % (twilio_sid(), rhex(32), strong_password(), human_password()))

    A("home/dev/projects/notifier/mailer/mailgun.go",
      "package mailer\n\nimport (\n\t\"context\"\n\t\"time\"\n\n\t\"github.com/mailgun/mailgun-go/v4\"\n)\n\n"
      "var mg = mailgun.NewMailgun(\"mg.polarbyte.fi\", \"%s\")\n\nfunc Send(to, subject, body string) error {\n"
      "\tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)\n\tdefer cancel()\n"
      "\tm := mg.NewMessage(\"Polar Byte <noreply@polarbyte.fi>\", subject, body, to)\n\t_, _, err := mg.Send(ctx, m)\n\treturn err\n}\n"
      % mailgun_key())

    A("opt/newsletter/config.ini",
      "[general]\nsite_name = Helios Solar Newsletter\nbatch_size = 500\n\n[mailgun]\ndomain = news.heliossolar.es\n"
      "api_base = https://api.eu.mailgun.net/v3\napi_key = %s\n\n[unsubscribe]\nbase_url = https://heliossolar.es/u/\n" % mailgun_key())

    # --- databases ---------------------------------------------------------------
    A("srv/inventory/config.toml",
      "[server]\nbind = \"0.0.0.0:8080\"\nworkers = 4\n\n[database]\nurl = \"%s\"\nmax_connections = 20\n\n"
      "[log]\nlevel = \"info\"\n" % db_url("postgres"))

    A("var/www/blog/wp-config.php",
      "<?php\ndefine( 'DB_NAME', 'wp_blog' );\ndefine( 'DB_USER', 'wp_blog' );\ndefine( 'DB_PASSWORD', '%s' );\n"
      "define( 'DB_HOST', 'localhost' );\ndefine( 'DB_CHARSET', 'utf8mb4' );\ndefine( 'DB_COLLATE', '' );\n\n"
      "%s\n\n$table_prefix = 'wp_';\ndefine( 'WP_DEBUG', false );\n\nif ( ! defined( 'ABSPATH' ) ) {\n"
      "\tdefine( 'ABSPATH', __DIR__ . '/' );\n}\nrequire_once ABSPATH . 'wp-settings.php';\n"
      % (human_password(), "\n".join("define( '%s', '%s' );" % (k, rs(64, ALNUM + "!@#$%^&*()-_[]{}<>~+=,.;:/?|"))
                                     for k in ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
                                               "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"])))

    A("home/dev/projects/catalog/config/production.json", json.dumps({
        "port": 4000, "logLevel": "info",
        "mongo": {"uri": "mongodb+srv://catalog_rw:%s@cluster0.%s.mongodb.net/catalog?retryWrites=true&w=majority" % (strong_password(), rs(5, LOWER_ALNUM)),
                  "poolSize": 10},
        "images": {"cdn": "https://cdn.greenleaf-organics.com"}}, indent=2) + "\n")

    A("home/kai/projects/billing/config/sidekiq.yml",
      ":concurrency: 10\n:queues:\n  - critical\n  - default\n  - mailers\n:redis:\n  :url: redis://:%s@redis-billing.internal:6379/2\n"
      % strong_password())

    A("srv/wiki/config.py",
      "import os\n\nclass Config:\n    SQLALCHEMY_DATABASE_URI = \"mysql+pymysql://wiki:%s@mysql01.internal:3306/wiki?charset=utf8mb4\"\n"
      "    SQLALCHEMY_TRACK_MODIFICATIONS = False\n    UPLOAD_FOLDER = \"/srv/wiki/uploads\"\n" % strong_password())

    A("srv/api/src/main/resources/application.yml",
      "spring:\n  application:\n    name: orders-api\n  datasource:\n    url: jdbc:postgresql://pg-prod-1.internal:5432/orders\n"
      "    username: orders_app\n    password: %s\n    hikari:\n      maximum-pool-size: 15\n  jpa:\n    open-in-view: false\n"
      "server:\n  port: 8081\n" % human_password())

    A("srv/ansible/inventories/prod/group_vars/db/main.yml",
      "---\npostgresql_version: 16\npostgresql_listen_addresses: \"*\"\npostgresql_databases:\n  - name: shop\n  - name: crm\n"
      "postgresql_users:\n  - name: shop\n    password: \"%s\"\n  - name: crm\n    password: \"%s\"\n"
      "postgresql_replication_password: \"%s\"\n" % (strong_password(), human_password(), strong_password()))

    A("opt/queue-worker/worker.env.sh",
      "# sourced by systemd unit queue-worker.service\nAMQP_URL=\"amqp://orders:%s@rabbitmq.internal:5672/orders\"\n"
      "PREFETCH=20\nWORKERS=6\n" % strong_password())

    # --- registries ----------------------------------------------------------------
    A("home/dev/.npmrc", "//registry.npmjs.org/:_authToken=%s\n@brightline:registry=https://npm.pkg.github.com\n"
      "//npm.pkg.github.com/:_authToken=%s\nsave-exact=true\n" % (npm_token(), github_token("ghp")))

    A("home/lena/.pypirc", "[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\nusername = __token__\n"
      "password = %s\n\n[testpypi]\nrepository = https://test.pypi.org/legacy/\nusername = __token__\npassword = %s\n"
      % (pypi_token(), pypi_token("polarbyte-sdk")))

    A("home/ops/.docker/config.json", json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": b64(("polarbyteops:%s" % docker_pat()).encode())},
        "registry.gitlab.com": {"auth": b64(("ci-bot:%s" % gitlab_pat()).encode())}}}, indent="\t") + "\n")

    # --- app signing secrets ----------------------------------------------------
    A("home/dev/projects/catalog/config/default.js",
      "module.exports = {\n  port: 4000,\n  auth: {\n    jwtSecret: '%s',\n    jwtExpiresIn: '12h',\n    issuer: 'catalog-api',\n  },\n"
      "  cors: { origins: ['https://shop.greenleaf-organics.com'] },\n};\n" % jwt_secret())

    A("home/dev/projects/shop/shop/settings.py",
      "from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\n"
      "SECRET_KEY = '%s'\n\nDEBUG = False\nALLOWED_HOSTS = ['shop.greenleaf-organics.com']\n\n"
      "INSTALLED_APPS = [\n    'django.contrib.admin',\n    'django.contrib.auth',\n    'django.contrib.contenttypes',\n"
      "    'django.contrib.sessions',\n    'shop.catalog',\n]\n\nDATABASES = {\n    'default': {\n"
      "        'ENGINE': 'django.db.backends.postgresql',\n        'NAME': 'shop',\n        'USER': 'shop',\n"
      "        'PASSWORD': '%s',\n        'HOST': 'db.internal',\n    }\n}\n" % (django_key(), strong_password()))

    A("srv/redmine/config/secrets.yml",
      "development:\n  secret_key_base: <%%= ENV['SECRET_KEY_BASE'] %%>\n\nproduction:\n  secret_key_base: %s\n" % rhex(128))

    # --- kubernetes / vault / misc ---------------------------------------------
    ca = K.cert(K.ec("prime256v1", params=False), "kubernetes-ca", days=3650)
    ckey = K.ec("prime256v1", params=False)
    ccrt = K.cert(ckey, "kubernetes-admin", "system:masters")
    A("home/ops/.kube/config",
      "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: https://10.0.0.10:6443\n"
      "  name: prod\ncontexts:\n- context:\n    cluster: prod\n    user: kubernetes-admin\n  name: kubernetes-admin@prod\n"
      "current-context: kubernetes-admin@prod\nkind: Config\npreferences: {}\nusers:\n- name: kubernetes-admin\n  user:\n"
      "    client-certificate-data: %s\n    client-key-data: %s\n"
      % (b64(ca.encode()), b64(ccrt.encode()), b64(ckey.encode())))

    A("home/ops/.bashrc",
      "# ~/.bashrc\n[ -z \"$PS1\" ] && return\nHISTCONTROL=ignoreboth\nHISTSIZE=5000\nshopt -s histappend\n"
      "alias ll='ls -alF'\nalias k=kubectl\n\nexport VAULT_ADDR=https://vault.internal:8200\nexport VAULT_TOKEN=%s\n"
      "export DIGITALOCEAN_TOKEN=%s\n\nsource <(kubectl completion bash)\n" % (vault_token(), do_token()))

    A("home/jens/.netrc", "machine api.heroku.com\n  login jens.becker@kessler-logistik.de\n  password %s\n"
      "machine git.heroku.com\n  login jens.becker@kessler-logistik.de\n  password %s\n" % ((lambda t: (t, t))(ruuid())))

    A("home/priya/projects/summarizer/summarize.py",
      "import sys\nfrom openai import OpenAI\n\nclient = OpenAI(api_key=\"%s\")\n\n"
      "text = open(sys.argv[1]).read()\nresp = client.chat.completions.create(\n    model=\"gpt-4o-mini\",\n"
      "    messages=[{\"role\": \"user\", \"content\": \"Summarize:\\n\" + text}],\n)\nprint(resp.choices[0].message.content)\n" % openai_key())

    A("home/tom/bots/doorbell/bot.py",
      "import telebot\n\nbot = telebot.TeleBot(\"%s\")\nCHAT_ID = -100%s\n\n"
      "def ring(photo_path):\n    with open(photo_path, \"rb\") as f:\n        bot.send_photo(CHAT_ID, f, caption=\"Someone is at the door\")\n"
      % (telegram_token(), rdigits(10)))

    A("home/dev/projects/infra/do/main.tf",
      "terraform {\n  required_providers {\n    digitalocean = {\n      source  = \"digitalocean/digitalocean\"\n      version = \"~> 2.34\"\n    }\n  }\n}\n\n"
      "provider \"digitalocean\" {\n  token = \"%s\"\n}\n\nresource \"digitalocean_droplet\" \"web\" {\n  image  = \"ubuntu-22-04-x64\"\n"
      "  name   = \"web-1\"\n  region = \"fra1\"\n  size   = \"s-1vcpu-2gb\"\n}\n" % do_token())

    A("srv/shopify-sync/settings.toml",
      "[shop]\ndomain = \"greenleaf-organics.myshopify.com\"\naccess_token = \"%s\"\napi_version = \"2024-04\"\n\n"
      "[sync]\ninterval_minutes = 15\n" % shopify_token())

    A("home/priya/projects/rag-demo/notes.md",
      "# RAG demo setup\n\n1. `pip install -r requirements.txt`\n2. Model download needs the HF token: `huggingface-cli login --token %s`\n"
      "3. Claude key for the eval run: `export ANTHROPIC_API_KEY=%s`\n4. `python run_eval.py --split dev`\n" % (hf_token(), anthropic_key()))


# ===========================================================================
# POSITIVES: .env-style secrets
# ===========================================================================

def env_file(pairs, style="plain", header=None):
    out = []
    if header:
        out += ["# " + h for h in header.split("\n")] + [""]
    for kv in pairs:
        if kv is None:
            out.append("")
            continue
        if isinstance(kv, str):
            out.append(kv)
            continue
        k, v = kv
        if style == "dq":
            out.append('%s="%s"' % (k, v))
        elif style == "sq":
            out.append("%s='%s'" % (k, v))
        elif style == "export":
            out.append("export %s=%s" % (k, v))
        elif style == "mixed":
            out.append(pick(['%s="%s"', "%s=%s", "%s=%s"]) % (k, v))
        else:
            out.append("%s=%s" % (k, v))
    return "\n".join(out) + "\n"


def pos_env(c, K):
    cat = "env"
    A = lambda p, t: c.add(p, t, True, cat)

    A("var/www/crm/.env", env_file([
        ("APP_NAME", "\"Kessler CRM\""), ("APP_ENV", "production"), ("APP_KEY", "base64:" + b64(rbytes(32))),
        ("APP_DEBUG", "false"), ("APP_URL", "https://crm.kessler-logistik.de"), None,
        ("LOG_CHANNEL", "stack"), ("LOG_LEVEL", "warning"), None,
        ("DB_CONNECTION", "mysql"), ("DB_HOST", "127.0.0.1"), ("DB_PORT", "3306"), ("DB_DATABASE", "crm"),
        ("DB_USERNAME", "crm"), ("DB_PASSWORD", human_password()), None,
        ("MAIL_MAILER", "smtp"), ("MAIL_HOST", "smtp.office365.com"), ("MAIL_PORT", "587"),
        ("MAIL_USERNAME", "crm@kessler-logistik.de"), ("MAIL_PASSWORD", human_password()),
        ("MAIL_ENCRYPTION", "tls")]))

    A("srv/app/.env", env_file([
        ("NODE_ENV", "production"), ("PORT", "3000"), None,
        ("DATABASE_URL", db_url("postgresql")), ("REDIS_URL", "redis://:%s@redis:6379/0" % strong_password()), None,
        ("JWT_SECRET", jwt_secret()), ("SESSION_SECRET", rs(48)), ("COOKIE_DOMAIN", ".northwind-apps.co.uk")]))

    A("home/dev/projects/shop/.env", env_file([
        ("DJANGO_SETTINGS_MODULE", "shop.settings"), ("DJANGO_SECRET_KEY", django_key()), ("DJANGO_DEBUG", "0"),
        ("DATABASE_URL", db_url("postgres", host="localhost")), ("STRIPE_SECRET_KEY", stripe_secret()),
        ("STRIPE_WEBHOOK_SECRET", stripe_whsec())], style="sq"))

    A("opt/nextcloud/.env", env_file([
        ("MYSQL_ROOT_PASSWORD", strong_password()), ("MYSQL_PASSWORD", strong_password()),
        ("MYSQL_DATABASE", "nextcloud"), ("MYSQL_USER", "nextcloud"), ("NEXTCLOUD_ADMIN_USER", "admin"),
        ("NEXTCLOUD_ADMIN_PASSWORD", human_password()), ("NEXTCLOUD_TRUSTED_DOMAINS", "cloud.bakkerijvisser.nl"),
        ("REDIS_HOST_PASSWORD", strong_password())], header="nextcloud stack - docker compose --env-file .env up -d"))

    A("home/dev/projects/portal/.env.production", env_file([
        ("NEXT_PUBLIC_SITE_URL", "https://portal.brightline-analytics.com"), ("NEXTAUTH_URL", "https://portal.brightline-analytics.com"),
        ("NEXTAUTH_SECRET", b64(rbytes(32))), ("GITHUB_ID", rs(20, LOWER_ALNUM)), ("GITHUB_SECRET", rhex(40)),
        ("DATABASE_URL", db_url("postgresql"))], style="dq"))

    A("home/alice/projects/blog/.env.local", env_file([
        ("CONTENTFUL_SPACE_ID", rs(12, LOWER_ALNUM)), ("CONTENTFUL_ACCESS_TOKEN", rs(43, B64URL)),
        ("CONTENTFUL_PREVIEW_TOKEN", rs(43, B64URL)), ("REVALIDATE_SECRET", rhex(32))]))

    A("srv/grafana/grafana.env", env_file([
        ("GF_SERVER_ROOT_URL", "https://grafana.polarbyte.fi"), ("GF_SECURITY_ADMIN_USER", "admin"),
        ("GF_SECURITY_ADMIN_PASSWORD", human_password()), ("GF_DATABASE_TYPE", "postgres"),
        ("GF_DATABASE_HOST", "db:5432"), ("GF_DATABASE_PASSWORD", strong_password()),
        ("GF_SMTP_ENABLED", "true"), ("GF_SMTP_PASSWORD", sendgrid())]))

    A("home/dev/projects/api/.envrc", env_file([
        ("AWS_PROFILE", "dev"), ("STRIPE_API_KEY", stripe_secret()), ("SENTRY_AUTH_TOKEN", "sntrys_" + rs(120, B64URL)),
        ("PGPASSWORD", strong_password())], style="export", header="direnv: loaded automatically in this directory"))

    A("srv/keycloak/keycloak.env", env_file([
        ("KC_DB", "postgres"), ("KC_DB_URL", "jdbc:postgresql://db:5432/keycloak"), ("KC_DB_USERNAME", "keycloak"),
        ("KC_DB_PASSWORD", strong_password()), ("KEYCLOAK_ADMIN", "admin"), ("KEYCLOAK_ADMIN_PASSWORD", human_password()),
        ("KC_HOSTNAME", "sso.rossimeccanica.it")]))

    A("home/tom/bots/doorbell/.env", env_file([
        ("TELEGRAM_BOT_TOKEN", telegram_token()), ("CAMERA_URL", "rtsp://doorbell:%s@192.168.178.41:554/stream1" % human_password()),
        ("LOG_LEVEL", "info")]))

    A("srv/mastodon/.env.production", env_file([
        ("LOCAL_DOMAIN", "social.polarbyte.fi"), ("REDIS_HOST", "redis"), ("DB_HOST", "db"), ("DB_USER", "mastodon"),
        ("DB_NAME", "mastodon_production"), ("DB_PASS", strong_password()), ("SECRET_KEY_BASE", rhex(128)),
        ("OTP_SECRET", rhex(128)), ("VAPID_PRIVATE_KEY", b64url_nopad(rbytes(32)) + "="),
        ("VAPID_PUBLIC_KEY", b64url_nopad(b"\x04" + rbytes(64)) + "="), ("SMTP_SERVER", "smtp.mailgun.org"),
        ("SMTP_LOGIN", "postmaster@social.polarbyte.fi"), ("SMTP_PASSWORD", rhex(32) + "-" + rhex(8) + "-" + rhex(8))]))

    A("opt/n8n/.env", env_file([
        ("N8N_HOST", "automation.heliossolar.es"), ("N8N_PROTOCOL", "https"), ("N8N_ENCRYPTION_KEY", rs(32)),
        ("N8N_BASIC_AUTH_ACTIVE", "true"), ("N8N_BASIC_AUTH_USER", "helios"), ("N8N_BASIC_AUTH_PASSWORD", human_password()),
        ("GENERIC_TIMEZONE", "Europe/Madrid")], style="mixed"))

    A("home/priya/projects/summarizer/.env", env_file([
        ("OPENAI_API_KEY", openai_key()), ("PINECONE_API_KEY", ruuid()), ("PINECONE_ENV", "gcp-starter")]))

    A("srv/gitea/gitea.env", env_file([
        ("USER_UID", "1000"), ("USER_GID", "1000"), ("GITEA__database__DB_TYPE", "postgres"),
        ("GITEA__database__HOST", "db:5432"), ("GITEA__database__PASSWD", strong_password()),
        ("GITEA__security__SECRET_KEY", rs(64)), ("GITEA__security__INTERNAL_TOKEN",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + b64url_nopad(json.dumps({"nbf": 1700000000 + R.randint(0, 9999999)}).encode()) + "." + b64url_nopad(rbytes(32))),
        ("GITEA__mailer__PASSWD", human_password())]))

    A("home/dev/projects/catalog/.env.staging", env_file([
        ("MONGO_URI", "mongodb://catalog:%s@mongo-staging.internal:27017/catalog?authSource=admin" % strong_password()),
        ("S3_ACCESS_KEY_ID", aws_key_id()), ("S3_SECRET_ACCESS_KEY", aws_secret()), ("S3_BUCKET", "catalog-staging-img")]))

    A("srv/umami/.env", env_file([
        ("DATABASE_URL", db_url("postgresql", user="umami", db="umami")), ("APP_SECRET", rhex(64)),
        ("TRACKER_SCRIPT_NAME", "stats.js")]))

    A("opt/billing/.env", env_file([
        ("BILLING_DB_PASSWORD", human_password()), ("SMTP_PASSWORD", human_password()),
        ("SFTP_PASSWORD", human_password()), ("ARCHIVE_ENCRYPTION_KEY", b64(rbytes(32)))],
        header="billing service - do not commit"))

    A("home/kai/projects/billing/.env.development.local", env_file([
        ("RAILS_MASTER_KEY", rhex(32)), ("DATABASE_PASSWORD", strong_password()), ("SIDEKIQ_WEB_PASSWORD", human_password())]))

    A("srv/vaultwarden/.env", env_file([
        ("DOMAIN", "https://vault.bakkerijvisser.nl"), ("SIGNUPS_ALLOWED", "false"),
        ("ADMIN_TOKEN", b64(rbytes(48))), ("SMTP_HOST", "smtp.strato.de"), ("SMTP_FROM", "vault@bakkerijvisser.nl"),
        ("SMTP_USERNAME", "vault@bakkerijvisser.nl"), ("SMTP_PASSWORD", human_password())], style="sq"))

    A("srv/app/config/app.env", env_file([
        ("SPRING_PROFILES_ACTIVE", "prod"), ("SPRING_DATASOURCE_URL", "jdbc:mysql://mysql01:3306/orders"),
        ("SPRING_DATASOURCE_USERNAME", "orders"), ("SPRING_DATASOURCE_PASSWORD", human_password()),
        ("APP_ENCRYPTION_SECRET", rs(32))], header="EnvironmentFile for orders.service"))

    A("home/alice/projects/bookclub/.env", env_file([
        ("SECRET_KEY", rs(40, ALNUM + "!@#%^&*")), ("ADMIN_PASSWORD", human_password()), ("FLASK_ENV", "production")]))

    A("opt/outline/docker.env", env_file([
        ("SECRET_KEY", rhex(64)), ("UTILS_SECRET", rhex(64)), ("DATABASE_URL", db_url("postgres", user="outline", db="outline")),
        ("REDIS_URL", "redis://redis:6379"), ("URL", "https://docs.northwind-apps.co.uk"), ("SLACK_CLIENT_ID", rdigits(12) + "." + rdigits(13)),
        ("SLACK_CLIENT_SECRET", rhex(32)), ("OIDC_CLIENT_SECRET", rs(32))]))

    A("home/jens/projects/fleet-tracker/.env.prod", env_file([
        ("MQTT_BROKER", "mqtts://broker.kessler-logistik.de:8883"), ("MQTT_USERNAME", "tracker"), ("MQTT_PASSWORD", strong_password()),
        ("MAPBOX_SECRET_TOKEN", "sk.eyJ1Ijoia2Vzc2xlciIsImEiOiJ" + rs(24, B64URL) + "." + rs(22, B64URL))], style="dq"))

    A("srv/matomo/db.env", env_file([
        ("MYSQL_PASSWORD", human_password()), ("MYSQL_DATABASE", "matomo"), ("MYSQL_USER", "matomo"),
        ("MATOMO_DATABASE_PASSWORD", strong_password())]))

    A("home/lena/projects/release-tools/.env", env_file([
        ("TWINE_USERNAME", "__token__"), ("TWINE_PASSWORD", pypi_token("polarbyte-sdk")), ("GH_TOKEN", github_token("ghp"))]))

    A("srv/paperless/docker-compose.env", env_file([
        ("PAPERLESS_URL", "https://docs.fjordvik.no"), ("PAPERLESS_SECRET_KEY", rs(50)), ("PAPERLESS_TIME_ZONE", "Europe/Oslo"),
        ("PAPERLESS_OCR_LANGUAGE", "nor"), ("PAPERLESS_ADMIN_USER", "astrid"), ("PAPERLESS_ADMIN_PASSWORD", human_password()),
        ("PAPERLESS_DBPASS", strong_password())]))


# ===========================================================================
# POSITIVES: payment cards
# ===========================================================================

def cvv(num):
    return rdigits(4 if len(num) == 15 and num[:2] in ("34", "37") else 3)


def brand(num):
    if num[0] == "4":
        return "VISA"
    if num[:2] in ("34", "37"):
        return "AMEX"
    if num[:2] == "62":
        return "UNIONPAY"
    if num[:4] in ("6759", "6761", "5018", "5020"):
        return "MAESTRO"
    if num[0] == "5" or num[0] == "2":
        return "MASTERCARD"
    if num[:2] == "35":
        return "JCB"
    if num[:2] in ("36", "30"):
        return "DINERS"
    return "DISCOVER"


def pos_cards(c, K):
    cat = "cards"
    A = lambda p, t: c.add(p, t, True, cat)

    rows = ["customer_id,name,card_number,exp,cvv,billing_city"]
    for i in range(30):
        f, l = person()
        n = card()
        rows.append("%d,%s %s,%s,%s,%s,%s" % (10400 + i * 7, f, l, fmt_card(n, 0), expiry(), cvv(n), pick(CITIES)[0]))
    A("opt/billing/export/customers.csv", "\n".join(rows) + "\n")

    vals = []
    for i in range(12):
        n = card()
        vals.append("(%d,%d,'%s','%s','%s',%d.%02d,'2023-%02d-%02d %02d:%02d:00')" % (
            5000 + i, R.randint(100, 999), brand(n), fmt_card(n, 0), expiry(), R.randint(5, 900), R.randint(0, 99),
            R.randint(1, 12), R.randint(1, 28), R.randint(0, 23), R.randint(0, 59)))
    A("home/dev/backups/shop-legacy/payments-2023.sql",
      "-- MySQL dump 10.13  Distrib 5.7.42, for Linux (x86_64)\n--\n-- Host: localhost    Database: shop_legacy\n\n"
      "DROP TABLE IF EXISTS `payments`;\nCREATE TABLE `payments` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  `order_id` int NOT NULL,\n"
      "  `brand` varchar(16) DEFAULT NULL,\n  `card_number` varchar(32) DEFAULT NULL,\n  `card_exp` varchar(5) DEFAULT NULL,\n"
      "  `amount` decimal(10,2) NOT NULL,\n  `created_at` datetime NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"
      "LOCK TABLES `payments` WRITE;\nINSERT INTO `payments` VALUES %s;\nUNLOCK TABLES;\n" % ",".join(vals))

    n = card("visa")
    inj = ["@TS@.440Z DEBUG [gateway-3] payment authorize request: {\"amount\":4990,\"currency\":\"EUR\","
           "\"card\":{\"number\":\"%s\",\"exp_month\":%d,\"exp_year\":%d,\"cvc\":\"%s\"},\"order\":\"SO-%s\"}"
           % (n, R.randint(1, 12), R.randint(2025, 2030), cvv(n), rdigits(7))]
    A("srv/payments/logs/gateway-debug.log", sized_log(205 * 1024, "gateway", inj, 0.66))

    n = card("visa")
    f, l = person()
    A("home/marta/Mail/INBOX/1709811234.V801I2a4M55.mail01",
      "From: %s %s <%s>\nTo: orders@greenleaf-organics.com\nSubject: Re: Payment failed for order 48812\n"
      "Date: Thu, 07 Mar 2024 11:33:54 +0100\nMessage-ID: <%s@mail.gmail.com>\nContent-Type: text/plain; charset=UTF-8\n\n"
      "Hello,\n\nthe online payment keeps failing, can you charge it manually?\n\nCard: %s\nValid until %s, security code %s\n"
      "Name on card: %s %s\n\nThanks,\n%s\n" % (f, l, email_for(f, l), rhex(16), fmt_card(n, 1), expiry(), cvv(n), f.upper(), l.upper(), f))

    n = card("amex")
    A("home/alice/notes/travel-2024.md",
      "# Travel 2024\n\n## Lisbon (May)\n- Flight TP 571, seat 14C\n- Hotel booking ref 8812-KQ\n\n## Company card\n"
      "Amex Corporate: %s, exp %s, CID %s\nUse for flights + hotels only, per diem via expense report.\n" % (fmt_card(n, 1), expiry(), cvv(n)))

    n = card("mastercard")
    A("home/dev/projects/checkout/fixtures/failed_order_99231.json", json.dumps({
        "order_id": "SO-%s" % rdigits(7), "status": "payment_failed", "currency": "EUR", "total": 129.95,
        "payment": {"method": "card", "card": {"number": fmt_card(n, 0), "holder": " ".join(person()), "exp": expiry(), "cvc": cvv(n)},
                    "gateway_response": {"code": "05", "message": "Do not honor"}},
        "captured_from": "prod incident INC-%s" % rdigits(4)}, indent=2) + "\n")

    n = card("visa")
    A("home/jens/scripts/manual_charge.py",
      "import stripe, os\nstripe.api_key = os.environ[\"STRIPE_SECRET_KEY\"]\n\n"
      "# customer asked us to retry with the card from the phone call\ncard = {\n    \"number\": \"%s\",\n"
      "    \"exp_month\": %d,\n    \"exp_year\": %d,\n    \"cvc\": \"%s\",\n}\n\npm = stripe.PaymentMethod.create(type=\"card\", card=card)\nprint(pm.id)\n"
      % (fmt_card(n, 0), R.randint(1, 12), R.randint(2025, 2030), cvv(n)))

    n = card("mastercard2")
    A("var/www/shop/storage/receipts/order-77120.html",
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Order confirmation #77120</title></head>\n<body>\n"
      "<h1>Thank you for your order!</h1>\n<table>\n<tr><td>Order</td><td>#77120</td></tr>\n<tr><td>Total</td><td>&euro; 84,20</td></tr>\n"
      "<tr><td>Paid with</td><td>Mastercard %s</td></tr>\n<tr><td>Expiry</td><td>%s</td></tr>\n</table>\n"
      "<p>Questions? Reply to this e-mail.</p>\n</body></html>\n" % (fmt_card(n, 1), expiry()))

    rows = ["txn_id\tdate\tcard\tamount\tstatus"]
    for i in range(25):
        n = card()
        rows.append("T%s\t2024-02-%02d\t%s\t%d.%02d\t%s" % (rdigits(9), R.randint(1, 28), fmt_card(n, 2), R.randint(3, 500),
                                                         R.randint(0, 99), pick(["approved", "approved", "declined"])))
    A("opt/pos/exports/terminal-0042-feb.tsv", "\n".join(rows) + "\n")

    cards_yaml = "\n".join("  - holder: %s %s\n    number: \"%s\"\n    limit_eur: %d" % (
        *person(), fmt_card(card(pick(["visa", "mastercard"])), 1), pick([1000, 2500, 5000])) for _ in range(4))
    A("srv/expense-bot/config/cards.yaml", "company: Kessler Logistik GmbH\ncards:\n%s\nreport_channel: \"#finance\"\n" % cards_yaml)

    n = card("discover")
    A("home/bob/Documents/cards.txt", "personal\n--------\nDiscover: %s  exp %s  cvv %s\nPIN is in the safe\n" % (fmt_card(n, 2), expiry(), cvv(n)))

    rows = []
    for i in range(8):
        n = card()
        rows.append("<tr><td>%d</td><td>%s</td><td>%s</td><td>%.2f</td></tr>" % (i, brand(n), n, R.random() * 300))
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["## Chargeback analysis Q1\n"]},
        {"cell_type": "code", "execution_count": 7, "metadata": {}, "source": ["df[df.chargeback][['brand','pan','amount']].head(8)"],
         "outputs": [{"output_type": "execute_result", "execution_count": 7, "metadata": {},
                      "data": {"text/html": ["<table border=\"1\" class=\"dataframe\">\n", "<thead><tr><th></th><th>brand</th><th>pan</th><th>amount</th></tr></thead>\n<tbody>\n"]
                               + [r + "\n" for r in rows] + ["</tbody></table>"]}}]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}
    A("home/priya/notebooks/chargebacks-q1.ipynb", json.dumps(nb, indent=1))

    n = card("visa")
    A("srv/edi/archive/2024/03/order-%s.xml" % rdigits(6),
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Order>\n  <Header>\n    <OrderNumber>PO-%s</OrderNumber>\n    <Date>2024-03-14</Date>\n"
      "  </Header>\n  <Payment type=\"CreditCard\">\n    <CardNumber>%s</CardNumber>\n    <Expiration>%s</Expiration>\n"
      "    <CardHolder>%s %s</CardHolder>\n  </Payment>\n  <Lines>\n    <Line sku=\"GL-OAT-1KG\" qty=\"12\"/>\n  </Lines>\n</Order>\n"
      % (rdigits(6), n, expiry(), *person()))

    lines = []
    for i in range(40):
        lines.append("%s TERM0042 %s AUTH %s %s" % (ts(2024, 4), pick(["SALE", "SALE", "REFUND"]),
                                                   "%d.%02d" % (R.randint(1, 200), R.randint(0, 99)), pick(["00 APPROVED", "05 DECLINED"])))
    n = card("jcb")
    lines.insert(23, "%s TERM0042 SALE PAN=%s EXP=%s ENTRY=MANUAL" % (ts(2024, 4), fmt_card(n, 0), expiry().replace("/", "")))
    A("opt/pos/logs/terminal-0042.log", "\n".join(lines) + "\n")

    n = card("mastercard")
    A("var/www/shop/tests/manual/retry_payment.php",
      "<?php\n// reproduce ticket #4412 against live gateway\n$payload = [\n    'amount' => 2599,\n    'currency' => 'EUR',\n"
      "    'card' => [\n        'number' => '%s',\n        'exp' => '%s',\n        'cvc' => '%s',\n    ],\n];\n"
      "$ch = curl_init('https://gateway.example-psp.eu/v2/charges');\n" % (fmt_card(n, 2), expiry(), cvv(n)))

    n = card("unionpay")
    A("home/dev/projects/gateway/internal/psp/replay_test.go",
      "package psp\n\nimport \"testing\"\n\n// captured from production on 2024-01-18, customer complaint #8812\n"
      "var replayCard = Card{\n\tNumber:   \"%s\",\n\tExpMonth: %d,\n\tExpYear:  %d,\n\tHolder:   \"%s %s\",\n}\n\n"
      "func TestReplay(t *testing.T) {\n\tif _, err := Authorize(replayCard, 1999); err != nil {\n\t\tt.Fatal(err)\n\t}\n}\n"
      % (n, R.randint(1, 12), R.randint(2025, 2030), *person()))

    n = card("visa")
    A("home/dev/projects/checkout/web/src/debug/lastPayment.js",
      "// TODO remove: copied from the console while debugging 3DS\nexport const lastPayment = {\n  cardNumber: '%s',\n"
      "  expiry: '%s',\n  cvc: '%s',\n  threeDS: { version: '2.2.0', eci: '05' },\n};\n" % (fmt_card(n, 1), expiry(), cvv(n)))

    n = card("diners")
    A("srv/app/src/test/java/com/northwind/payments/ReplayChargeIT.java",
      "package com.northwind.payments;\n\nimport org.junit.jupiter.api.Test;\n\nclass ReplayChargeIT {\n\n"
      "    // real card from support ticket NW-2231, customer agreed to the re-run\n"
      "    private static final String PAN = \"%s\";\n\n    @Test\n    void replay() {\n"
      "        new ChargeClient().charge(PAN, \"%s\", 4200);\n    }\n}\n" % (fmt_card(n, 1), expiry()))

    n = card("visa")
    A("home/kai/projects/billing/script/refund_customer.rb",
      "# one-off refund for customer 77812\ncard = { number: '%s', exp: '%s' }\n"
      "Billing::Refund.new(card: card, amount_cents: 4_500).call\n" % (fmt_card(n, 2), expiry()))

    n = card("visa")
    A("opt/billing/bin/charge-legacy.sh",
      "#!/bin/sh\n# legacy API still takes raw card data\ncurl https://api.stripe.com/v1/tokens \\\n  -u \"$STRIPE_KEY:\" \\\n"
      "  -d \"card[number]=%s\" \\\n  -d \"card[exp_month]=%d\" \\\n  -d \"card[exp_year]=%d\" \\\n  -d \"card[cvc]=%s\"\n"
      % (n, R.randint(1, 12), R.randint(2025, 2030), cvv(n)))

    rows = ["date,merchant,pan,amount,currency,status"]
    total = 0
    full_at = 1800
    i = 0
    while total < 200 * 1024:
        n = card()
        pan = n if i == full_at else n[:6] + "*" * (len(n) - 10) + n[-4:]
        line = "2024-%02d-%02d,%s,%s,%d.%02d,EUR,%s" % (R.randint(1, 12), R.randint(1, 28),
                                                      pick(["GREENLEAF WEBSHOP", "GREENLEAF POS 1", "GREENLEAF POS 2"]), pan,
                                                      R.randint(1, 400), R.randint(0, 99), pick(["captured", "captured", "refunded"]))
        rows.append(line)
        total += len(line) + 1
        i += 1
    assert i > full_at
    A("opt/billing/export/transactions-2024.csv", "\n".join(rows) + "\n")

    tickets = []
    for i in range(6):
        f, l = person()
        body = "Order arrived damaged, please refund."
        if i == 3:
            n = card("mastercard")
            body = "Please refund to my card %s (exp %s), the old one was cancelled." % (fmt_card(n, 1), expiry())
        tickets.append({"id": 88120 + i, "subject": "Refund request", "requester": "%s %s" % (f, l), "body": body,
                        "created_at": ts(2024, 2) + "Z"})
    A("srv/helpdesk/exports/tickets-2024-02.json", json.dumps(tickets, indent=2) + "\n")

    n13 = card("visa13")
    n19 = card("visa19")
    nm = card("maestro")
    A("home/bob/Documents/old-cards.md",
      "# Old cards (cancelled?)\n\n| card | number | exp |\n|---|---|---|\n| Visa (2009) | %s | 04/12 |\n"
      "| Visa Debit | %s | %s |\n| Maestro | %s | %s |\n" % (n13, fmt_card(n19, 1), expiry(), fmt_card(nm, 1), expiry()))

    n = card("discover")
    A("srv/legacy-shop/data/orders.sql",
      "INSERT INTO orders (id, email_hash, cc_number, cc_exp, total) VALUES (9912, '%s', '%s', '%s', 49.90);\n"
      "INSERT INTO orders (id, email_hash, cc_number, cc_exp, total) VALUES (9913, '%s', NULL, NULL, 12.00);\n"
      % (rhex(40), fmt_card(n, 2), expiry(), rhex(40)))

    n = card("mastercard")
    A("home/alice/Documents/chats/whatsapp-mum.txt",
      "[12.03.24, 18:20:41] Mum: Can you book the ferry for us? My card does not work on that site\n"
      "[12.03.24, 18:21:05] Alice: sure, send me the card details\n"
      "[12.03.24, 18:22:10] Mum: %s\n[12.03.24, 18:22:31] Mum: %s and the 3 numbers on the back are %s\n"
      "[12.03.24, 18:25:02] Alice: done, booking ref HX7731\n" % (fmt_card(n, 2), expiry(), cvv(n)))


# ===========================================================================
# POSITIVES: IBANs
# ===========================================================================

def pos_iban(c, K):
    cat = "iban"
    A = lambda p, t: c.add(p, t, True, cat)

    rows = ["employee_id;name;iban;bic;net_amount"]
    for i in range(24):
        f, l = person()
        rows.append("E%04d;%s %s;%s;%s;%d,%02d" % (100 + i, f, l, iban("DE"), bic("DE"), R.randint(1800, 6200), R.randint(0, 99)))
    A("srv/payroll/exports/2024-05-salaries.csv", "\n".join(rows) + "\n")

    txs = []
    for i in range(5):
        cc = pick(["DE", "FR", "NL", "AT", "BE", "IT", "ES"])
        f, l = person()
        txs.append("      <CdtTrfTxInf>\n        <PmtId><EndToEndId>INV-2024-%s</EndToEndId></PmtId>\n"
                   "        <Amt><InstdAmt Ccy=\"EUR\">%d.%02d</InstdAmt></Amt>\n        <CdtrAgt><FinInstnId><BICFI>%s</BICFI></FinInstnId></CdtrAgt>\n"
                   "        <Cdtr><Nm>%s %s</Nm></Cdtr>\n        <CdtrAcct><Id><IBAN>%s</IBAN></Id></CdtrAcct>\n"
                   "        <RmtInf><Ustrd>Invoice %s</Ustrd></RmtInf>\n      </CdtTrfTxInf>"
                   % (rdigits(5), R.randint(100, 9000), R.randint(0, 99), bic(cc), f, l, iban(cc), rdigits(6)))
    A("opt/accounting/sepa-out/pain001-%s.xml" % rdigits(8),
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\n"
      "  <CstmrCdtTrfInitn>\n    <GrpHdr>\n      <MsgId>MSG-%s</MsgId>\n      <CreDtTm>2024-06-03T10:15:00</CreDtTm>\n"
      "      <NbOfTxs>5</NbOfTxs>\n      <InitgPty><Nm>Kessler Logistik GmbH</Nm></InitgPty>\n    </GrpHdr>\n    <PmtInf>\n"
      "      <PmtInfId>PMT-%s</PmtInfId>\n      <PmtMtd>TRF</PmtMtd>\n      <DbtrAcct><Id><IBAN>%s</IBAN></Id></DbtrAcct>\n%s\n"
      "    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n" % (rdigits(10), rdigits(6), iban("DE"), "\n".join(txs)))

    vals = []
    for i in range(15):
        cc = pick(["FR", "BE", "LU", "DE", "ES"])
        vals.append("(%d,'%s','%s','%s')" % (300 + i, pick(COMPANIES)[0].replace("'", ""), iban(cc), bic(cc)))
    A("home/dev/backups/erp/suppliers.sql",
      "CREATE TABLE suppliers (id integer PRIMARY KEY, name text NOT NULL, iban text, bic text);\n"
      "INSERT INTO suppliers (id, name, iban, bic) VALUES\n%s;\n" % ",\n".join(vals))

    A("home/marta/freelance/invoices/2024-017.md",
      "# Invoice 2024-017\n\n**Marta Nowak - UX Consulting**  \nul. Prosta 12, 00-850 Warszawa\n\nBill to: Brightline Analytics Inc\n\n"
      "| Item | Days | Rate | Amount |\n|---|---|---|---|\n| UX audit, dashboard | 6 | 650 EUR | 3,900 EUR |\n\n"
      "**Total: 3,900 EUR** - payable within 14 days to\n\nIBAN: %s  \nBIC: BPKOPLPW\n" % group4(iban("PL")))

    cc = "FR"
    A("srv/invoicing/templates/rendered/facture-F2024-0412.html",
      "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Facture F2024-0412</title></head><body>\n"
      "<h1>Atelier Moreau SARL</h1>\n<p>Facture n&deg; F2024-0412 &mdash; 12/04/2024</p>\n<p>Total TTC : 1&nbsp;248,00 &euro;</p>\n"
      "<footer><p>R&egrave;glement par virement&nbsp;: IBAN %s &middot; BIC %s</p></footer>\n</body></html>\n" % (group4(iban(cc)), bic(cc)))

    f, l = person()
    A("home/jens/Mail/INBOX/1714042211.V802I33a1M9.mail01",
      "From: %s %s <%s>\nTo: payroll@kessler-logistik.de\nSubject: New bank details\nDate: Thu, 25 Apr 2024 09:10:11 +0200\n"
      "Content-Type: text/plain; charset=utf-8\n\nHi,\n\nI switched banks, please pay my salary to the new account from May on:\n\n"
      "Account holder: %s %s\nIBAN: %s\nBIC: %s\n\nThank you!\n" % (f, l, email_for(f, l), f, l, group4(iban("DE")), bic("DE")))

    payouts = [{"seller_id": "S%s" % rdigits(5), "name": " ".join(person()), "iban": iban(cc), "currency": "EUR",
                "amount": round(R.random() * 2000, 2)} for cc in [pick(["NL", "DE", "BE", "FR", "IE"]) for _ in range(8)]]
    A("srv/marketplace/payouts/2024-w18.json", json.dumps({"batch": "2024-W18", "payouts": payouts}, indent=2) + "\n")

    A("home/alice/finance/standing-orders.yaml",
      "standing_orders:\n  - name: rent\n    payee: Hausverwaltung Krause\n    iban: %s\n    amount: 1240.00\n    day: 1\n"
      "  - name: kita\n    payee: Kita Sonnenschein e.V.\n    iban: %s\n    amount: 318.50\n    day: 5\n"
      "  - name: savings\n    payee: self\n    iban: %s\n    amount: 400.00\n    day: 28\n" % (group4(iban("DE")), iban("DE"), group4(iban("DE"))))

    ib = iban(pick(["DE", "AT", "NL"]))
    inj = ["@TS@.221Z INFO  [sepa-1] mandate created mandate_id=MD-%s debtor_iban=%s amount=49.00 seq=FRST" % (rdigits(8), ib)]
    A("srv/subscriptions/logs/sepa-2024-04.log", sized_log(200 * 1024, "sepa", inj, 0.77))

    rows = []
    for i in range(10):
        cc = pick(["IT", "ES", "PT", "FR"])
        rows.append("<tr><th>%d</th><td>%s</td><td>%s</td></tr>" % (i, " ".join(person()), iban(cc)))
    nb = {"cells": [{"cell_type": "code", "execution_count": 4, "metadata": {},
                     "source": ["refunds = pd.read_csv('refunds_pending.csv')\n", "refunds[['customer', 'iban']].head(10)"],
                     "outputs": [{"output_type": "execute_result", "execution_count": 4, "metadata": {},
                                  "data": {"text/html": ["<table class=\"dataframe\">\n<tbody>\n"] + [r + "\n" for r in rows] + ["</tbody>\n</table>"]}}]}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    A("home/priya/notebooks/refunds.ipynb", json.dumps(nb, indent=1))

    rows = ["Buchungstag\tValuta\tAuftraggeber/Empfaenger\tIBAN\tVerwendungszweck\tBetrag"]
    for i in range(20):
        rows.append("%02d.03.2024\t%02d.03.2024\t%s %s\t%s\t%s\t%s%d,%02d" % (
            R.randint(1, 28), R.randint(1, 28), *person(), iban(pick(["DE", "DE", "AT", "NL"])),
            pick(["Miete Maerz", "Rechnung %s" % rdigits(6), "Erstattung", "Gehalt"]), pick(["", "-"]), R.randint(5, 3000), R.randint(0, 99)))
    A("home/alice/finance/bank/umsaetze-2024-03.tsv", "\n".join(rows) + "\n")

    A("opt/accounting/scripts/import_tenants.py",
      "TENANTS = [\n%s\n]\n\nfor t in TENANTS:\n    create_mandate(t[\"name\"], t[\"iban\"], amount=t[\"rent\"])\n"
      % "\n".join("    {\"name\": \"%s %s\", \"iban\": \"%s\", \"rent\": %d}," % (*person(), iban(pick(["DE", "AT"])), R.randint(500, 1500)) for _ in range(6)))

    A("home/lena/finance/ledger/2024.journal",
      "; hledger journal\n\n2024-01-03 Rent January  ; payee IBAN: %s\n    expenses:rent          950.00 EUR\n    assets:bank:op\n\n"
      "2024-01-15 * Salary\n    assets:bank:op       3850.00 EUR\n    income:salary\n\n"
      "2024-01-20 Transfer to savings  ; to %s\n    assets:bank:savings   500.00 EUR\n    assets:bank:op\n"
      % (iban("FI"), iban("FI")))

    A("home/dev/projects/checkout/config/refund_accounts.php",
      "<?php\nreturn [\n%s\n];\n" % "\n".join("    '%s' => '%s'," % (rdigits(6), iban(pick(["DE", "FR", "BE"]))) for _ in range(4)))

    A("home/dev/projects/portal/src/data/landlord.js",
      "export const landlord = {\n  name: 'Immobilien %s GmbH',\n  iban: '%s',\n  bic: '%s',\n  reference: 'WE-12/3',\n};\n"
      % (pick(LAST), group4(iban("DE")), bic("DE")))

    own = iban("DE")
    stmt = (":20:STARTUMS\n:25:%s\n:28C:00042/001\n:60F:C240328EUR12450,33\n" % own)
    for i in range(6):
        cp = iban(pick(["DE", "NL", "FR"]))
        stmt += (":61:2404%02d%s%d,%02dNTRFNONREF\n:86:166?00SEPA-UEBERWEISUNG?20EREF+INV%s?21SVWZ+Rechnung %s?31%s?32%s %s\n"
                 % (R.randint(1, 28), pick(["C", "D"]), R.randint(10, 5000), R.randint(0, 99), rdigits(6), rdigits(6), cp, *person()))
    stmt += ":62F:C240430EUR15011,87\n-\n"
    A("opt/accounting/bank-import/mt940/2024-04.sta", stmt)

    A("srv/hr/employees/onboarding/2024-06-lars-andersson.toml",
      "[employee]\nname = \"Lars Andersson\"\nstart_date = 2024-06-01\nteam = \"logistics\"\n\n[payroll]\niban = \"%s\"\nbic = \"NDEASESS\"\ntax_table = 32\n"
      % iban("SE"))

    A("home/astrid/notes/shared-flat.md",
      "# Shared flat costs\n\nEveryone pays their share to the house account by the 3rd; refunds go to:\n\n- Astrid: %s\n- Mikko: %s\n- Sean: %s\n"
      % (group4(iban("NO")), group4(iban("FI")), group4(iban("IE"))))

    A("srv/accounting/camt053/2024-05-31.xml",
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt>\n"
      "<GrpHdr><MsgId>%s</MsgId><CreDtTm>2024-05-31T23:59:00</CreDtTm></GrpHdr>\n<Stmt>\n<Id>STMT-%s</Id>\n"
      "<Acct><Id><IBAN>%s</IBAN></Id><Ccy>CHF</Ccy></Acct>\n<Ntry><Amt Ccy=\"CHF\">1200.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>\n"
      "<NtryDtls><TxDtls><RltdPties><DbtrAcct><Id><IBAN>%s</IBAN></Id></DbtrAcct></RltdPties></TxDtls></NtryDtls></Ntry>\n"
      "</Stmt>\n</BkToCstmrStmt>\n</Document>\n" % (rdigits(12), rdigits(6), iban("CH"), iban("CH")))

    A("home/bob/Documents/kids-savings.txt",
      "Savings accounts\n\nLea   - %s\nNoah  - %s\n\nOpened 2019 at the Sparkasse, statement every January.\n"
      % (group4(iban("DE")), group4(iban("DE"))))

    A("srv/donations/exports/sepa-mandates-2024.csv",
      "mandate_ref,donor,iban,signed,amount\n" + "\n".join(
          "DON-%s,%s %s,%s,2024-%02d-%02d,%d.00" % (rdigits(6), *person(), iban(pick(["CZ", "DE", "AT", "IT", "ES", "PT", "DK", "LU"])),
                                                   R.randint(1, 12), R.randint(1, 28), pick([5, 10, 20, 50])) for _ in range(22)) + "\n")


# ===========================================================================
# POSITIVES: bulk personal data (>= 20 people's e-mail addresses)
# ===========================================================================

def pos_pii(c, K):
    cat = "pii"
    A = lambda p, t: c.add(p, t, True, cat)

    ps = people(45)
    rows = ["First Name,Last Name,Email,Phone Number,City,Lifecycle Stage,Create Date"]
    for f, l, e in ps:
        rows.append("%s,%s,%s,%s,%s,%s,2023-%02d-%02d" % (f, l, e, phone(), pick(CITIES)[0], pick(["lead", "customer", "subscriber"]),
                                                        R.randint(1, 12), R.randint(1, 28)))
    A("home/sales/crm/hubspot-contacts-export.csv", "\n".join(rows) + "\n")

    A("srv/newsletter/lists/subscribers-active.txt", "\n".join(e for _, _, e in people(120)) + "\n")

    vals = ",\n".join("(%d,'%s','%s','%s','%s')" % (i + 1, f.replace("'", "''"), l.replace("'", "''"), e, ts(2023) .replace("T", " "))
                      for i, (f, l, e) in enumerate(people(60)))
    A("opt/shop/db/dumps/users-2024-06-01.sql",
      "--\n-- PostgreSQL database dump\n--\n\nCOPY public.schema_migrations (version) FROM stdin;\n20240101120000\n\\.\n\n"
      "INSERT INTO public.users (id, first_name, last_name, email, created_at) VALUES\n%s;\n" % vals)

    users = [{"id": 1000 + i, "name": "%s %s" % (f, l), "email": e, "newsletter": R.random() < 0.5,
              "orders": R.randint(0, 30)} for i, (f, l, e) in enumerate(people(35))]
    A("home/dev/projects/catalog/seed/users-prod-snapshot.json", json.dumps(users, indent=2) + "\n")

    ld = []
    for f, l, e in people(28, "kessler-logistik.de"):
        uid = ascii_name(f)[0] + ascii_name(l)
        ld.append("dn: uid=%s,ou=people,dc=kessler-logistik,dc=de\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s %s\nsn: %s\n"
                  "givenName: %s\nmail: %s\ntelephoneNumber: %s\n" % (uid, uid, f, l, l, f, e, phone()))
    A("srv/ldap/backup/people-2024-05.ldif", "version: 1\n\n" + "\n".join(ld))

    cards = []
    for f, l, e in people(30):
        cards.append("BEGIN:VCARD\nVERSION:3.0\nN:%s;%s;;;\nFN:%s %s\nEMAIL;TYPE=INTERNET:%s\nTEL;TYPE=CELL:%s\nEND:VCARD"
                     % (l, f, f, l, e, phone()))
    A("home/alice/Documents/contacts-2024.vcf", "\n".join(cards) + "\n")

    ps = people(26)
    A("home/marta/Mail/sent/1716201122.M22P991.mail01",
      "From: Marta Nowak <marta.nowak@brightline-analytics.com>\nTo: %s\nCc: %s\nSubject: Summer party - save the date\n"
      "Date: Mon, 20 May 2024 12:32:02 +0200\nContent-Type: text/plain; charset=utf-8\n\nHi all,\n\n"
      "the summer party is on 28 June from 5pm at the lake house. Partners welcome, please reply by 14 June.\n\nMarta\n"
      % (",\n ".join("%s %s <%s>" % p for p in ps[:18]), ",\n ".join("%s %s <%s>" % p for p in ps[18:])))

    rows = "\n".join("<tr><td>%s %s</td><td><a href=\"mailto:%s\">%s</a></td><td>%s</td></tr>" % (f, l, e, e, pick(COMPANIES)[0])
                     for f, l, e in people(32))
    A("var/www/events/admin/attendees-devday-2024.html",
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>DevDay 2024 - attendees</title></head><body>\n"
      "<h1>Registered attendees</h1>\n<table>\n<tr><th>Name</th><th>E-mail</th><th>Company</th></tr>\n%s\n</table>\n</body></html>\n" % rows)

    A("home/jens/notes/2024-04-18-works-council-meeting.md",
      "# Works council meeting 18.04.2024\n\n## Attendees\n\n%s\n\n## Topics\n\n1. Shift plan summer\n2. New canteen contract\n"
      % "\n".join("- %s %s <%s>" % p for p in people(22, "kessler-logistik.de")))

    A("srv/ansible/inventories/prod/group_vars/all/users.yml",
      "---\nadmin_users:\n%s\n" % "\n".join("  - name: %s\n    comment: \"%s %s\"\n    email: %s\n    groups: [%s]" % (
          ascii_name(f)[0] + ascii_name(l), f, l, e, pick(["sudo", "docker", "developers"])) for f, l, e in people(24, "polarbyte.fi")))

    ps = people(150)
    loglines = log_lines(2200, "auth")
    for i in range(0, len(loglines), 9):
        f, l, e = pick(ps)
        loglines[i] = loglines[i][:24] + " INFO  [auth-%d] login succeeded user=%s ip=%d.%d.%d.%d mfa=%s" % (
            R.randint(1, 4), e, R.randint(1, 223), R.randint(0, 255), R.randint(0, 255), R.randint(1, 254), pick(["totp", "none"]))
    A("srv/portal/logs/auth-2024-05.log", "\n".join(loglines) + "\n")

    A("srv/mail/virtual_aliases",
      "# postfix virtual alias map - list members\n" + "\n".join("team-%s@bakkerijvisser.nl %s" % (pick(["bakery", "delivery", "office"]), e)
                                                                for _, _, e in people(25)) + "\n")

    rows = ["Timestamp\tFull name\tE-mail\tT-shirt size\tDietary"]
    for f, l, e in people(40):
        rows.append("2024-03-%02d %02d:%02d\t%s %s\t%s\t%s\t%s" % (R.randint(1, 28), R.randint(0, 23), R.randint(0, 59), f, l, e,
                                                                pick(["S", "M", "L", "XL"]), pick(["none", "vegetarian", "vegan", "gluten-free"])))
    A("home/lena/events/meetup-registrations.tsv", "\n".join(rows) + "\n")

    rows = "".join("<tr><th>%d</th><td>%s</td><td>%s</td></tr>\n" % (i, "%s %s" % (f, l), e) for i, (f, l, e) in enumerate(people(25)))
    nb = {"cells": [{"cell_type": "code", "execution_count": 12, "metadata": {},
                     "source": ["churned = customers[customers.last_order < '2023-01-01']\n", "churned[['name', 'email']].head(25)"],
                     "outputs": [{"output_type": "execute_result", "execution_count": 12, "metadata": {},
                                  "data": {"text/html": ["<table>\n<tbody>\n", rows, "</tbody>\n</table>"]}}]}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    A("home/priya/notebooks/churn-winback.ipynb", json.dumps(nb, indent=1))

    A("home/dev/projects/catalog/scripts/reinvite.py",
      "RECIPIENTS = [\n%s\n]\n\nfor r in RECIPIENTS:\n    send_invite(r)\n" % "\n".join("    \"%s\"," % e for _, _, e in people(23)))

    A("srv/crm/exports/contacts.xml",
      "<?xml version=\"1.0\"?>\n<contacts>\n%s\n</contacts>\n" % "\n".join(
          "  <contact id=\"%d\"><name>%s %s</name><email>%s</email><city>%s</city></contact>" % (i, f, l, e, pick(CITIES)[0])
          for i, (f, l, e) in enumerate(people(30))))

    A("srv/mailman/list-members-customers-announce.txt",
      "\n".join("%s %s <%s>" % p for p in people(64)) + "\n")

    rows = ["Nom;Prenom;E-mail;Telephone;Ville"]
    for f, l, e in people(33, None):
        rows.append("%s;%s;%s;%s;%s" % (l, f, e, phone(), pick(["Paris", "Lyon", "Lille", "Nantes", "Bordeaux"])))
    A("home/sales/crm/salon-2024-leads.csv", "\n".join(rows) + "\n")

    rows = ["Timestamp,Email Address,Name,Which sessions will you attend?"]
    for f, l, e in people(27):
        rows.append("%s,%s,%s %s,\"%s\"" % (ts(2024, 2).replace("T", " "), e, f, l, pick(["Morning", "Afternoon", "Morning;Afternoon"])))
    A("home/lena/events/workshop-form-responses.csv", "\n".join(rows) + "\n")

    A("home/dev/projects/portal/db/seeds/customers.js",
      "// exported from prod for the demo environment\nmodule.exports = [\n%s\n];\n" % "\n".join(
          "  { firstName: '%s', lastName: '%s', email: '%s' }," % (f, l.replace("'", "\\'"), e) for f, l, e in people(29)))


# ===========================================================================
# LOOK-ALIKES: keys (public keys, certificates, references, placeholders)
# ===========================================================================

def neg_keys(c, K):
    cat = "keys"
    N = lambda p, t: c.add(p, t, False, cat)

    p1 = K.ssh("ed25519", "alice@thinkpad-x1")[1].strip()
    p2 = K.ssh("rsa", "marta@macbook", bits=3072)[1].strip()
    p3 = K.ssh("ecdsa", "ci@runner", bits=256)[1].strip()
    N("home/deploy/.ssh/authorized_keys",
      "%s\n%s\nfrom=\"10.0.0.0/8\",no-agent-forwarding,no-X11-forwarding %s\n" % (p1, p2, p3))

    hosts = []
    for h in ["github.com", "gitlab.kessler-logistik.de", "10.0.3.12", "[nas.fritz.box]:2222", "app-01.internal"]:
        kind = pick(["ed25519", "ecdsa", "rsa"])
        pub = K.ssh(kind, "root@" + h, bits=2048 if kind == "rsa" else None)[1].split()
        if R.random() < 0.5:
            salt = rbytes(20)
            hh = hmac.new(salt, h.encode(), hashlib.sha1).digest()
            name = "|1|%s|%s" % (b64(salt), b64(hh))
        else:
            name = h
        hosts.append("%s %s %s" % (name, pub[0], pub[1]))
    N("home/alice/.ssh/known_hosts", "\n".join(hosts) + "\n")

    ca_key = K.ec("prime256v1", params=False)
    leaf_key = K.rsa_pkcs8(2048)
    N("srv/www/certs/live/portal.northwind-apps.co.uk/fullchain.pem",
      K.cert(leaf_key, "portal.northwind-apps.co.uk", "Northwind Apps Ltd") + K.cert(ca_key, "Northwind Internal CA R2", "Northwind Apps Ltd", 3650))

    ca = K.cert(K.ec("prime256v1", params=False), "Greenleaf Root CA", "Greenleaf Organics", 3650)
    N("home/dev/projects/shop/deploy/k8s/internal-ca.yaml",
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: internal-ca\n  namespace: shop\ndata:\n  ca.crt: |\n%s\n" % indent(ca, 4))

    N("opt/nginx/ssl/requests/shop-2025.csr", K.csr(K.rsa_pkcs8(2048), "shop.kessler-logistik.de", "Kessler Logistik GmbH"))

    pub = K.pubkey(K.rsa_pkcs8(2048))
    N("srv/api/config/jwt.yaml",
      "jwt:\n  issuer: https://sso.rossimeccanica.it\n  audience: orders-api\n  algorithms: [RS256]\n  leeway_seconds: 30\n"
      "  public_key: |\n%s\n" % indent(pub, 4))

    nums = K.rsa_numbers(K.rsa_trad(2048))
    _, pubk, fpr = pgp_keys(nums, "Polar Byte Releases <release@polarbyte.fi>", 1690000000)
    N("srv/repo/debian/KEYS",
      "pub   rsa2048 2023-07-22 [SC]\n      %s\nuid           [ultimate] Polar Byte Releases <release@polarbyte.fi>\n\n%s"
      % (fpr, pgp_armor("PUBLIC", pubk)))

    nums = K.rsa_numbers(K.rsa_trad(2048))
    N("home/dev/projects/sso/public/.well-known/jwks.json",
      json.dumps({"keys": [jwk_from_rsa(nums, "sso-%s" % rhex(8), private=False)]}, indent=2) + "\n")

    N("home/dev/projects/api/docs/deploy.md",
      "# Deploying the API\n\n1. Create a deploy key: `ssh-keygen -t ed25519 -f deploy_key -N ''`\n"
      "2. Add `deploy_key.pub` to the server's `authorized_keys`.\n3. In GitLab, add a CI/CD variable `SSH_PRIVATE_KEY` (type *File*) with the\n"
      "   contents of `deploy_key`. It looks like this:\n\n```\n-----BEGIN OPENSSH PRIVATE KEY-----\n<paste the contents of deploy_key here>\n"
      "-----END OPENSSH PRIVATE KEY-----\n```\n\nNever commit the key itself.\n")

    N("home/alice/.ssh/config",
      "Host nas\n    HostName nas.fritz.box\n    Port 2222\n    User backup\n    IdentityFile ~/.ssh/nas_backup\n\n"
      "Host bastion\n    HostName bastion.kessler-logistik.de\n    User alice\n    IdentityFile ~/.ssh/id_ed25519\n    ForwardAgent no\n\n"
      "Host app-*\n    ProxyJump bastion\n    User deploy\n")

    N("srv/ansible/inventories/prod/hosts.ini",
      "[web]\nweb-01 ansible_host=10.0.1.11\nweb-02 ansible_host=10.0.1.12\n\n[db]\ndb-01 ansible_host=10.0.2.21\n\n"
      "[all:vars]\nansible_user=deploy\nansible_ssh_private_key_file=~/.ssh/ansible_deploy\nansible_python_interpreter=/usr/bin/python3\n")

    N("home/dev/projects/infra/keys.tf",
      "resource \"tls_private_key\" \"bastion\" {\n  algorithm = \"ED25519\"\n}\n\nresource \"aws_key_pair\" \"ops\" {\n"
      "  key_name   = \"ops\"\n  public_key = file(\"~/.ssh/id_ed25519.pub\")\n}\n\n"
      "output \"bastion_public_key\" {\n  value = tls_private_key.bastion.public_key_openssh\n}\n")

    N("home/dev/projects/keytool/keytool/detect.py",
      "\"\"\"Detect PEM blocks in uploaded files and refuse private keys.\"\"\"\nimport re\n\n"
      "PRIVATE_MARKERS = (\n    \"-----BEGIN RSA PRIVATE KEY-----\",\n    \"-----BEGIN EC PRIVATE KEY-----\",\n"
      "    \"-----BEGIN PRIVATE KEY-----\",\n    \"-----BEGIN OPENSSH PRIVATE KEY-----\",\n)\n\n"
      "PEM_RE = re.compile(r\"-----BEGIN ([A-Z ]+)-----\")\n\n\ndef is_private(text: str) -> bool:\n"
      "    return any(m in text for m in PRIVATE_MARKERS)\n")

    fp = "\n".join("%d SHA256:%s %s (%s)" % (b, b64(rbytes(32)).rstrip("="), h, k) for b, h, k in [
        (256, "root@web-01", "ED25519"), (3072, "root@web-01", "RSA"), (256, "root@db-01", "ECDSA"), (256, "root@db-01", "ED25519")])
    N("home/ops/notes/host-fingerprints.md", "# Host key fingerprints (verify on first connect)\n\n```\n%s\n```\n" % fp)

    ca = K.cert(K.ec("prime256v1", params=False), "Fjordvik IoT CA", "Fjordvik Marine AS", 3650)
    N("home/dev/projects/iot/config/tls.json",
      json.dumps({"broker": "mqtts://broker.fjordvik.no:8883", "verify": True, "ca_pem": ca, "client_cert_path": "/data/device.crt",
                  "client_key_path": "/data/device.key"}, indent=2) + "\n")

    N("home/marta/notes/new-laptop.md",
      "# New laptop checklist\n\n- [x] FileVault on\n- [x] Brew bundle\n- [ ] Ask ops to add my key to the bastion:\n\n    %s\n" % p2)

    _, pubk, fpr = pgp_keys(K.rsa_numbers(K.rsa_trad(2048)), "Sean Murphy <sean.murphy@fjordvik.no>", 1700000000)
    N("home/bob/Mail/INBOX/1701234567.V803I2M1.mail01",
      "From: Sean Murphy <sean.murphy@fjordvik.no>\nTo: Bob Weber <bob.weber@kessler-logistik.de>\nSubject: my public key\n"
      "Date: Wed, 29 Nov 2023 10:02:47 +0100\nContent-Type: text/plain; charset=utf-8\n\nHi Bob,\n\nfor the encrypted exports, here is my public key "
      "(fingerprint %s):\n\n%s\nSean\n" % (fpr, pgp_armor("PUBLIC", pubk)))

    N("srv/infra/cloud-init/web-04/user-data",
      "#cloud-config\nhostname: web-04\nusers:\n  - name: deploy\n    groups: [sudo]\n    shell: /bin/bash\n    sudo: ['ALL=(ALL) NOPASSWD:ALL']\n"
      "    ssh_authorized_keys:\n      - %s\n      - %s\npackage_update: true\n" % (p1, p3))

    N("var/www/docs/ops/deploy-keys.html",
      "<!doctype html>\n<html><head><title>Deploy keys</title></head><body>\n<h1>Deploy keys</h1>\n"
      "<p>Add the following read-only key to every repository that the build server clones:</p>\n<pre>%s</pre>\n</body></html>\n"
      % K.ssh("ed25519", "build-server")[1].strip())

    crt = K.cert(K.rsa_pkcs8(2048), "idp.rossimeccanica.it", "Rossi Meccanica Srl", 3650)
    N("srv/sso/saml/idp-metadata.xml",
      "<?xml version=\"1.0\"?>\n<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" "
      "entityID=\"https://idp.rossimeccanica.it/saml\">\n  <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n"
      "    <md:KeyDescriptor use=\"signing\">\n      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\n"
      "    </md:KeyDescriptor>\n    <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
      "Location=\"https://idp.rossimeccanica.it/saml/sso\"/>\n  </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n" % pem_body(crt))

    N("opt/nginx/ssl/dhparam.pem", K.dh_params())

    ca_priv, ca_pub, ca_path = K.ssh("ed25519", "ops-user-ca")
    upriv, upub, upath = K.ssh("ed25519", "ops@bastion")
    N("home/ops/.ssh/id_ed25519-cert.pub", K.ssh_cert(ca_path, upath + ".pub", "ops@bastion", "ops,deploy"))
    N("home/ops/.ssh/user_ca.pub", ca_pub)

    crt = K.cert(K.ec("prime256v1", params=False), "localhost")
    N("home/dev/projects/gateway/internal/tlsutil/testcert.go",
      "package tlsutil\n\n// testCertPEM is a self-signed certificate for localhost used by the unit tests.\n"
      "// The matching key is generated at test start-up.\nvar testCertPEM = []byte(`%s`)\n" % crt)

    N("home/dev/projects/edge/certs/ec-params.pem", K.ec_params())

    N("home/lena/.gnupg/gpg.conf",
      "keyserver hkps://keys.openpgp.org\ndefault-key %s\ntrusted-key %s\npersonal-digest-preferences SHA512 SHA384 SHA256\n"
      "cert-digest-algo SHA512\nkeyid-format 0xlong\nwith-fingerprint\n" % (rhex(40).upper(), rhex(16).upper()))

    N("home/dev/projects/sso/README.md",
      "# SSO service\n\n## Signing key\n\nThe service reads its RSA signing key from `SSO_SIGNING_KEY_FILE`. The file must be\n"
      "an unencrypted PKCS#8 PEM, e.g.:\n\n```\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC...\n...\n-----END PRIVATE KEY-----\n```\n\n"
      "Generate one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out signing.pem`.\n"
      "The public half is published at `/.well-known/jwks.json`.\n")

    N("srv/mqtt/certs/broker.crt", K.cert(K.rsa_pkcs8(2048), "broker.fjordvik.no", "Fjordvik Marine AS"))

    N("home/dev/projects/webhooks/keys/verify.pub", K.pubkey(K.ed25519()))

    key = K.ssh("rsa", "ci@runner", bits=2048)[1]
    N("home/ci/job-logs/2024-03/job-48260.log",
      sized_log(190 * 1024, "ci", ["@TS@.100Z INFO  [job-48260] $ cat ~/.ssh/id_rsa.pub", key.strip(),
                                   "@TS@.120Z INFO  [job-48260] public key registered as deploy key #%d" % R.randint(100, 999)], 0.6))


# ===========================================================================
# LOOK-ALIKES: cloud / service tokens (references, placeholders, hashes, ids)
# ===========================================================================

def sha256hex():
    return rhex(64)


def neg_cloud(c, K):
    cat = "cloud"
    N = lambda p, t: c.add(p, t, False, cat)

    N("home/alice/.aws/config",
      "[default]\nregion = eu-central-1\noutput = json\n\n[profile prod-admin]\nrole_arn = arn:aws:iam::%s:role/OrganizationAccountAccessRole\n"
      "source_profile = default\nmfa_serial = arn:aws:iam::%s:mfa/alice\nregion = eu-west-1\n\n[profile sso-dev]\n"
      "sso_start_url = https://brightline.awsapps.com/start\nsso_region = eu-central-1\nsso_account_id = %s\nsso_role_name = Developer\n"
      % (rdigits(12), rdigits(12), rdigits(12)))

    N("home/dev/projects/infra/README.md",
      "# infra\n\nConfigure credentials before running Terraform, for example:\n\n```ini\n[default]\n"
      "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n```\n\n"
      "(these are the placeholder values from the AWS documentation - use `aws configure sso` instead).\n")

    N("home/dev/projects/web/.github/workflows/deploy.yml",
      "name: deploy\non:\n  push:\n    branches: [main]\npermissions:\n  id-token: write\n  contents: read\njobs:\n  deploy:\n"
      "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: aws-actions/configure-aws-credentials@v4\n"
      "        with:\n          role-to-assume: arn:aws:iam::%s:role/gh-deploy\n          aws-region: eu-central-1\n"
      "      - run: npm ci && npm run build\n      - run: aws s3 sync dist/ s3://${{ vars.BUCKET }} --delete\n"
      "      - name: notify\n        env:\n          SLACK_WEBHOOK_URL: ${{ secrets.SLACK_WEBHOOK_URL }}\n          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n"
      "        run: ./scripts/notify.sh\n" % rdigits(12))

    N("home/dev/projects/infra/variables.tf",
      "variable \"db_password\" {\n  description = \"Master password for the RDS instance\"\n  type        = string\n  sensitive   = true\n}\n\n"
      "variable \"stripe_secret_key\" {\n  type      = string\n  sensitive = true\n}\n\nvariable \"instance_count\" {\n  type    = number\n  default = 3\n}\n")

    N("home/dev/projects/shop/deploy/k8s/deployment.yaml",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: shop}\n"
      "  template:\n    metadata:\n      labels: {app: shop}\n    spec:\n      containers:\n        - name: shop\n"
      "          image: registry.gitlab.com/greenleaf/shop@sha256:%s\n          env:\n            - name: DATABASE_URL\n"
      "              valueFrom:\n                secretKeyRef: {name: shop-db, key: url}\n            - name: STRIPE_SECRET_KEY\n"
      "              valueFrom:\n                secretKeyRef: {name: stripe, key: secret}\n" % sha256hex())

    N("home/dev/projects/shop/deploy/k8s/external-secrets.yaml",
      "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata:\n  name: shop-db\nspec:\n  refreshInterval: 1h\n"
      "  secretStoreRef:\n    name: vault-backend\n    kind: ClusterSecretStore\n  target:\n    name: shop-db\n  data:\n"
      "    - secretKey: url\n      remoteRef:\n        key: secret/data/shop/db\n        property: url\n")

    N("opt/wiki/docker-compose.yml",
      "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: wiki\n      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n"
      "    secrets: [db_password]\n  app:\n    image: ghcr.io/requarks/wiki:2\n    environment:\n      DB_TYPE: postgres\n      DB_HOST: db\n"
      "      DB_USER: wiki\n      DB_PASS: ${DB_PASSWORD:?set in environment}\n    ports: [\"3000:3000\"]\nsecrets:\n  db_password:\n    file: ./secrets/db_password.txt\n")

    N("srv/portal/portal/settings/base.py",
      "import os\n\nSECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDEBUG = os.environ.get(\"DJANGO_DEBUG\") == \"1\"\n\n"
      "EMAIL_HOST_PASSWORD = os.environ.get(\"SENDGRID_API_KEY\", \"\")\nSTRIPE_SECRET_KEY = os.getenv(\"STRIPE_SECRET_KEY\")\n"
      "AWS_STORAGE_BUCKET_NAME = \"northwind-portal-media\"\n")

    N("srv/inventory-staging/config.toml",
      "[server]\nbind = \"127.0.0.1:8080\"\n\n[database]\n# peer authentication over the unix socket, no password\n"
      "url = \"postgres://inventory@/inventory?host=/run/postgresql\"\n")

    N("srv/api-staging/src/main/resources/application.yml",
      "spring:\n  datasource:\n    url: jdbc:postgresql://${DB_HOST:localhost}:5432/orders\n    username: ${DB_USER}\n    password: ${DB_PASSWORD}\n"
      "  mail:\n    host: smtp.sendgrid.net\n    username: apikey\n    password: ${SENDGRID_API_KEY}\n")

    deps = {}
    for name in ["express", "lodash", "debug", "ms", "body-parser", "cookie", "qs", "mime", "send", "etag", "fresh", "vary",
                 "accepts", "negotiator", "on-finished", "statuses", "depd", "bytes", "iconv-lite", "safer-buffer"]:
        deps["node_modules/" + name] = {"version": "%d.%d.%d" % (R.randint(0, 5), R.randint(0, 20), R.randint(0, 9)),
                                        "resolved": "https://registry.npmjs.org/%s/-/%s.tgz" % (name, name),
                                        "integrity": "sha512-" + b64(rbytes(64))}
    N("home/dev/projects/catalog/package-lock.json",
      json.dumps({"name": "catalog", "version": "1.4.0", "lockfileVersion": 3, "requires": True, "packages": deps}, indent=2) + "\n")

    mods = ["github.com/gin-gonic/gin v1.9.1", "golang.org/x/crypto v0.21.0", "github.com/stretchr/testify v1.9.0",
            "github.com/jackc/pgx/v5 v5.5.5", "go.uber.org/zap v1.27.0", "github.com/google/uuid v1.6.0"]
    N("home/dev/projects/gateway/go.sum", "".join("%s h1:%s=\n%s/go.mod h1:%s=\n" % (m.split()[0] + " " + m.split()[1], b64(rbytes(32))[:43],
                                                                                    m.split()[0] + " " + m.split()[1], b64(rbytes(32))[:43]) for m in mods))

    N("home/dev/projects/cli/Cargo.lock",
      "# This file is automatically @generated by Cargo.\nversion = 3\n\n" + "\n".join(
          "[[package]]\nname = \"%s\"\nversion = \"%d.%d.%d\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"%s\"\n"
          % (n, R.randint(0, 2), R.randint(0, 30), R.randint(0, 9), sha256hex()) for n in ["anyhow", "clap", "serde", "serde_json", "tokio", "regex"]))

    N("home/dev/projects/gateway/CHANGELOG.md",
      "# Changelog\n\n" + "\n".join("## v1.%d.0\n\n- %s (%s)\n- %s (%s)\n" % (
          20 - i, pick(["Fix token refresh race", "Add rate limiting", "Bump dependencies", "Improve logging"]), rhex(7),
          pick(["Handle empty body", "Retry on 503", "New metrics endpoint"]), rhex(40)) for i in range(12)))

    N("srv/repo/releases/v2.4.1/SHA256SUMS",
      "".join("%s  %s\n" % (sha256hex(), f) for f in ["polarbyte-cli_2.4.1_linux_amd64.tar.gz", "polarbyte-cli_2.4.1_linux_arm64.tar.gz",
                                                       "polarbyte-cli_2.4.1_darwin_arm64.tar.gz", "polarbyte-cli_2.4.1_windows_amd64.zip"]))

    N("srv/azure/portal-resources.json", json.dumps([{
        "id": "/subscriptions/%s/resourceGroups/rg-portal-prod/providers/Microsoft.Web/sites/portal-%d" % (ruuid(), i),
        "location": "westeurope", "principalId": ruuid(), "tenantId": ruuid()} for i in range(6)], indent=2) + "\n")

    png = b64(b"\x89PNG\r\n\x1a\n" + rbytes(300))
    N("var/www/shop/public/index.html",
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Greenleaf Organics</title>\n"
      "<link rel=\"stylesheet\" href=\"https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css\" integrity=\"sha384-%s\" crossorigin=\"anonymous\">\n"
      "<script src=\"/static/app.%s.js\" integrity=\"sha384-%s\" defer></script>\n</head><body>\n"
      "<img alt=\"logo\" src=\"data:image/png;base64,%s\">\n<h1>Fresh from the farm</h1>\n</body></html>\n" % (b64(rbytes(48)), rhex(8), b64(rbytes(48)), png))

    N("home/dev/projects/shop/deploy/k8s/nginx-configmap.yaml",
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx-extra\nbinaryData:\n  robots.txt.gz: %s\ndata:\n  nginx.conf: |\n"
      "    server {\n      listen 8080;\n      location / { proxy_pass http://shop:8000; }\n    }\n"
      % b64(zlib.compress(b"User-agent: *\nDisallow: /admin/\nDisallow: /cart/\n")))

    N("home/dev/projects/checkout/web/src/config.js",
      "export const config = {\n  stripePublishableKey: 'pk_live_%s',\n  recaptchaSiteKey: '6L%s',\n  gaMeasurementId: 'G-%s',\n"
      "  apiBase: '/api',\n};\n" % (rs(99), rs(38, B64URL), rs(10, UPPER_ALNUM)))

    N("home/dev/projects/standup-bot/README.md",
      "# standup-bot\n\n## Configuration\n\nCreate a Slack app and set:\n\n```\nSLACK_BOT_TOKEN=xoxb-your-bot-token\nSLACK_SIGNING_SECRET=your-signing-secret\n"
      "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/XXXXXXXXX/XXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX\n```\n\n"
      "For GitHub integration add a token like `ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx` with `repo` scope.\n")

    N("home/dev/projects/sso/docs/api.md",
      "# API authentication\n\nSend the access token in the `Authorization` header:\n\n```http\nGET /api/me HTTP/1.1\nHost: sso.rossimeccanica.it\n"
      "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n```\n\n"
      "(example token from jwt.io; real tokens are issued by `/oauth/token`).\n")

    N("home/kai/.npmrc", "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nsave-exact=true\nfund=false\n")

    N("home/bob/.pypirc", "[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\n# password comes from the keyring: keyring set https://upload.pypi.org/legacy/ __token__\n")

    N("home/alice/.config/gh/hosts.yml", "github.com:\n    git_protocol: ssh\n    users:\n        alice-w:\n    user: alice-w\n")

    N("home/alice/.docker/config.json", json.dumps({"auths": {"https://index.docker.io/v1/": {}, "ghcr.io": {}}, "credsStore": "desktop",
                                                    "currentContext": "desktop-linux"}, indent="\t") + "\n")

    N("srv/monitoring-staging/alertmanager/alertmanager.yml",
      "global:\n  resolve_timeout: 5m\n  slack_api_url_file: /etc/alertmanager/secrets/slack_webhook\n\nroute:\n  receiver: ops-slack\n\n"
      "receivers:\n  - name: ops-slack\n    slack_configs:\n      - channel: '#ops-alerts-staging'\n        send_resolved: true\n")

    N("home/dev/projects/orders-func/local.settings.sample.json", json.dumps({"IsEncrypted": False, "Values": {
        "FUNCTIONS_WORKER_RUNTIME": "node", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "ServiceBusConnection": "<service-bus-connection-string>", "ORDERS_QUEUE": "orders-in"}}, indent=2) + "\n")

    N("home/dev/projects/analytics/credentials/wif-config.json", json.dumps({
        "type": "external_account", "audience": "//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/github/providers/github" % rdigits(12),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/bq-loader@%s.iam.gserviceaccount.com:generateAccessToken" % gcp_project(),
        "credential_source": {"file": "/var/run/secrets/tokens/gcp-ksa/token", "format": {"type": "text"}}}, indent=2) + "\n")

    N("home/tom/scripts/README-twilio.md",
      "# SMS alerts\n\nExport your credentials first (find them in the Twilio console):\n\n```sh\nexport TWILIO_ACCOUNT_SID=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n"
      "export TWILIO_AUTH_TOKEN=your_auth_token\n```\n\nThen `ruby sms_alert.rb +4917612345678 \"disk full\"`.\n")

    N("srv/portal/docs/email.md",
      "## Outgoing mail\n\nWe relay through SendGrid. The API key has the form `SG.<id>.<secret>`; store it in Vault under\n"
      "`secret/portal/sendgrid` and never in the repository. Mailgun keys (`key-...`) are no longer used.\n")

    N("home/dev/projects/gateway/.git/packed-refs",
      "# pack-refs with: peeled fully-peeled sorted \n" + "".join("%s refs/%s\n" % (rhex(40), r) for r in
                                                                   ["heads/main", "heads/develop", "remotes/origin/main", "remotes/origin/develop",
                                                                    "tags/v1.18.0", "tags/v1.19.0", "tags/v1.20.0"]))

    N("srv/vault/policies/shop.hcl",
      "path \"secret/data/shop/*\" {\n  capabilities = [\"read\"]\n}\n\npath \"database/creds/shop-rw\" {\n  capabilities = [\"read\"]\n}\n\n"
      "path \"auth/token/renew-self\" {\n  capabilities = [\"update\"]\n}\n")

    N("home/dev/projects/infra/.terraform.lock.hcl",
      "# This file is maintained automatically by \"terraform init\".\n\n" + "".join(
          "provider \"registry.terraform.io/hashicorp/%s\" {\n  version     = \"%s\"\n  constraints = \"~> %s\"\n  hashes = [\n%s\n  ]\n}\n\n"
          % (p, v, v[:3], "\n".join("    \"%s\"," % h for h in ["h1:" + b64(rbytes(32))] + ["zh:" + sha256hex() for _ in range(6)]))
          for p, v in [("aws", "5.46.0"), ("random", "3.6.1"), ("tls", "4.0.5")]))

    N("home/dev/projects/shop/requirements.txt",
      "".join("%s==%s \\\n    --hash=sha256:%s \\\n    --hash=sha256:%s\n" % (p, v, sha256hex(), sha256hex())
              for p, v in [("Django", "5.0.6"), ("psycopg", "3.1.19"), ("stripe", "9.6.0"), ("gunicorn", "22.0.0"), ("boto3", "1.34.104")]))

    N("home/dev/projects/infra/iam/deploy-policy.json", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::www.greenleaf-organics.com", "arn:aws:s3:::www.greenleaf-organics.com/*"]},
        {"Effect": "Allow", "Action": "cloudfront:CreateInvalidation",
         "Resource": "arn:aws:cloudfront::%s:distribution/E%s" % (rdigits(12), rs(13, UPPER_ALNUM))}]}, indent=2) + "\n")

    inj = []
    lines = []
    for i in range(12):
        cursor = b64(json.dumps({"page": i + 2, "after_id": R.randint(1000, 99999)}).encode())
        lines.append("%sZ INFO  [sync-1] fetched page next_cursor=%s items=100" % (ts(2024, 6), cursor))
    N("srv/shopify-sync/logs/sync.log", "\n".join(lines) + "\n")

    N("srv/api/logs/access-2024-06.log", "\n".join(access_log_line() for _ in range(1500)) + "\n")

    N("srv/etl/logs/worker-2024-06.log", sized_log(200 * 1024, "worker"))

    N("srv/security/password-policy.yaml",
      "password_policy:\n  min_length: 12\n  require_uppercase: true\n  require_digit: true\n  require_symbol: false\n"
      "  max_age_days: 0\n  history: 5\n  lockout:\n    attempts: 10\n    window_minutes: 15\napi_tokens:\n  default_ttl: 30d\n  max_ttl: 365d\n")

    N("home/jens/scripts/gh_issues.py",
      "import getpass\nimport os\n\nimport requests\n\ntoken = os.getenv(\"GITHUB_TOKEN\") or getpass.getpass(\"GitHub token: \")\n"
      "db_password = os.environ[\"PGPASSWORD\"]\n\nr = requests.get(\"https://api.github.com/repos/kessler/tms/issues\", headers={\"Authorization\": f\"Bearer {token}\"})\n"
      "for issue in r.json():\n    print(issue[\"number\"], issue[\"title\"])\n")

    N("srv/charts/shop/values.yaml",
      "replicaCount: 2\nimage:\n  repository: registry.gitlab.com/greenleaf/shop\n  tag: \"2.8.1\"\npostgresql:\n  enabled: true\n"
      "  auth:\n    username: shop\n    password: \"\"\n    existingSecret: shop-postgresql\nredis:\n  auth:\n    enabled: true\n    existingSecret: shop-redis\n")

    vault_blob = rhex(R.randint(600, 900))
    N("srv/ansible/inventories/prod/group_vars/db/vault.yml",
      "$ANSIBLE_VAULT;1.1;AES256\n" + wrap(vault_blob.encode().hex(), 80) + "\n")

    N("home/dev/projects/shop/deploy/secrets.enc.yaml",
      "stripe_secret_key: ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:str]\ndb_password: ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:str]\n"
      "sops:\n    kms: []\n    age:\n        - recipient: age1%s\n          enc: |\n              -----BEGIN AGE ENCRYPTED FILE-----\n%s\n"
      "              -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2024-05-02T09:11:42Z\"\n    mac: ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:str]\n"
      "    version: 3.8.1\n" % (b64(rbytes(80)), b64(rbytes(32)), b64(rbytes(16)), b64(rbytes(20)), b64(rbytes(32)), b64(rbytes(16)),
                             rs(58, "qpzry9x8gf2tvdw0s3jn54khce6mua7l"), indent(wrap(b64(rbytes(180)), 64), 14),
                             b64(rbytes(64)), b64(rbytes(32)), b64(rbytes(16))))

    N("home/dev/projects/catalog/docs/setup.md",
      "# Local setup\n\n1. Start MongoDB: `docker compose up -d mongo`\n2. Copy the connection string from Atlas; it looks like\n"
      "   `mongodb+srv://<username>:<password>@cluster0.xxxxx.mongodb.net/catalog`\n3. For Postgres the format is\n"
      "   `postgresql://USER:PASSWORD@HOST:PORT/DATABASE`\n")

    N("home/dev/projects/catalog/.git/config",
      "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n[remote \"origin\"]\n\turl = git@github.com:greenleaf/catalog.git\n"
      "\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n")

    N("srv/newsletter/config.ini",
      "[general]\nsite_name = Kessler Newsletter\nbatch_size = 200\n\n[mailgun]\ndomain = news.kessler-logistik.de\n"
      "api_base = https://api.eu.mailgun.net/v3\n; api_key is read from MAILGUN_API_KEY\n")

    N("srv/ci/gitlab-runner-register.sh",
      "#!/bin/sh\n# registers a runner; the token is passed in by the operator\n: \"${RUNNER_TOKEN:?pass RUNNER_TOKEN=glrt-... from the GitLab UI}\"\n"
      "gitlab-runner register --non-interactive --url https://gitlab.heliossolar.es --token \"$RUNNER_TOKEN\" --executor docker --docker-image alpine:3.19\n")

    N("home/dev/projects/web/src/lib/ids.ts",
      "// well-known ids used by the frontend\nexport const TENANT_ID = '%s';\nexport const APP_CLIENT_ID = '%s';\n"
      "export const FEATURE_FLAG_ENV = '%s';\nexport const BUILD_SHA = '%s';\n" % (ruuid(), ruuid(), ruuid(), rhex(40)))

    N("home/priya/notebooks/embeddings.ipynb", json.dumps({"cells": [
        {"cell_type": "code", "execution_count": 2, "metadata": {}, "source": ["import os\n", "from openai import OpenAI\n",
                                                                              "client = OpenAI(api_key=os.environ['OPENAI_API_KEY'])"], "outputs": []},
        {"cell_type": "code", "execution_count": 3, "metadata": {}, "source": ["emb = client.embeddings.create(model='text-embedding-3-small', input=['hello'])\n",
                                                                              "emb.data[0].embedding[:4]"],
         "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
                      "data": {"text/plain": ["[%s]" % ", ".join("%.6f" % (R.random() - 0.5) for _ in range(4))]}}]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1))

    N("home/dev/projects/infra/prod.tfvars",
      "region         = \"eu-central-1\"\nenvironment    = \"production\"\ninstance_type  = \"m6i.large\"\ninstance_count = 4\n"
      "db_password    = \"\" # set TF_VAR_db_password in the shell\nami_id         = \"ami-%s\"\nvpc_id         = \"vpc-%s\"\n"
      % (rhex(17), rhex(17)))

    N("home/ops/.kube/config-oidc",
      "apiVersion: v1\nclusters:\n- cluster:\n    server: https://k8s.polarbyte.fi:6443\n    certificate-authority-data: %s\n  name: polarbyte\n"
      "contexts:\n- context: {cluster: polarbyte, user: oidc}\n  name: polarbyte\ncurrent-context: polarbyte\nkind: Config\nusers:\n- name: oidc\n"
      "  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubectl\n      args: [oidc-login, get-token, --oidc-issuer-url=https://sso.polarbyte.fi, --oidc-client-id=kubernetes]\n"
      % b64(K.cert(K.ec("prime256v1", params=False), "kubernetes-ca", days=3650).encode()))


# ===========================================================================
# LOOK-ALIKES: .env files without real secrets
# ===========================================================================

def neg_env(c, K):
    cat = "env"
    N = lambda p, t: c.add(p, t, False, cat)

    N("var/www/crm/.env.example", env_file([
        ("APP_NAME", "Laravel"), ("APP_ENV", "local"), ("APP_KEY", ""), ("APP_DEBUG", "true"), ("APP_URL", "http://localhost"), None,
        ("DB_CONNECTION", "mysql"), ("DB_HOST", "127.0.0.1"), ("DB_PORT", "3306"), ("DB_DATABASE", "laravel"), ("DB_USERNAME", "root"),
        ("DB_PASSWORD", ""), None, ("MAIL_MAILER", "smtp"), ("MAIL_HOST", "mailpit"), ("MAIL_PORT", "1025"), ("MAIL_USERNAME", "null"),
        ("MAIL_PASSWORD", "null")]))

    N("srv/app/.env.example", env_file([
        ("NODE_ENV", "production"), ("PORT", "3000"), ("DATABASE_URL", "postgresql://USER:PASSWORD@HOST:5432/DB"),
        ("REDIS_URL", "redis://localhost:6379/0"), ("JWT_SECRET", "changeme"), ("SESSION_SECRET", "changeme")],
        header="copy to .env and fill in real values"))

    N("home/dev/projects/shop/.env.sample", env_file([
        ("DJANGO_SECRET_KEY", "<your-secret-key-here>"), ("DJANGO_DEBUG", "1"), ("DATABASE_URL", "postgres://shop@localhost/shop"),
        ("STRIPE_SECRET_KEY", "sk_live_..."), ("STRIPE_WEBHOOK_SECRET", "whsec_...")], style="sq"))

    N("opt/nextcloud/.env.template", env_file([
        ("MYSQL_ROOT_PASSWORD", "${MYSQL_ROOT_PASSWORD}"), ("MYSQL_PASSWORD", "${MYSQL_PASSWORD}"), ("MYSQL_DATABASE", "nextcloud"),
        ("MYSQL_USER", "nextcloud"), ("NEXTCLOUD_ADMIN_USER", "admin"), ("NEXTCLOUD_ADMIN_PASSWORD", "${NEXTCLOUD_ADMIN_PASSWORD}")]))

    N("home/dev/projects/portal/.env.local.example", env_file([
        ("NEXT_PUBLIC_SITE_URL", "http://localhost:3000"), ("NEXTAUTH_URL", "http://localhost:3000"),
        ("NEXTAUTH_SECRET", "# generate with: openssl rand -base64 32"), ("GITHUB_ID", ""), ("GITHUB_SECRET", "")], style="dq"))

    N("srv/symfony-shop/.env.dist", env_file([
        ("APP_ENV", "dev"), ("APP_SECRET", "ChangeThisToASecretString"),
        ("DATABASE_URL", "\"mysql://db_user:db_password@127.0.0.1:3306/db_name?serverVersion=8.0\""),
        ("MAILER_DSN", "null://null")]))

    N("home/dev/projects/web/.env", env_file([
        ("NODE_ENV", "development"), ("PORT", "5173"), ("VITE_API_BASE", "/api"), ("VITE_SENTRY_ENVIRONMENT", "dev"),
        ("VITE_FEATURE_NEW_CHECKOUT", "true"), ("LOG_LEVEL", "debug"), ("TZ", "Europe/Berlin")]))

    N("srv/gitea/gitea.env.defaults", env_file([
        ("USER_UID", "1000"), ("USER_GID", "1000"), ("GITEA__database__DB_TYPE", "postgres"), ("GITEA__database__HOST", "db:5432"),
        ("GITEA__database__PASSWD__FILE", "/run/secrets/gitea_db_password"), ("GITEA__security__SECRET_KEY__FILE", "/run/secrets/gitea_secret_key"),
        ("GITEA__server__ROOT_URL", "https://git.polarbyte.fi/")]))

    N("srv/keycloak/keycloak.env.example", env_file([
        ("KC_DB", "postgres"), ("KC_DB_URL", "jdbc:postgresql://db:5432/keycloak"), ("KC_DB_USERNAME", "keycloak"),
        ("KC_DB_PASSWORD", "<set-me>"), ("KEYCLOAK_ADMIN", "admin"), ("KEYCLOAK_ADMIN_PASSWORD", "<set-me>")]))

    N("opt/n8n/.env.example", env_file([
        ("N8N_HOST", "automation.example.org"), ("N8N_PROTOCOL", "https"), ("N8N_ENCRYPTION_KEY", "REPLACE_ME"),
        ("N8N_BASIC_AUTH_USER", "admin"), ("N8N_BASIC_AUTH_PASSWORD", "REPLACE_ME")]))

    N("srv/mastodon/.env.production.sample", env_file([
        "# Generate each secret with: RAILS_ENV=production bundle exec rake secret",
        ("LOCAL_DOMAIN", "example.com"), ("REDIS_HOST", "localhost"), ("DB_HOST", "/var/run/postgresql"), ("DB_USER", "mastodon"),
        ("DB_NAME", "mastodon_production"), ("DB_PASS", ""), ("SECRET_KEY_BASE", ""), ("OTP_SECRET", ""),
        ("VAPID_PRIVATE_KEY", ""), ("VAPID_PUBLIC_KEY", ""), ("SMTP_PASSWORD", "")]))

    N("home/priya/projects/summarizer/.env.example", env_file([
        ("OPENAI_API_KEY", "sk-..."), ("PINECONE_API_KEY", "your-pinecone-key"), ("PINECONE_ENV", "gcp-starter")]))

    N("srv/app/config/app.env.tpl", env_file([
        ("SPRING_PROFILES_ACTIVE", "prod"), ("SPRING_DATASOURCE_URL", "jdbc:mysql://mysql01:3306/orders"),
        ("SPRING_DATASOURCE_USERNAME", "orders"), ("SPRING_DATASOURCE_PASSWORD", "{{ with secret \"secret/data/orders/db\" }}{{ .Data.data.password }}{{ end }}"),
        ("APP_ENCRYPTION_SECRET", "{{ with secret \"secret/data/orders/app\" }}{{ .Data.data.key }}{{ end }}")],
        header="consul-template source; rendered to app.env at deploy time"))

    N("srv/analytics/umami/.env", env_file([
        ("DATABASE_URL", "postgresql://umami@db:5432/umami"), ("DATABASE_TYPE", "postgresql"), ("TRACKER_SCRIPT_NAME", "stats.js"),
        ("DISABLE_TELEMETRY", "1"), ("APP_SECRET_FILE", "/run/secrets/umami_app_secret")]))

    N("home/kai/projects/infra-tools/.envrc", env_file([
        ("AWS_PROFILE", "dev"), ("AWS_REGION", "eu-central-1"), ("KUBECONFIG", "$PWD/.kube/config"), ("PATH", "$PWD/bin:$PATH"),
        "source_env_if_exists .envrc.local"], style="export"))

    N("home/alice/projects/bookclub/.env.test", env_file([
        ("FLASK_ENV", "testing"), ("DATABASE_URL", "sqlite:///:memory:"), ("SECRET_KEY", "test"), ("WTF_CSRF_ENABLED", "false")]))

    N("opt/outline/docker.env.sample", env_file([
        "# Generate a hex-encoded 32-byte random key: openssl rand -hex 32",
        ("SECRET_KEY", "generate_a_new_key"), ("UTILS_SECRET", "generate_a_new_key"),
        ("DATABASE_URL", "postgres://user:pass@localhost:5432/outline"), ("URL", "https://docs.mycompany.com"),
        ("SLACK_CLIENT_ID", "get_a_key_from_slack"), ("SLACK_CLIENT_SECRET", "get_the_secret_of_above_key")]))

    N("opt/paperless/docker-compose.env", env_file([
        ("PAPERLESS_URL", "https://docs.fjordvik.no"), ("PAPERLESS_TIME_ZONE", "Europe/Oslo"), ("PAPERLESS_OCR_LANGUAGE", "nor"),
        ("PAPERLESS_CONSUMER_POLLING", "60"), ("PAPERLESS_TASK_WORKERS", "2"), ("USERMAP_UID", "1000"), ("USERMAP_GID", "1000")]))

    N("home/kai/projects/billing/.env.development", env_file([
        ("RAILS_ENV", "development"), ("DATABASE_HOST", "localhost"), ("DATABASE_USERNAME", "postgres"), ("DATABASE_PASSWORD", ""),
        ("REDIS_URL", "redis://localhost:6379/1"), ("RAILS_MAX_THREADS", "5"), ("PASSWORD_MIN_LENGTH", "12"), ("TOKEN_TTL_SECONDS", "3600")]))

    N("opt/grafana/grafana.env", env_file([
        ("GF_SERVER_ROOT_URL", "https://grafana.kessler-logistik.de"), ("GF_SECURITY_ADMIN_USER", "admin"),
        ("GF_SECURITY_ADMIN_PASSWORD__FILE", "/run/secrets/grafana_admin_password"), ("GF_AUTH_GENERIC_OAUTH_ENABLED", "true"),
        ("GF_AUTH_GENERIC_OAUTH_CLIENT_ID", "grafana"), ("GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET", "$__file{/run/secrets/grafana_oauth_secret}"),
        ("GF_USERS_ALLOW_SIGN_UP", "false")]))

    N("home/jens/projects/fleet-tracker/.env.example", env_file([
        ("MQTT_BROKER", "mqtts://broker.example.net:8883"), ("MQTT_USERNAME", "tracker"), ("MQTT_PASSWORD", "xxxxxxxx"),
        ("MAPBOX_SECRET_TOKEN", "sk.xxxxxxxxxxxxxxxxxxxx")], style="dq"))

    N("srv/vaultwarden/.env.template", env_file([
        ("DOMAIN", "https://vault.example.com"), ("SIGNUPS_ALLOWED", "false"),
        "# ADMIN_TOKEN=  (generate an argon2 PHC string with: vaultwarden hash)", ("SMTP_HOST", "smtp.example.com"),
        ("SMTP_PASSWORD", "<smtp-password>")], style="sq"))

    N("srv/app/.env.ci", env_file([
        ("CI", "true"), ("DATABASE_URL", "postgresql://postgres@postgres:5432/app_test"), ("NODE_ENV", "test"),
        ("JWT_SECRET", "${CI_JWT_SECRET}"), ("STRIPE_SECRET_KEY", "${STRIPE_TEST_KEY}")]))

    N("home/lena/projects/release-tools/.env.sample", env_file([
        ("TWINE_USERNAME", "__token__"), ("TWINE_PASSWORD", "pypi-<your-api-token>"), ("GH_TOKEN", "<github-personal-access-token>")]))

    N("opt/matomo/db.env", env_file([
        ("MYSQL_DATABASE", "matomo"), ("MYSQL_USER", "matomo"), ("MYSQL_PASSWORD_FILE", "/run/secrets/matomo_db_password"),
        ("MYSQL_RANDOM_ROOT_PASSWORD", "yes"), ("MATOMO_DATABASE_HOST", "db")]))

    N("home/tom/bots/doorbell/.env.dist", env_file([
        ("TELEGRAM_BOT_TOKEN", "123456789:replace-with-your-bot-token"), ("CAMERA_URL", "rtsp://user:pass@camera-ip:554/stream1"),
        ("LOG_LEVEL", "info")]))


# ===========================================================================
# LOOK-ALIKES: card-like numbers
# ===========================================================================

CARD_SCAN = re.compile(r"(?<![0-9A-Za-z])\d+(?:[ -]\d+)*(?![0-9A-Za-z])")


def card_hits(text):
    """Luhn-valid numbers with a real issuer prefix, 13-19 digits, plain or
    grouped with spaces/dashes; any contiguous run of groups is tried."""
    hits = []
    for m in CARD_SCAN.finditer(text):
        groups = re.split(r"[ -]", m.group(0))
        for i in range(len(groups)):
            acc = ""
            for j in range(i, len(groups)):
                acc += groups[j]
                if len(acc) > 19:
                    break
                if len(acc) >= 13 and luhn_ok(acc) and issuer_ok(acc):
                    hits.append(acc)
    return hits


def safe_number(gen):
    """Draw from gen until the value is not a card look-alike that passes."""
    while True:
        v = gen()
        if not card_hits(v):
            return v


def masked(num):
    return num[:6] + "*" * (len(num) - 10) + num[-4:]


def neg_cards(c, K):
    cat = "cards"
    N = lambda p, t: c.add(p, t, False, cat)

    rows = ["order_no,date,customer_no,items,total_eur,card_last4"]
    for i in range(60):
        rows.append("%s,2024-05-%02d,%s,%d,%d.%02d,%s" % (safe_number(lambda: "10" + rdigits(14)), R.randint(1, 28),
                                                       "K" + rdigits(7), R.randint(1, 9), R.randint(5, 400), R.randint(0, 99), rdigits(4)))
    N("opt/billing/export/orders-2024-05.csv", "\n".join(rows) + "\n")

    lines = []
    for i in range(80):
        n = card()
        lines.append("%sZ INFO  [gateway-1] authorized pan=%s brand=%s amount=%d.%02d pm=pm_%s" % (
            ts(2024, 5), masked(n), brand(n), R.randint(1, 300), R.randint(0, 99), rs(24)))
    N("srv/payments/logs/gateway-2024-05.log", "\n".join(lines) + "\n")

    N("home/sales/crm/phone-list.txt", "\n".join("%s %s: %s" % (*person(), phone()) for _ in range(4)) + "\n")

    rows = ["isbn,title,author,price"]
    for t in ["The Quiet Orchard", "Cold Harbour", "Numbers in the Dark", "A Field Guide to Fungi", "Sourdough at Home",
              "The Lighthouse Keeper", "Modern Logistics", "Rust for Operators"]:
        isbn = safe_number(lambda: (lambda p: p + str((10 - sum(int(d) * (1 if k % 2 == 0 else 3) for k, d in enumerate(p)) % 10) % 10))("978" + rdigits(9)))
        rows.append("%s,%s,%s %s,%d.99" % (isbn, t, *person(), R.randint(9, 39)))
    N("srv/bookshop/catalog/books.csv", "\n".join(rows) + "\n")

    bad = [bad_luhn_card() for _ in range(6)]
    N("home/dev/projects/checkout/docs/qa-card-validation.md",
      "# QA: card validation\n\nThe form must reject numbers that fail the Luhn check. Inputs used in the manual test run:\n\n"
      + "\n".join("- `%s` -> rejected (checksum)" % fmt_card(b, R.randint(0, 2)) for b in bad) + "\n")

    track = []
    for i in range(15):
        track.append(pick(["UPS 1Z%s%s" % (rs(6, UPPER_ALNUM), rdigits(10)),
                           "USPS %s" % safe_number(lambda: "9400 1" + " ".join(rdigits(4) for _ in range(4)) + " " + rdigits(2)),
                           "FedEx %s" % rdigits(12), "DHL %s" % rdigits(10)]))
    N("srv/shipping/exports/tracking-2024-05-14.txt", "\n".join(track) + "\n")

    N("srv/iot/logs/telemetry.log",
      "\n".join("ts_ms=%s device=%s temp=%.1f" % (safe_number(lambda: "17" + rdigits(11)), rs(8, LOWER_ALNUM), R.random() * 30) for _ in range(200)) + "\n")

    rows = ["sku;ean;name;stock"]
    for i in range(25):
        def ean():
            p = pick(["400", "401", "402", "540", "760", "871"]) + rdigits(9)
            return p + str((10 - sum(int(d) * (1 if k % 2 == 0 else 3) for k, d in enumerate(p)) % 10) % 10)
        rows.append("GL-%04d;%s;%s;%d" % (i, safe_number(ean), pick(["Oat flakes 1kg", "Spelt flour", "Rye bread", "Honey 500g"]), R.randint(0, 500)))
    N("srv/shop/inventory/ean-list.csv", "\n".join(rows) + "\n")

    N("var/www/shop/templates/checkout/card-form.html",
      "<form id=\"pay\">\n  <label>Card number <input name=\"cc\" inputmode=\"numeric\" autocomplete=\"cc-number\" placeholder=\"1234 5678 9012 3456\"></label>\n"
      "  <label>Expiry <input name=\"exp\" placeholder=\"MM/YY\"></label>\n  <label>CVC <input name=\"cvc\" placeholder=\"123\"></label>\n"
      "  <button>Pay</button>\n</form>\n")

    N("home/dev/projects/checkout/src/cardBrands.js",
      "export const BRANDS = [\n  { name: 'visa', pattern: /^4\\d{12}(\\d{3})?(\\d{3})?$/ },\n  { name: 'mastercard', pattern: /^(5[1-5]\\d{4}|2(2[2-9]\\d|[3-6]\\d\\d|7[01]\\d|720)\\d{2})\\d{10}$/ },\n"
      "  { name: 'amex', pattern: /^3[47]\\d{13}$/ },\n];\n\nexport const BIN_RANGES = ['400000-499999', '510000-559999', '222100-272099'];\n")

    N("opt/billing/config/bins.yaml",
      "# BINs we route to the domestic acquirer\ndomestic_bins:\n" + "\n".join("  - \"%s\"" % pick(["4" + rdigits(5), "5" + rdigits(5), "4" + rdigits(7)]) for _ in range(12)) + "\n")

    N("home/tom/Documents/bank-transfer-us.txt",
      "Wire for the conference booth\nBank: First Republic\nRouting (ABA): %s\nAccount: %s\nReference: INV-%s\n" % (rdigits(9), rdigits(10), rdigits(6)))

    vals = ",\n".join("(%d,%d,'%s','%s',%d.%02d)" % (i, R.randint(1000, 9999), brand(n), n[-4:], R.randint(5, 300), R.randint(0, 99))
                      for i, n in enumerate(card() for _ in range(20)))
    N("home/dev/backups/shop/payments-2024.sql",
      "CREATE TABLE payments (id int, order_id int, brand varchar(16), last4 char(4), amount numeric(10,2));\nINSERT INTO payments VALUES\n%s;\n" % vals)

    N("srv/inventory/devices.csv", "serial,model,location\n" + "\n".join(
        "%s,%s,%s" % (safe_number(lambda: rdigits(16)), pick(["TC52", "ZT410", "MC3300"]), pick(["Hamburg DC", "Cologne DC", "Berlin Hub"])) for _ in range(30)) + "\n")

    N("home/dev/projects/community/data/messages.json", json.dumps([
        {"id": safe_number(lambda: "1" + rdigits(18)), "channel_id": safe_number(lambda: "1" + rdigits(18)),
         "author": pick(["kai", "lena", "tom"]), "content": pick(["deploy done", "lgtm", "who broke staging?"])} for _ in range(20)], indent=2) + "\n")

    rows = ["imei,model,assigned_to"]
    for i in range(25):
        def imei():
            return luhn_complete(pick(["01", "86", "99"]) + rdigits(12))
        rows.append("%s,%s,%s" % (safe_number(imei), pick(["Pixel 8", "iPhone 14", "Galaxy A54"]), pick(USERS)))
    N("srv/mdm/exports/phones.csv", "\n".join(rows) + "\n")

    N("home/jens/Mail/INBOX/1712000001.V801I4M2.mail01",
      "From: DHL Paket <noreply@dhl.de>\nTo: jens.becker@kessler-logistik.de\nSubject: Ihre Sendung %s\n"
      "Date: Mon, 01 Apr 2024 08:12:00 +0200\nContent-Type: text/plain; charset=utf-8\n\nIhre Sendung %s wird heute zugestellt.\n"
      "Bestellnummer: %s\nKundennummer: %s\n" % ((lambda t: (t, t))(safe_number(lambda: "00340434" + rdigits(12))) + (rdigits(11), rdigits(10))))

    bad = bad_luhn_card()
    N("home/marta/notes/support-call.md",
      "# Support call 2024-04-03\n\nCustomer read out a number from the *gift voucher*: %s - this is a voucher code, not a card; "
      "it fails validation in the shop, forwarded to marketing.\n" % fmt_card(bad, 1))

    N("home/dev/projects/checkout/fixtures/orders.json", json.dumps([
        {"order_id": safe_number(lambda: "4" + rdigits(15)), "payment": {"brand": "visa", "last4": rdigits(4), "token": "tok_" + rs(24)},
         "total": round(R.random() * 200, 2)} for _ in range(10)], indent=2) + "\n")

    rows = ["date,merchant,pan,amount,currency,status"]
    total = 0
    while total < 200 * 1024:
        n = card()
        line = "2024-%02d-%02d,%s,%s,%d.%02d,EUR,%s" % (R.randint(1, 12), R.randint(1, 28), pick(["GREENLEAF WEBSHOP", "GREENLEAF POS 1"]),
                                                       masked(n), R.randint(1, 400), R.randint(0, 99), pick(["captured", "refunded"]))
        rows.append(line)
        total += len(line) + 1
    N("opt/billing/export/transactions-2023.csv", "\n".join(rows) + "\n")

    N("srv/payments/config/test-cards.md",
      "# Sandbox cards\n\nUse the PSP's sandbox: any number is rejected unless it is on their list. Numbers that trigger errors:\n\n"
      + "\n".join("- %s - %s" % (fmt_card(bad_luhn_card(), 1), pick(["insufficient funds", "expired", "do not honor"])) for _ in range(4)) + "\n")

    N("home/alice/Documents/insurance.txt",
      "Policy number: %s\nCustomer number: %s\nClaim: %s\nHotline: %s\n" % (safe_number(lambda: rdigits(14)), rdigits(9), "CL-" + rdigits(10), phone()))

    N("srv/pos/receipts/2024-05-11-0042.txt",
      "GREENLEAF ORGANICS - Store 1\nTerminal 0042   Receipt %s\n\nOat flakes 1kg      3.49\nHoney 500g          7.99\n\nTOTAL EUR          11.48\n"
      "VISA            ************%s\nAID A0000000031010\nAUTH %s   TRACE %s\n" % (rdigits(6), rdigits(4), rdigits(6), rdigits(6)))

    N("home/dev/projects/analytics/notebooks/ids.ipynb", json.dumps({"cells": [
        {"cell_type": "code", "execution_count": 5, "metadata": {}, "source": ["sessions.session_id.head(5)"],
         "outputs": [{"output_type": "execute_result", "execution_count": 5, "metadata": {},
                      "data": {"text/plain": ["\n".join("%d    %s" % (i, safe_number(lambda: "5" + rdigits(15))) for i in range(5))]}}]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1))

    bad = [fmt_card(bad_luhn_card(), R.randint(0, 2)) for _ in range(5)]
    N("home/dev/projects/checkout/tests/test_luhn.py",
      "import pytest\n\nfrom checkout.cards import luhn_valid\n\n\n@pytest.mark.parametrize(\"number\", [\n%s\n])\n"
      "def test_rejects_bad_checksum(number):\n    assert not luhn_valid(number)\n" % "\n".join("    \"%s\"," % b for b in bad))


# ===========================================================================
# LOOK-ALIKES: IBAN-like strings
# ===========================================================================

IBAN_SCAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})")


def iban_hits(text):
    """Valid IBANs (country length + mod-97), plain or grouped with spaces."""
    hits = []
    for m in IBAN_SCAN.finditer(text):
        L = IBAN_LEN.get(m.group(1))
        if not L:
            continue
        chunk = text[m.start():m.start() + L + L // 4 + 2]
        for allow_space in (False, True):
            out = ""
            for ch in chunk:
                if ch == " " and allow_space:
                    continue
                if not (ch.isascii() and ch.isalnum()):
                    break
                out += ch
                if len(out) == L:
                    break
            if len(out) == L and iban_valid(out):
                hits.append(out)
                break
    return hits


def safe_code(gen):
    while True:
        v = gen()
        if not iban_hits(v) and not card_hits(v):
            return v


def neg_iban(c, K):
    cat = "iban"
    N = lambda p, t: c.add(p, t, False, cat)

    N("home/dev/projects/payments/tests/fixtures/invalid_ibans.txt",
      "# IBANs with wrong check digits - must be rejected\n" + "\n".join(fmt_iban(bad_iban()) for _ in range(15)) + "\n")

    N("opt/accounting/sepa-out/templates/pain001-template.xml",
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\n  <CstmrCdtTrfInitn>\n"
      "    <GrpHdr><MsgId>{{ msg_id }}</MsgId><NbOfTxs>{{ n }}</NbOfTxs></GrpHdr>\n    <PmtInf>\n"
      "      <DbtrAcct><Id><IBAN>DE00000000000000000000</IBAN></Id></DbtrAcct>\n      {% for t in txs %}\n      <CdtTrfTxInf>\n"
      "        <CdtrAcct><Id><IBAN>{{ t.iban }}</IBAN></Id></CdtrAcct>\n      </CdtTrfTxInf>\n      {% endfor %}\n    </PmtInf>\n"
      "  </CstmrCdtTrfInitn>\n</Document>\n")

    rows = []
    for _ in range(10):
        ib = iban(pick(["DE", "FR", "NL"]))
        rows.append("%s  %s  %s EUR" % (ib[:4] + " **** **** **** " + ib[-6:-2] + " " + ib[-2:] if ib[:2] == "DE" else ib[:4] + " **** **** " + ib[-4:],
                                       pick(["Rent", "Salary", "Groceries", "Insurance"]), "%d,%02d" % (R.randint(5, 2000), R.randint(0, 99))))
    N("home/alice/finance/bank/summary-2024-04.txt", "Account overview (masked)\n\n" + "\n".join(rows) + "\n")

    N("srv/payroll/config/banks.yaml", "banks:\n" + "\n".join("  - bic: %s\n    country: %s" % (bic(cc), cc) for cc in
                                                             ["DE", "DE", "FR", "NL", "AT", "BE", "IT", "ES", "GB", "CH"]) + "\n")

    N("home/dev/projects/payments/docs/iban.md",
      "# IBAN handling\n\nStructure: two-letter country code, two check digits, then the BBAN.\n\n| Country | Length | Format |\n|---|---|---|\n"
      "| DE | 22 | DEkk bbbb bbbb cccc cccc cc |\n| FR | 27 | FRkk bbbb bggg ggcc cccc cccc cxx |\n| NL | 18 | NLkk bbbb cccc cccc cc |\n"
      "| GB | 22 | GBkk bbbb ssss sscc cccc cc |\n\nValidation: move the first four characters to the end, replace letters by numbers (A=10 ... Z=35)\n"
      "and check that the number mod 97 equals 1. We store IBANs without spaces and display them in groups of four.\n")

    N("srv/licenses/keys-issued.csv", "customer,license_key,seats\n" + "\n".join(
        "%s,%s,%d" % (pick(COMPANIES)[0], safe_code(lambda: pick(["DE", "FR", "NL", "AT"]) + rdigits(2) + " " + " ".join(rs(4, UPPER_ALNUM) for _ in range(4))),
                      pick([5, 10, 25])) for _ in range(12)) + "\n")

    N("srv/accounting/master-data/vat-ids.csv", "customer_no,name,vat_id\n" + "\n".join(
        "%s,%s,%s" % (rdigits(6), pick(COMPANIES)[0], pick(["DE" + rdigits(9), "FR" + rdigits(11), "NL" + rdigits(9) + "B01", "ATU" + rdigits(8),
                                                             "BE0" + rdigits(9), "IT" + rdigits(11), "ESB" + rdigits(8)])) for _ in range(20)) + "\n")

    N("home/lena/finance/portfolio.csv", "isin,name,units\n" + "\n".join(
        "%s,%s,%d" % (safe_code(lambda: pick(["DE000", "IE00B", "US037", "FR000"]) + rs(6, UPPER_ALNUM) + rdigits(1)),
                      pick(["MSCI World ETF", "DAX ETF", "Emerging Markets", "Global Bond"]), R.randint(1, 300)) for _ in range(8)) + "\n")

    N("srv/accounting/master-data/lei.txt", "\n".join(safe_code(lambda: rdigits(4) + "00" + rs(12, UPPER_ALNUM) + rdigits(2)) for _ in range(10)) + "\n")

    N("srv/subscriptions/config/sepa.toml",
      "[creditor]\nname = \"Kessler Logistik GmbH\"\ncreditor_id = \"DE98ZZZ09999999999\"\niban_env = \"SEPA_CREDITOR_IBAN\"\nbic = \"COBADEFFXXX\"\n"
      "\n[mandates]\nsequence_first_lead_days = 5\nsequence_recurring_lead_days = 2\n")

    bi = bad_iban("DE")
    N("home/marta/freelance/invoices/2024-018-draft.md",
      "# Invoice 2024-018 (DRAFT)\n\nTotal: 1,950 EUR\n\nIBAN: %s  <- check, online banking says this is invalid\n" % group4(bi))

    N("srv/marketplace/payouts/2024-w19-summary.json", json.dumps({"batch": "2024-W19", "payouts": [
        {"seller_id": "S" + rdigits(5), "iban_country": pick(["DE", "NL", "FR"]), "iban_last4": rdigits(4), "amount": round(R.random() * 900, 2)}
        for _ in range(10)]}, indent=2) + "\n")

    N("home/alice/.config/fints/accounts.yaml",
      "bank:\n  blz: \"%s\"\n  server: https://fints.comdirect.de/fints\n  login_env: FINTS_LOGIN\n  pin_env: FINTS_PIN\nsync:\n  days: 30\n" % rdigits(8))

    N("srv/payroll/reference/bank-branches.csv", "blz,bic,name,city\n" + "\n".join(
        "%s,%s,%s,%s" % (rdigits(8), bic("DE"), pick(["Sparkasse", "Volksbank", "Commerzbank", "Postbank"]), pick(["Koeln", "Bonn", "Berlin"])) for _ in range(20)) + "\n")

    N("home/dev/projects/payments/payments/iban.py",
      "import re\n\nIBAN_RE = re.compile(r\"^[A-Z]{2}\\d{2}[A-Z0-9]{11,30}$\")\n\n\ndef valid(iban: str) -> bool:\n"
      "    s = iban.replace(\" \", \"\").upper()\n    if not IBAN_RE.match(s):\n        return False\n"
      "    s = s[4:] + s[:4]\n    return int(\"\".join(str(int(ch, 36)) for ch in s)) % 97 == 1\n")

    N("srv/subscriptions/logs/sepa-rejects.log", "\n".join(
        "%sZ WARN  [sepa-1] rejected mandate: invalid IBAN %s (checksum)" % (ts(2024, 4), bad_iban(pick(["DE", "AT", "NL"]))) for _ in range(12)) + "\n")

    N("srv/logistics/customs/declarations.csv", "mrn,container,weight_kg\n" + "\n".join(
        "%s,%s,%d" % (safe_code(lambda: "24DE" + rs(12, UPPER_ALNUM) + rdigits(1) + pick("ABC") + rdigits(1)),
                      pick(["MSCU", "MAEU", "HLXU", "CMAU"]) + rdigits(7), R.randint(500, 24000)) for _ in range(20)) + "\n")

    N("home/dev/projects/payments/notebooks/iban-check.ipynb", json.dumps({"cells": [
        {"cell_type": "code", "execution_count": 1, "metadata": {},
         "source": ["from payments.iban import valid\n", "[valid(x) for x in samples]"],
         "outputs": [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                      "data": {"text/plain": ["[False, False, False]"]}}]},
        {"cell_type": "code", "execution_count": 2, "metadata": {}, "source": ["samples"],
         "outputs": [{"output_type": "execute_result", "execution_count": 2, "metadata": {},
                      "data": {"text/plain": [repr([bad_iban(cc) for cc in ["DE", "FR", "IT"]])]}}]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1))

    N("var/www/site/impressum.html",
      "<!doctype html>\n<html lang=\"de\"><head><meta charset=\"utf-8\"><title>Impressum</title></head><body>\n<h1>Impressum</h1>\n"
      "<p>Kessler Logistik GmbH<br>Industriestr. 7<br>50667 K&ouml;ln</p>\n<p>Handelsregister: HRB %s, Amtsgericht K&ouml;ln<br>"
      "USt-IdNr.: DE%s</p>\n<p>Bankverbindung auf Anfrage.</p>\n</body></html>\n" % (rdigits(5), rdigits(9)))

    N("srv/erp/exports/products.tsv", "code\tdescription\tprice\n" + "\n".join(
        "%s\t%s\t%d.%02d" % (safe_code(lambda: pick(["FR", "DE", "NL", "BE"]) + rdigits(2) + rs(10, UPPER_ALNUM)),
                             pick(["Pallet wrap", "Label roll", "Strapping band", "Carton 60x40"]), R.randint(1, 90), R.randint(0, 99)) for _ in range(30)) + "\n")

    N("home/bob/Mail/INBOX/1715000000.V801I9M1.mail01",
      "From: Buchhaltung <buchhaltung@kessler-logistik.de>\nTo: bob.weber@kessler-logistik.de\nSubject: Bankdaten fehlen\n"
      "Date: Mon, 06 May 2024 09:00:00 +0200\nContent-Type: text/plain; charset=utf-8\n\nHallo Bob,\n\n"
      "bitte trage deine IBAN im Personalportal ein (Format DE + 20 Stellen). Die letzte Meldung war unvollstaendig: %s\n\nGruss\n"
      % (lambda s: s[:14])(iban("DE")))


# ===========================================================================
# LOOK-ALIKES: personal data below the bulk threshold (< 5 addresses)
# ===========================================================================

EMAIL_SCAN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def distinct_emails(text):
    return {e.lower() for e in EMAIL_SCAN.findall(text)}


def neg_pii(c, K):
    cat = "pii"
    N = lambda p, t: c.add(p, t, False, cat)

    ps = people(3, "polarbyte.fi")
    N("home/dev/projects/cli/AUTHORS", "\n".join("%s %s <%s>" % p for p in ps) + "\n")

    N("home/dev/projects/cli/.github/CODEOWNERS", "* @polarbyte/maintainers\n/docs/ @lena-k @mikko-v\n/src/net/ @kai-dev\n")

    f, l, e = people(1)[0]
    N("home/dev/projects/catalog/package.json", json.dumps({
        "name": "catalog", "version": "1.4.0", "private": True, "author": "%s %s <%s>" % (f, l, e),
        "contributors": ["%s %s <%s>" % p for p in people(2)], "scripts": {"start": "node server.js", "test": "jest"},
        "dependencies": {"express": "^4.19.2", "mongodb": "^6.5.0"}}, indent=2) + "\n")

    N("home/lena/.gitconfig", "[user]\n\tname = Lena Korhonen\n\temail = lena.korhonen@polarbyte.fi\n[init]\n\tdefaultBranch = main\n"
      "[pull]\n\trebase = true\n")

    ps = people(2, "brightline-analytics.com")
    N("home/dev/projects/portal/.mailmap", "".join("%s %s <%s> <%s>\n" % (f, l, e, e.replace("@brightline-analytics.com", "@users.noreply.github.com"))
                                                   for f, l, e in ps))

    N("var/www/site/.well-known/security.txt",
      "Contact: mailto:security@kessler-logistik.de\nExpires: 2025-12-31T23:00:00.000Z\nPreferred-Languages: de, en\n"
      "Canonical: https://www.kessler-logistik.de/.well-known/security.txt\n")

    N("srv/app/pom.xml",
      "<project>\n  <modelVersion>4.0.0</modelVersion>\n  <groupId>com.northwind</groupId>\n  <artifactId>orders</artifactId>\n  <version>3.2.0</version>\n"
      "  <developers>\n%s\n  </developers>\n</project>\n" % "\n".join(
          "    <developer><name>%s %s</name><email>%s</email></developer>" % p for p in people(2, "northwind-apps.co.uk")))

    authors = people(3, "greenleaf-organics.com")
    N("home/dev/projects/shop/git-log.txt", "\n".join("commit %s\nAuthor: %s %s <%s>\nDate:   %s\n\n    %s\n" % (
        rhex(40), *pick(authors), ts(2024), pick(["fix cart rounding", "bump deps", "add invoice PDF", "refactor checkout"])) for _ in range(60)))

    N("var/www/site/contact.html",
      "<!doctype html>\n<html><head><title>Contact</title></head><body>\n<h1>Contact us</h1>\n"
      "<p>Sales: <a href=\"mailto:sales@kessler-logistik.de\">sales@kessler-logistik.de</a></p>\n"
      "<p>Support: <a href=\"mailto:support@kessler-logistik.de\">support@kessler-logistik.de</a></p>\n<p>Phone: +49 221 %s</p>\n</body></html>\n" % rdigits(7))

    ps = people(3)
    N("home/marta/Mail/INBOX/1716000000.V801I7M3.mail01",
      "From: %s %s <%s>\nTo: Marta Nowak <marta.nowak@brightline-analytics.com>\nCc: %s %s <%s>\nSubject: Re: workshop dates\n"
      "Date: Fri, 17 May 2024 14:20:00 +0200\nContent-Type: text/plain; charset=utf-8\n\nHi Marta,\n\n18 June works for both of us.\n\nBest\n"
      % (*ps[0], *ps[1]))

    rows = ["customer_no,company,city,country,segment"]
    for i in range(40):
        co = pick(COMPANIES)[0]
        city, cc = pick(CITIES)
        rows.append("%s,%s,%s,%s,%s" % (rdigits(6), co, city, cc, pick(["A", "B", "C"])))
    N("srv/crm/exports/accounts-b2b.csv", "\n".join(rows) + "\n")

    N("srv/monitoring/alertmanager/contacts.yml",
      "oncall:\n  primary: oncall@polarbyte.fi\n  secondary: ops-lead@polarbyte.fi\nescalation:\n  - after: 30m\n    notify: cto@polarbyte.fi\n"
      "noreply_sender: alerts-noreply@polarbyte.fi\n")

    lines = []
    users = people(2)
    for l in log_lines(1500, "auth"):
        if R.random() < 0.1:
            l = l[:24] + " INFO  [auth-1] login succeeded user=%s" % pick(users)[2]
        lines.append(l)
    N("srv/portal/logs/auth-2024-06.log", "\n".join(lines) + "\n")

    N("home/dev/projects/infra/.gitmodules", "".join(
        "[submodule \"%s\"]\n\tpath = modules/%s\n\turl = git@github.com:brightline/terraform-%s.git\n" % (m, m, m)
        for m in ["vpc", "eks", "rds", "s3-site", "iam-roles", "cloudfront", "route53", "monitoring", "backup", "waf",
                  "sqs", "sns", "lambda-cron", "ecr", "acm", "bastion", "vpn", "budgets", "guardduty", "config-rules", "kms", "secrets"]))

    rows = ["customer_id,email_sha256,orders,ltv"]
    for i in range(40):
        rows.append("%d,%s,%d,%d.%02d" % (10000 + i, sha256hex(), R.randint(1, 40), R.randint(10, 4000), R.randint(0, 99)))
    N("home/priya/projects/ads/audience-hashed.csv", "\n".join(rows) + "\n")

    N("home/dev/projects/api/docs/users.md",
      "# Users API\n\n```http\nPOST /api/users\nContent-Type: application/json\n\n{\"name\": \"Jane Doe\", \"email\": \"jane.doe@example.com\"}\n```\n\n"
      "Response:\n\n```json\n{\"id\": 42, \"name\": \"Jane Doe\", \"email\": \"jane.doe@example.com\", \"created_at\": \"2024-01-01T00:00:00Z\"}\n```\n\n"
      "Errors are reported to `api-errors@example.com`.\n")

    N("home/kai/projects/billing/config/mailer.yml",
      "production:\n  from: \"Billing <billing@heliossolar.es>\"\n  reply_to: accounts@heliossolar.es\n  bcc_archive: archive@heliossolar.es\n"
      "  smtp:\n    address: smtp.mailgun.org\n    port: 587\n    user_name_env: SMTP_USER\n    password_env: SMTP_PASSWORD\n")

    N("srv/hr/org-chart.md",
      "# Org chart (logistics)\n\n- Head of logistics: Jens Becker\n  - Dispatch: Lukas Fischer, Mia Wagner, Omar Khan\n"
      "  - Warehouse Hamburg: Anna Schmidt (lead), 14 staff\n  - Warehouse Cologne: Paul Meyer (lead), 11 staff\n\nQuestions: hr@kessler-logistik.de\n")

    N("home/dev/projects/catalog/yarn.lock", "".join(
        "\"@%s/%s@^%d.%d.0\":\n  version \"%d.%d.%d\"\n  resolved \"https://registry.yarnpkg.com/@%s/%s/-/%s-%d.%d.%d.tgz#%s\"\n  integrity sha512-%s\n\n"
        % ((lambda sc, n, a, b, p: (sc, n, a, b, a, b, p, sc, n, n, a, b, p, rhex(40), b64(rbytes(64))))(
            pick(["babel", "types", "jest", "eslint"]), nm, R.randint(1, 9), R.randint(0, 20), R.randint(0, 9)))
        for nm in ["core", "node", "parser", "traverse", "generator", "helpers", "runtime", "preset-env", "express", "types",
                   "template", "code-frame", "compat-data", "plugin-syntax-jsx", "highlight", "helper-plugin-utils"]))

    N("home/alice/projects/bookclub/members.md",
      "# Book club members\n\n" + "\n".join("- %s %s" % person() for _ in range(3)) +
      "\n\nMailing list: bookclub@lists.riseup.net (ask Alice to be added)\n")


# ===========================================================================
# sanity checks on the generated corpus (guards against mislabels)
# ===========================================================================

PEM_PRIV = re.compile(r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY|PGP PRIVATE KEY BLOCK)-----(.*?)-----END", re.S)
TOKEN_PATTERNS = [
    re.compile(r"\bAKIA[A-Z2-7]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{80,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20}\b"),
    re.compile(r"\bxox[bpa]-\d{6,}-"),
    re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}"),
    re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}"),
    re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    re.compile(r"AccountKey=[A-Za-z0-9+/]{80,}={0,2}"),
    re.compile(r"\"type\": \"service_account\""),
]


def private_key_in(text):
    for m in PEM_PRIV.finditer(text):
        body = re.sub(r"[^A-Za-z0-9+/=]", "", m.group(2).replace("\\n", "\n"))
        if len(body) > 40:
            return True
    return "PuTTY-User-Key-File" in text or '"d": "' in text


def check(corpus):
    problems = []
    for path, (data, secret, cat) in corpus.files.items():
        text = data.decode("utf-8", "replace")
        if not secret:
            if private_key_in(text):
                problems.append("look-alike holds a private key: " + path)
            if card_hits(text):
                problems.append("look-alike holds a valid card number %s: %s" % (card_hits(text)[:2], path))
            if iban_hits(text):
                problems.append("look-alike holds a valid IBAN %s: %s" % (iban_hits(text)[:2], path))
            if len(distinct_emails(text)) >= 5:
                problems.append("look-alike holds %d e-mail addresses: %s" % (len(distinct_emails(text)), path))
            for p in TOKEN_PATTERNS:
                m = p.search(text)
                # documented fakes (AWS "EXAMPLE" keys, ghp_xxxx...) are fine
                if m and "EXAMPLE" not in m.group(0) and len(set(m.group(0)[-20:])) > 3:
                    problems.append("look-alike holds token-like %r: %s" % (m.group(0)[:30], path))
        else:
            ok = {"keys": lambda: private_key_in(text),
                  "cards": lambda: bool(card_hits(text)),
                  "iban": lambda: bool(iban_hits(text)),
                  "pii": lambda: len(distinct_emails(text)) >= 20}.get(cat, lambda: True)()
            if not ok:
                problems.append("planted %s secret not detectable by the generator's own check: %s" % (cat, path))
    return problems


# ===========================================================================
# main
# ===========================================================================

def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: %s OUT_DIR\n" % argv[0])
        return 2
    out = argv[1]
    if os.path.exists(out):
        if not os.path.isdir(out):
            sys.stderr.write("error: %s exists and is not a directory\n" % out)
            return 1
        if os.listdir(out):
            sys.stderr.write("error: %s is not empty\n" % out)
            return 1

    corpus = Corpus()
    with tempfile.TemporaryDirectory(prefix="heldout-c-keys-") as tmp:
        K = Keys(tmp)
        for gen in (pos_keys, pos_cloud, pos_env, pos_cards, pos_iban, pos_pii,
                    neg_keys, neg_cloud, neg_env, neg_cards, neg_iban, neg_pii):
            gen(corpus, K)

    problems = check(corpus)
    if problems:
        sys.stderr.write("corpus self-check failed:\n  " + "\n  ".join(problems) + "\n")
        return 1

    os.makedirs(out, exist_ok=True)
    labels = []
    for path in sorted(corpus.files):
        data, secret, cat = corpus.files[path]
        full = os.path.join(out, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        if "/.ssh/" in "/" + path and not path.endswith(".pub") and "known_hosts" not in path:
            os.chmod(full, 0o600)
        labels.append("%s\tnormal\t%d\t1" % (path, 1 if secret else 0))
    with open(os.path.join(out, "labels.tsv"), "w") as f:
        f.write("\n".join(labels) + "\n")

    pos = Counter(cat for _, s, cat in corpus.files.values() if s)
    neg = Counter(cat for _, s, cat in corpus.files.values() if not s)
    big = sum(1 for d, _, _ in corpus.files.values() if len(d) >= 150 * 1024)
    print("held-out corpus C written to %s" % out)
    print("%-10s %8s %11s" % ("category", "secret", "look-alike"))
    for cat in ("keys", "cloud", "env", "cards", "iban", "pii"):
        print("%-10s %8d %11d" % (cat, pos[cat], neg[cat]))
    print("%-10s %8d %11d" % ("total", sum(pos.values()), sum(neg.values())))
    print("files: %d (of which %d are >= 150 KiB); labels: %s" % (len(corpus.files), big, os.path.join(out, "labels.tsv")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
