#!/usr/bin/env python3
"""Held-out labelled test corpus "E" for the secret scanner (classifier).

What this is
------------
A generator for a fair, untuned evaluation corpus.  It lays out files the way
they would sit on a university research group's shared server: the members'
home directories (home/<user>/), shared project data (data/), services the
group operates (srv/, opt/, var/lib/) and a small web shop it runs
(var/www/shop, srv/shop-api, opt/shop).  OUT_DIR stands for the machine's
root directory.

Some files hold a real, planted secret (label S=1); the others are look-alikes
of the same file types that must not be flagged (S=0).  "Sensitive" follows
exactly this definition:
  * private keys (SSH, PEM/TLS, PGP private key blocks);
  * cloud credentials and service tokens (cloud/SaaS keys and tokens,
    database URLs / connection strings with passwords, registry and CI
    tokens, signing secrets, ...);
  * .env secrets (passwords, secret keys, tokens in .env-style files);
  * payment card numbers (Luhn-valid, real issuer prefixes, including the
    providers' published test card numbers);
  * IBANs (valid mod-97 check digits, including published example IBANs);
  * bulk personal data (lists of at least ~20 people's e-mail addresses).

Keys are generated on the fly with ssh-keygen and openssl (PGP blocks are
assembled by this script from an openssl-generated Ed25519 key); tokens follow
the providers' published formats with random bodies.  All other randomness
comes from random.Random(777).

This corpus was written by a helper who had not read the scanner's code, its
documentation or any earlier corpus; the secret shapes come only from the
definition above and general knowledge of real operators' files.

Label format
------------
OUT_DIR/labels.tsv has one line per file:

    relative/path<TAB>normal<TAB>S<TAB>1

where S is 1 when the file holds a planted secret and 0 for a look-alike.

Usage
-----
    scripts/eval/classify-heldout-e.py OUT_DIR

OUT_DIR is created (a non-empty OUT_DIR is refused).  Score it with

    cargo run --release -p ibars-core --example eval_classify OUT_DIR
"""

import base64
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import string
import struct
import subprocess
import sys
import tempfile
import zlib

R = random.Random(777)

DIGITS = string.digits
UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
ALNUM = DIGITS + UPPER + LOWER
B62 = DIGITS + UPPER + LOWER
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"
B64CH = ALNUM + "+/"


def rs(n, alphabet=ALNUM):
    return "".join(R.choice(alphabet) for _ in range(n))


def hexs(n):
    return rs(n, HEX)


def rbytes(n):
    return bytes(R.getrandbits(8) for _ in range(n))


def b64(n):
    return base64.b64encode(rbytes(n)).decode()


def b64url(n):
    return base64.urlsafe_b64encode(rbytes(n)).decode().rstrip("=")


def wrap(s, width=64):
    return "\n".join(s[i:i + width] for i in range(0, len(s), width))


def indent(text, prefix):
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def pick(seq):
    return R.choice(seq)


def uuid4():
    h = hexs(32)
    h = h[:12] + "4" + h[13:16] + pick("89ab") + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# ---------------------------------------------------------------------------
# people
# ---------------------------------------------------------------------------

FIRST = ["Anna", "Lukas", "Mei", "Jonas", "Priya", "Sofia", "Tomasz", "Elena",
         "Kenji", "Fatima", "Noah", "Lea", "Omar", "Hannah", "Mateo", "Ingrid",
         "Chen", "Amara", "Felix", "Julia", "Rahul", "Clara", "Yusuf", "Marta",
         "Oskar", "Aiko", "David", "Laura", "Emeka", "Sara", "Paul", "Nina",
         "Ivan", "Greta", "Luis", "Zoe", "Karim", "Mia", "Jakob", "Leila",
         "Ben", "Katarzyna", "Hugo", "Anja", "Tariq", "Elif", "Max", "Ruth"]
LAST = ["Becker", "Chen", "Kowalski", "Nakamura", "Patel", "Garcia",
        "Johansson", "Okafor", "Mueller", "Kim", "Schmidt", "Ivanova",
        "Rossi", "Dubois", "Novak", "Hansen", "Yilmaz", "Silva", "Weber",
        "Fischer", "Wagner", "Meyer", "Hoffmann", "Schulz", "Koch", "Bauer",
        "Richter", "Klein", "Wolf", "Schroeder", "Neumann", "Braun", "Zimmermann",
        "Lange", "Krause", "Lehmann", "Huber", "Kaiser", "Fuchs", "Peters",
        "Sato", "Singh", "Nguyen", "Haddad", "Andersen", "Costa", "Popescu"]
UNI = "uni-hochstadt.de"
INST = "bio.uni-hochstadt.de"
STUD = "stud.uni-hochstadt.de"
FREEMAIL = ["gmail.com", "gmx.de", "web.de", "outlook.com", "posteo.de",
            "yahoo.com", "proton.me", "icloud.com", "t-online.de", "mailbox.org"]
SHOP = "sensorlab-kits.de"


def person():
    return pick(FIRST), pick(LAST)


def ascii_name(s):
    return s.lower().replace(" ", "")


def email_of(first, last, style=None):
    style = style if style is not None else R.randrange(6)
    f, l = ascii_name(first), ascii_name(last)
    if style == 0:
        return f"{f}.{l}@{UNI}"
    if style == 1:
        return f"{f}.{l}@{STUD}"
    if style == 2:
        return f"{f[0]}{l}{R.randrange(1, 99)}@{pick(FREEMAIL)}"
    if style == 3:
        return f"{f}.{l}@{INST}"
    if style == 4:
        return f"{f}{l[0]}{R.randrange(70, 100)}@{pick(FREEMAIL)}"
    return f"{l}.{f}@{pick(FREEMAIL)}"


def people(n, style=None):
    seen = set()
    out = []
    while len(out) < n:
        f, l = person()
        e = email_of(f, l, style)
        if e in seen:
            continue
        seen.add(e)
        out.append((f, l, e))
    return out


# ---------------------------------------------------------------------------
# payment cards
# ---------------------------------------------------------------------------

def luhn_sum(digits):
    s = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        s += d
    return s


def luhn_ok(digits):
    return len(digits) >= 12 and luhn_sum(digits) % 10 == 0


def ean13(core12):
    chk = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(core12)) % 10) % 10
    return core12 + str(chk)


def luhn_complete(partial):
    for c in DIGITS:
        if luhn_ok(partial + c):
            return partial + c
    raise AssertionError


CARD_PREFIXES = {
    "visa": (["4539", "4916", "4024007", "4485", "4716", "4929", "4556"], 16),
    "mc": (["51", "52", "53", "54", "55", "2221", "2321", "2720", "2500"], 16),
    "amex": (["34", "37"], 15),
    "discover": (["6011", "65", "644"], 16),
    "jcb": (["3528", "3530", "3566", "3589"], 16),
    "diners": (["36", "38", "300", "305"], 14),
    "unionpay": (["62"], 16),
}


def make_card(brand):
    prefixes, length = CARD_PREFIXES[brand]
    p = pick(prefixes)
    body = p + rs(length - len(p) - 1, DIGITS)
    return luhn_complete(body)


def bad_card(brand="visa"):
    c = make_card(brand)
    last = int(c[-1])
    return c[:-1] + str((last + R.randrange(1, 10)) % 10)


def no_luhn(gen):
    """Draw from gen() until the digit string fails the Luhn check."""
    while True:
        v = gen()
        if not luhn_ok(re.sub(r"\D", "", v)):
            return v


def fmt_card(num, style="space"):
    if len(num) == 15 and num[:2] in ("34", "37"):
        groups = [num[:4], num[4:10], num[10:]]
    elif len(num) == 14:
        groups = [num[:4], num[4:10], num[10:]]
    else:
        groups = [num[i:i + 4] for i in range(0, len(num), 4)]
    if style == "space":
        return " ".join(groups)
    if style == "dash":
        return "-".join(groups)
    return num


# published test card numbers (payment providers' documentation)
TEST_CARDS = ["4242424242424242", "4000056655665556", "5555555555554444",
              "2223003122003222", "378282246310005", "6011111111111117",
              "3056930009020004", "3566002020360505", "4111111111111111",
              "5105105105105100", "4012888888881881", "371449635398431"]

# ---------------------------------------------------------------------------
# IBANs
# ---------------------------------------------------------------------------

IBAN_SPEC = {  # country: list of (count, kind) kind n=digit a=upper c=alnum
    "DE": [(8, "n"), (10, "n")],
    "GB": [(4, "a"), (6, "n"), (8, "n")],
    "FR": [(10, "n"), (11, "c"), (2, "n")],
    "NL": [(4, "a"), (10, "n")],
    "ES": [(20, "n")],
    "IT": [(1, "a"), (10, "n"), (12, "c")],
    "BE": [(12, "n")],
    "AT": [(16, "n")],
    "CH": [(5, "n"), (12, "c")],
    "PL": [(24, "n")],
    "IE": [(4, "a"), (14, "n")],
    "LU": [(3, "n"), (13, "c")],
}
IBAN_LEN = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27,
            "BE": 16, "AT": 20, "CH": 21, "PL": 28, "IE": 22, "LU": 20,
            "DK": 18, "FI": 18, "NO": 15, "SE": 24, "PT": 25}
BANK_CODES = {"GB": ["NWBK", "BARC", "LOYD", "HBUK", "MIDL"],
              "NL": ["ABNA", "INGB", "RABO", "TRIO", "SNSB"],
              "IE": ["AIBK", "BOFI"]}


def iban_checksum(cc, bban):
    n = int("".join(str(int(ch, 36)) for ch in bban + cc + "00"))
    return "%02d" % (98 - n % 97)


def iban_ok(s):
    s = s.replace(" ", "")
    if len(s) < 15 or not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", s):
        return False
    n = int("".join(str(int(ch, 36)) for ch in s[4:] + s[:4]))
    return n % 97 == 1


def make_bban(cc):
    parts = []
    for count, kind in IBAN_SPEC[cc]:
        if kind == "a" and cc in BANK_CODES and count == 4:
            parts.append(pick(BANK_CODES[cc]))
        elif kind == "n":
            parts.append(rs(count, DIGITS))
        elif kind == "a":
            parts.append(rs(count, UPPER))
        else:
            parts.append(rs(count, DIGITS + DIGITS + UPPER))
    return "".join(parts)


def make_iban(cc="DE"):
    bban = make_bban(cc)
    return cc + iban_checksum(cc, bban) + bban


def bad_iban(cc="DE"):
    good = make_iban(cc)
    chk = int(good[2:4])
    wrong = chk
    while wrong == chk:
        wrong = R.randrange(2, 99)
    return good[:2] + "%02d" % wrong + good[4:]


def fmt_iban(s, grouped=True):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4)) if grouped else s


PUBLISHED_IBANS = ["DE89370400440532013000", "GB82WEST12345698765432",
                   "FR1420041010050500013M02606", "NL91ABNA0417164300",
                   "CH9300762011623852957", "BE68539007547034",
                   "AT611904300234573201", "ES9121000418450200051332",
                   "IT60X0542811101000000123456", "PL61109010140000071219812874"]
for _i in PUBLISHED_IBANS:
    assert iban_ok(_i), _i
for _c in TEST_CARDS:
    assert luhn_ok(_c), _c


# ---------------------------------------------------------------------------
# real keys: ssh-keygen and openssl
# ---------------------------------------------------------------------------

KEYDIR = None
_keyno = [0]


def _kpath(name):
    _keyno[0] += 1
    return os.path.join(KEYDIR, f"{_keyno[0]:03d}-{name}")


def run(cmd, data=None):
    res = subprocess.run(cmd, input=data, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {res.stderr.decode(errors='replace')}")
    return res.stdout


def ssh_key(kind="ed25519", bits=None, comment="user@host", pem=False):
    """Return (private, public) text of a fresh, unencrypted SSH key."""
    path = _kpath("ssh")
    cmd = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", path]
    if bits:
        cmd[2:2] = ["-b", str(bits)]
    if pem:
        cmd[2:2] = ["-m", "PEM"]
    run(cmd)
    with open(path) as f:
        priv = f.read()
    with open(path + ".pub") as f:
        pub = f.read()
    return priv, pub


def ssl_key(kind="rsa"):
    """PEM private key: rsa (PKCS#8), rsa-trad (PKCS#1), ec (SEC1), ed25519."""
    path = _kpath("key.pem")
    if kind == "rsa":
        run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
             "rsa_keygen_bits:2048", "-out", path])
    elif kind == "rsa-trad":
        run(["openssl", "genrsa", "-traditional", "-out", path, "2048"])
    elif kind == "ec":
        run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
             "-out", path])
    elif kind == "ec384":
        run(["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout",
             "-out", path])
    elif kind == "ed25519":
        run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", path])
    else:
        raise ValueError(kind)
    with open(path) as f:
        return f.read()


def _keyfile(pem):
    path = _kpath("in.pem")
    with open(path, "w") as f:
        f.write(pem)
    return path


def ssl_pub(priv_pem):
    return run(["openssl", "pkey", "-in", _keyfile(priv_pem), "-pubout"]).decode()


def ssl_cert(cn, priv_pem=None, days=398, org="Universitaet Hochstadt"):
    """Self-signed certificate (PEM); returns (key, cert)."""
    if priv_pem is None:
        priv_pem = ssl_key("rsa")
    kp = _keyfile(priv_pem)
    cert = run(["openssl", "req", "-x509", "-new", "-key", kp, "-days", str(days),
                "-subj", f"/C=DE/O={org}/CN={cn}", "-sha256"]).decode()
    return priv_pem, cert


def ssl_csr(cn, priv_pem):
    return run(["openssl", "req", "-new", "-key", _keyfile(priv_pem),
                "-subj", f"/C=DE/ST=Baden-Wuerttemberg/O=Universitaet Hochstadt/CN={cn}"]).decode()


def pub_der_b64(priv_pem):
    der = run(["openssl", "pkey", "-in", _keyfile(priv_pem), "-pubout", "-outform", "DER"])
    return base64.b64encode(der).decode()


def rsa_modulus(priv_pem):
    out = run(["openssl", "rsa", "-in", _keyfile(priv_pem), "-noout", "-modulus"]).decode()
    return bytes.fromhex(out.strip().split("=", 1)[1])


# ---------------------------------------------------------------------------
# OpenPGP (RFC 4880) Ed25519 keys assembled from an openssl key
# ---------------------------------------------------------------------------

def _crc24(data):
    crc = 0xB704CE
    for b in data:
        crc ^= b << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def pgp_armor(kind, data, headers=()):
    body = base64.b64encode(data).decode()
    crc = base64.b64encode(struct.pack(">I", _crc24(data))[1:]).decode()
    head = "".join(f"{h}\n" for h in headers)
    return (f"-----BEGIN PGP {kind}-----\n{head}\n{wrap(body, 64)}\n={crc}\n"
            f"-----END PGP {kind}-----\n")


def _mpi(b):
    b = b.lstrip(b"\x00")
    bits = (len(b) - 1) * 8 + b[0].bit_length() if b else 0
    return struct.pack(">H", bits) + b


def _packet(tag, body):
    n = len(body)
    if n < 192:
        ln = bytes([n])
    else:
        n2 = n - 192
        ln = bytes([(n2 >> 8) + 192, n2 & 0xFF])
    return bytes([0xC0 | tag]) + ln + body


def pgp_keypair(uid, created):
    """Return (private_block, public_block) armored, Ed25519 primary key."""
    pem = ssl_key("ed25519")
    kp = _keyfile(pem)
    seed = run(["openssl", "pkey", "-in", kp, "-outform", "DER"])[-32:]
    pub = run(["openssl", "pkey", "-in", kp, "-pubout", "-outform", "DER"])[-32:]
    oid = bytes.fromhex("2B06010401DA470F01")
    pub_body = (bytes([4]) + struct.pack(">I", created) + bytes([22, len(oid)]) + oid
                + _mpi(b"\x40" + pub))
    sec_mpi = _mpi(seed)
    sec_body = pub_body + bytes([0]) + sec_mpi + struct.pack(">H", sum(sec_mpi) & 0xFFFF)
    fpr = hashlib.sha1(b"\x99" + struct.pack(">H", len(pub_body)) + pub_body).digest()
    uidb = uid.encode()
    hashed = (bytes([5, 2]) + struct.pack(">I", created)  # creation time
              + bytes([2, 27, 0x03])                         # key flags: certify+sign
              + bytes([22, 33, 4]) + fpr)                    # issuer fingerprint
    sig_head = bytes([4, 0x13, 22, 10]) + struct.pack(">H", len(hashed)) + hashed
    h = hashlib.sha512(b"\x99" + struct.pack(">H", len(pub_body)) + pub_body
                       + b"\xB4" + struct.pack(">I", len(uidb)) + uidb
                       + sig_head + b"\x04\xFF" + struct.pack(">I", len(sig_head))).digest()
    mpath = _kpath("digest")
    with open(mpath, "wb") as f:
        f.write(h)
    sig = run(["openssl", "pkeyutl", "-sign", "-inkey", kp, "-rawin", "-in", mpath])
    unhashed = bytes([9, 16]) + fpr[-8:]
    sig_body = (sig_head + struct.pack(">H", len(unhashed)) + unhashed + h[:2]
                + _mpi(sig[:32]) + _mpi(sig[32:]))
    tail = _packet(13, uidb) + _packet(2, sig_body)
    priv = pgp_armor("PRIVATE KEY BLOCK", _packet(5, sec_body) + tail)
    publ = pgp_armor("PUBLIC KEY BLOCK", _packet(6, pub_body) + tail)
    return priv, publ


# ---------------------------------------------------------------------------
# provider token shapes (random bodies, published formats)
# ---------------------------------------------------------------------------

def _b62(n, width):
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(width, "0")


def gh_token(prefix="ghp_"):
    body = rs(30, B62)
    return prefix + body + _b62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


def gh_fine_pat():
    return "github_pat_" + rs(22, ALNUM) + "_" + rs(59, ALNUM)


def aws_akid(prefix="AKIA"):
    return prefix + rs(16, UPPER + "234567")


def aws_secret():
    return rs(40, B64CH)


def slack_bot():
    return f"xoxb-{rs(12, DIGITS)}-{rs(13, DIGITS)}-{rs(24, ALNUM)}"


def slack_user():
    return f"xoxp-{rs(11, DIGITS)}-{rs(11, DIGITS)}-{rs(13, DIGITS)}-{hexs(32)}"


def slack_webhook():
    return (f"https://hooks.slack.com/services/T{rs(8, UPPER + DIGITS)}/"
            f"B{rs(10, UPPER + DIGITS)}/{rs(24, ALNUM)}")


def discord_webhook():
    return f"https://discord.com/api/webhooks/{rs(19, DIGITS)}/{rs(68, URLSAFE)}"


def telegram_token():
    return f"{R.randrange(5000000000, 7999999999)}:AA{rs(33, URLSAFE)}"


def stripe_secret(kind="sk_live_"):
    return kind + "51" + rs(22, ALNUM) + rs(75, ALNUM)


def stripe_whsec():
    return "whsec_" + rs(32, ALNUM)


def sendgrid():
    return f"SG.{rs(22, URLSAFE)}.{rs(43, URLSAFE)}"


def openai_key():
    return "sk-proj-" + rs(74, URLSAFE) + "T3BlbkFJ" + rs(74, URLSAFE)


def openai_legacy():
    return "sk-" + rs(20, ALNUM) + "T3BlbkFJ" + rs(20, ALNUM)


def anthropic_key():
    return "sk-ant-api03-" + rs(93, URLSAFE) + "AA"


def hf_token():
    return "hf_" + rs(34, UPPER + LOWER)


def gitlab_pat():
    return "glpat-" + rs(20, URLSAFE)


def npm_token():
    return "npm_" + rs(36, ALNUM)


def pypi_token():
    mac = (b"\x02\x01\x08pypi.org\x02\x25\x00" + rbytes(36)
           + b"\x00\x02\x06\x00\x00\x06\x20" + rbytes(32))
    return "pypi-" + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def docker_pat():
    return "dckr_pat_" + rs(27, URLSAFE)


def do_token():
    return "dop_v1_" + hexs(64)


def google_api_key():
    return "AIza" + rs(35, URLSAFE)


def gcp_oauth_secret():
    return "GOCSPX-" + rs(28, URLSAFE)


def azure_storage_key():
    return b64(64)


def azure_client_secret():
    return rs(3, ALNUM) + "8Q~" + rs(34, ALNUM + "~._-")


def twilio_sid(prefix="AC"):
    return prefix + hexs(32)


def shopify_token(prefix="shpat_"):
    return prefix + hexs(32)


def mapbox_secret(user):
    payload = base64.urlsafe_b64encode(
        json.dumps({"u": user, "a": "cl" + rs(23, LOWER + DIGITS)},
                   separators=(",", ":")).encode()).decode().rstrip("=")
    return f"sk.{payload}.{rs(22, URLSAFE)}"


def vault_token():
    return "hvs." + rs(24, ALNUM)


def tfc_token():
    return f"{rs(14, ALNUM)}.atlasv1.{rs(67, ALNUM)}"


def sentry_user_token():
    return "sntryu_" + hexs(64)


def atlassian_token():
    return "ATATT3xFfGF0" + rs(171, URLSAFE) + "=" + rs(8, HEX.upper())


def mailgun_key():
    return "key-" + hexs(32)


def b2_key():
    return "K00" + rs(28, ALNUM + "+/")


def django_secret():
    return rs(50, LOWER + DIGITS + "!@#%^&*(-_=+)")


def human_password():
    words = ["Kaffee", "Mensa", "Labor", "Pipette", "Zentrifuge", "Tensor",
             "Gradient", "Rhein", "Schwarzwald", "Bibliothek", "Seminar",
             "Nordlicht", "Walnuss", "Mikroskop", "Fahrrad", "Sonnenblume"]
    return (pick(words) + pick(["-", "_", "!", "."]) + pick(words)
            + str(R.randrange(10, 2030)) + pick(["!", "#", "?", "$", ""]))


def random_password(n=None):
    return rs(n or R.randrange(16, 28), ALNUM + "!#%&*+-=?@^_")


def url_password(n=None):
    return rs(n or R.randrange(14, 24), ALNUM + "-_.")


def jwtish(claims):
    h = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    p = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{h}.{p}.{b64url(32)}"


# ---------------------------------------------------------------------------
# file helpers
# ---------------------------------------------------------------------------

def notebook(cells):
    """cells: list of ("md"|"code", source[, outputs])."""
    out = []
    count = 1
    for c in cells:
        kind, src = c[0], c[1]
        lines = src.split("\n")
        source = [l + "\n" for l in lines[:-1]] + [lines[-1]]
        if kind == "md":
            out.append({"cell_type": "markdown", "metadata": {}, "source": source})
        else:
            outputs = c[2] if len(c) > 2 else []
            out.append({"cell_type": "code", "execution_count": count,
                        "metadata": {}, "outputs": outputs, "source": source})
            count += 1
    return json.dumps({
        "cells": out,
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                    "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "version": "3.11.6"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def nb_stream(text):
    lines = text.split("\n")
    return {"name": "stdout", "output_type": "stream",
            "text": [l + "\n" for l in lines[:-1]] + [lines[-1]]}


def nb_png(nbytes=6000):
    return {"data": {"image/png": base64.b64encode(b"\x89PNG\r\n\x1a\n" + rbytes(nbytes)).decode(),
                     "text/plain": ["<Figure size 640x480 with 1 Axes>"]},
            "metadata": {}, "output_type": "display_data"}


def eml(frm, to, subject, body, date, cc=None, extra=""):
    hdr = [f"From: {frm}", f"To: {to}"]
    if cc:
        hdr.append(f"Cc: {cc}")
    hdr += [f"Subject: {subject}", f"Date: {date}",
            f"Message-ID: <{hexs(16)}.{R.randrange(10**5, 10**6)}@{UNI}>",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit"]
    return "\n".join(hdr) + extra + "\n\n" + body


def rdate(year=2024):
    d = datetime.date(year, R.randrange(1, 12), R.randrange(1, 29))
    wd = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d.weekday()]
    mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.month - 1]
    return (f"{wd}, {d.day} {mon} {year} "
            f"{R.randrange(7, 20):02d}:{R.randrange(60):02d}:{R.randrange(60):02d} +0100")


def iso_ts(year=2024, month=None):
    m = month or R.randrange(1, 13)
    return (f"{year}-{m:02d}-{R.randrange(1, 29):02d}T{R.randrange(24):02d}:"
            f"{R.randrange(60):02d}:{R.randrange(60):02d}")


IPS = ["10.20.{}.{}", "192.168.{}.{}", "172.16.{}.{}"]


def rip():
    if R.random() < 0.5:
        return f"{R.randrange(1, 224)}.{R.randrange(256)}.{R.randrange(256)}.{R.randrange(1, 255)}"
    return pick(IPS).format(R.randrange(256), R.randrange(1, 255))


def access_log_lines(n, host=SHOP):
    paths = ["/", "/products", "/products/soil-moisture-kit", "/products/co2-sensor-v2",
             "/cart", "/checkout", "/api/v1/cart/items", "/static/css/app.css",
             "/static/js/app.js", "/account/orders", "/search?q=ph+sensor",
             "/products/lora-gateway", "/api/v1/products?page=2", "/favicon.ico",
             "/robots.txt", "/blog/2023/field-season", "/api/v1/shipping/quote"]
    agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
              "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
              "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
              "curl/8.5.0", "Googlebot/2.1 (+http://www.google.com/bot.html)"]
    out = []
    for _ in range(n):
        out.append(f'{rip()} - - [{R.randrange(1, 29):02d}/Mar/2024:{R.randrange(24):02d}:'
                   f'{R.randrange(60):02d}:{R.randrange(60):02d} +0100] "{pick(["GET", "GET", "GET", "POST"])} '
                   f'{pick(paths)} HTTP/1.1" {pick([200, 200, 200, 304, 302, 404])} {R.randrange(200, 48000)} '
                   f'"-" "{pick(agents)}"')
    return out


def app_log_lines(n, svc="shop-api"):
    msgs = ["GET /api/v1/products 200 {ms}ms", "cart updated cart_id={cid} items={k}",
            "order created order_id=SO-{oid} total_eur={amt}", "cache miss key=product:{k}",
            "worker heartbeat queue=default pending={k}", "shipping quote carrier=DHL zone={k} ms={ms}",
            "session refreshed session={sid}", "stock sync finished updated={k} skipped=0",
            "payment intent confirmed order_id=SO-{oid} last4={l4}",
            "email queued template=order_confirmation order_id=SO-{oid}"]
    out = []
    for _ in range(n):
        m = pick(msgs).format(ms=R.randrange(3, 900), cid=hexs(12), k=R.randrange(1, 40),
                              oid=R.randrange(100000, 999999), amt=f"{R.randrange(9, 900)}.{R.randrange(100):02d}",
                              sid=hexs(8), l4=rs(4, DIGITS))
        out.append(f"{iso_ts(2024, 3)}.{R.randrange(1000):03d}Z {pick(['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN'])} "
                   f"[{svc}] {m}")
    return out


def fill_to(lines_fn, target_bytes):
    out = []
    size = 0
    while size < target_bytes:
        chunk = lines_fn(200)
        out.extend(chunk)
        size += sum(len(l) + 1 for l in chunk)
    return out


# ---------------------------------------------------------------------------
# corpus writer
# ---------------------------------------------------------------------------

class Corpus:
    def __init__(self, root):
        self.root = root
        self.entries = []  # (path, secret, category)
        self.paths = set()

    def add(self, path, content, secret, cat):
        assert not path.startswith("/") and path not in self.paths, path
        assert not re.search(r"(^|/)(node_modules|\.cache|target|__pycache__|tmp|build|dist)(/|$)", path), path
        assert not re.match(r"(etc|usr|tmp|proc|sys|dev|run)/", path), path
        self.paths.add(path)
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        assert len(data) > 0, path
        with open(full, "wb") as f:
            f.write(data)
        self.entries.append((path, 1 if secret else 0, cat))

    def pos(self, cat, path, content):
        self.add(path, content, True, cat)

    def neg(self, cat, path, content):
        self.add(path, content, False, cat)


USERS = ["mbecker", "lchen", "akowalski", "snakamura", "ppatel", "rgarcia",
         "tjohansson", "eokafor", "dmuller", "hkim", "fschmidt", "eivanova"]


# ===========================================================================
# POSITIVES: private keys
# ===========================================================================

def pos_keys(c):
    cat = "key"
    priv, pub = ssh_key("ed25519", comment="mbecker@laptop-mb")
    c.pos(cat, "home/mbecker/.ssh/id_ed25519", priv)
    c.neg("pubkey", "home/mbecker/.ssh/id_ed25519.pub", pub)

    priv, pub = ssh_key("rsa", 3072, comment="lchen@hpc-login01")
    c.pos(cat, "home/lchen/.ssh/id_rsa", priv)
    c.neg("pubkey", "home/lchen/.ssh/id_rsa.pub", pub)

    priv, pub = ssh_key("ecdsa", 256, comment="snakamura@gpu02")
    c.pos(cat, "home/snakamura/.ssh/id_ecdsa", priv)
    c.neg("pubkey", "home/snakamura/.ssh/id_ecdsa.pub", pub)

    priv, _ = ssh_key("ed25519", comment="deploy@labsite")
    c.pos(cat, "home/ppatel/.ssh/github_deploy_labsite", priv)

    priv, _ = ssh_key("rsa", 2048, comment="gitlab-runner@ci01", pem=True)
    c.pos(cat, "srv/gitlab-runner/.ssh/id_rsa", priv)

    priv, _ = ssh_key("ed25519", comment="jenkins@ci01")
    c.pos(cat, "var/lib/jenkins/.ssh/hpc_deploy", priv)

    priv, pub = ssh_key("ecdsa", 384, comment="tjohansson@workstation")
    c.pos(cat, "home/tjohansson/.ssh/hpc_cluster", priv)
    c.neg("pubkey", "home/tjohansson/.ssh/hpc_cluster.pub", pub)

    priv, pub = ssh_key("rsa", 4096, comment="terraform-bastion")
    c.pos(cat, "srv/repos/infra/terraform/bastion/id_bastion", priv)
    c.neg("pubkey", "srv/repos/infra/terraform/bastion/id_bastion.pub", pub)

    # TLS keys
    key, cert = ssl_cert(f"shop.{SHOP}")
    c.pos(cat, f"srv/nginx/ssl/shop.{SHOP}.key", key)
    c.neg("pubkey", f"srv/nginx/ssl/shop.{SHOP}.crt", cert)

    key, cert = ssl_cert(f"www.{SHOP}", ssl_key("rsa"))
    c.pos(cat, "opt/haproxy/certs/shop.pem", cert + key)

    dkim = ssl_key("rsa-trad")
    c.pos(cat, "srv/mail/dkim/default.private", dkim)
    c.neg("pubkey", "srv/mail/dkim/default.txt",
          'default._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "\n\t  "p='
          + '"\n\t  "'.join(wrap(pub_der_b64(dkim), 250).split("\n")) + '" )  ; ----- DKIM key default for '
          + SHOP + "\n")

    key, cert = ssl_cert("db01.bio.uni-hochstadt.de", ssl_key("rsa-trad"))
    c.pos(cat, "var/lib/postgresql/16/main/server.key", key)
    c.neg("pubkey", "var/lib/postgresql/16/main/server.crt", cert)

    eck = ssl_key("ec")
    c.pos(cat, "srv/jupyterhub/ssl/jupyter.key", eck)
    c.neg("pubkey", "srv/jupyterhub/ssl/jupyter.csr", ssl_csr("jupyter.bio.uni-hochstadt.de", eck))

    jwt = ssl_key("rsa")
    c.pos(cat, "opt/shop/app/config/jwt/private.pem", jwt)
    c.neg("pubkey", "opt/shop/app/config/jwt/public.pem", ssl_pub(jwt))

    oauth = ssl_key("rsa")
    c.pos(cat, "var/www/shop/storage/oauth-private.key", oauth)
    c.neg("pubkey", "var/www/shop/storage/oauth-public.key", ssl_pub(oauth))

    key, cert = ssl_cert("registry.bio.uni-hochstadt.de", ssl_key("ed25519"))
    c.pos(cat, "srv/docker/registry/certs/domain.key", key)
    c.neg("pubkey", "srv/docker/registry/certs/domain.crt", cert)

    # embedded keys
    priv, _ = ssh_key("ed25519", comment="backup@nas01")
    c.pos(cat, "home/ppatel/notes/server-setup.md",
          "# nas01 setup notes\n\n- Debian 12, 2x 18TB mirror (zfs pool `tank`)\n"
          "- restic repo on /tank/restic, nightly at 02:30\n- the backup user logs in from hpc-login01 with this key\n"
          "  (copied here so I don't lose it again when the VM is rebuilt):\n\n```\n" + priv + "```\n\n"
          "- `authorized_keys` on nas01 restricts it to `command=\"restic serve\"`\n"
          "- TODO: ask IT for a second UPS\n")

    priv, _ = ssh_key("ed25519", comment="ansible-backup")
    c.pos(cat, "srv/ansible/group_vars/backup/vars.yml",
          "---\nbackup_user: restic\nbackup_target_host: nas01.bio.uni-hochstadt.de\n"
          "backup_schedule: \"30 2 * * *\"\nbackup_paths:\n  - /home\n  - /data/shared\n  - /srv\n"
          "backup_exclude:\n  - '*.tmp'\n  - '/data/scratch'\n\nbackup_ssh_private_key: |\n"
          + indent(priv.rstrip("\n"), "  ") + "\n\nbackup_keep_daily: 7\nbackup_keep_weekly: 5\n")

    key, cert = ssl_cert(f"shop.{SHOP}")
    c.pos(cat, "srv/k8s/shop/tls-secret.yaml",
          "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-tls\n  namespace: shop\n"
          "type: kubernetes.io/tls\ndata:\n"
          f"  tls.crt: {base64.b64encode(cert.encode()).decode()}\n"
          f"  tls.key: {base64.b64encode(key.encode()).decode()}\n")

    priv, _ = ssh_key("ed25519", comment="sftp-sync")
    c.pos(cat, "home/rgarcia/projects/sftp-sync/sync.py",
          '"""Mirror the sequencer output share to the cluster via SFTP."""\n'
          "import io\nimport os\nimport stat\n\nimport paramiko\n\n"
          'HOST = "seqcore-sftp.uni-hochstadt.de"\nUSER = "biolab"\nREMOTE_ROOT = "/outgoing/runs"\n'
          'LOCAL_ROOT = "/data/projects/genomics/incoming"\n\n'
          f'PRIVATE_KEY = """{priv}"""\n\n\n'
          "def connect():\n    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(PRIVATE_KEY))\n"
          "    t = paramiko.Transport((HOST, 22))\n    t.connect(username=USER, pkey=pkey)\n"
          "    return paramiko.SFTPClient.from_transport(t)\n\n\n"
          "def mirror(sftp, remote, local):\n    os.makedirs(local, exist_ok=True)\n"
          "    for entry in sftp.listdir_attr(remote):\n        r = f\"{remote}/{entry.filename}\"\n"
          "        l = os.path.join(local, entry.filename)\n        if stat.S_ISDIR(entry.st_mode):\n"
          "            mirror(sftp, r, l)\n        elif not os.path.exists(l) or os.path.getsize(l) != entry.st_size:\n"
          "            print('fetch', r)\n            sftp.get(r, l)\n\n\n"
          "if __name__ == \"__main__\":\n    mirror(connect(), REMOTE_ROOT, LOCAL_ROOT)\n")

    gpriv, gpub = pgp_keypair("Dirk Mueller <dirk.mueller@bio.uni-hochstadt.de>", 1672531200 + R.randrange(10**7))
    c.pos(cat, "home/dmuller/keys/dmuller-secret-2023.asc", gpriv)
    c.neg("pubkey", "home/dmuller/keys/dmuller-public-2023.asc", gpub)

    gpriv, gpub = pgp_keypair("Becker Lab Release Signing <releases@bio.uni-hochstadt.de>", 1640995200 + R.randrange(10**7))
    c.pos(cat, "data/shared/admin/keys/lab-release-signing.sec.asc", gpriv)
    c.neg("pubkey", "data/shared/admin/keys/lab-release-signing.pub.asc", gpub)

    gpriv, _ = pgp_keypair("Ebele Okafor <ebele.okafor@bio.uni-hochstadt.de>", 1688169600 + R.randrange(10**7))
    c.pos(cat, "home/eokafor/notes/handover.txt",
          "Handover notes (before parental leave)\n=====================================\n\n"
          "1. Simulation runs for chapter 4 are in /data/projects/climate/runs/2023-11*; the\n"
          "   post-processing is in ~/matlab/postproc (run make_figures.m).\n"
          "2. The reviewer response for the GMD paper is in ~/thesis/gmd-response.tex.\n"
          "3. My signing key for the data archive uploads (Lukas asked for it so he can sign\n"
          "   the remaining tarballs while I am away):\n\n" + gpriv +
          "\n4. Teaching: the exercise sheets for ML 2024 are on the course Moodle.\n")

    priv, _ = ssh_key("ed25519", comment="hkim@cluster-access")
    src = ("from pathlib import Path\n\nkey = '''" + priv + "'''\n"
           "p = Path.home() / '.ssh' / 'id_cluster'\np.write_text(key)\np.chmod(0o600)\nprint('written', p)")
    c.pos(cat, "home/hkim/notebooks/cluster-access.ipynb", notebook([
        ("md", "# Cluster access from the JupyterHub\nRun once per new server."),
        ("code", src, [nb_stream("written /home/hkim/.ssh/id_cluster")]),
        ("code", "!ssh -o StrictHostKeyChecking=accept-new -i ~/.ssh/id_cluster hkim@hpc-login01 squeue -u hkim",
         [nb_stream("             JOBID PARTITION     NAME     USER ST       TIME  NODES NODELIST(REASON)\n"
                    "            812233       gpu   unet3d     hkim  R    3:12:09      1 gpu02")]),
    ]))

    eck = ssl_key("ec")
    c.pos(cat, "srv/repos/sensor-gateway/internal/tlsconf/embedded.go",
          "package tlsconf\n\nimport (\n\t\"crypto/tls\"\n\t\"crypto/x509\"\n)\n\n"
          "// Client identity used by the field gateways when they push readings.\n"
          "// TODO(rgarcia): move to the provisioning step.\nconst clientKeyPEM = `" + eck + "`\n\n"
          "func ClientKeyPair(certPEM []byte) (tls.Certificate, error) {\n"
          "\treturn tls.X509KeyPair(certPEM, []byte(clientKeyPEM))\n}\n\n"
          "func Pool(ca []byte) *x509.CertPool {\n\tp := x509.NewCertPool()\n\tp.AppendCertsFromPEM(ca)\n\treturn p\n}\n")

    # big mailbox with the key deep inside
    priv, _ = ssh_key("rsa", 3072, comment="akowalski@old-laptop")
    pool = [("Felix", "Weber"), ("Mei", "Chen"), ("Lukas", "Becker"), ("Sofia", "Rossi")]
    msgs = []
    for i in range(190):
        f, l = pick(pool)
        body = "\n".join(pick(LOREM) for _ in range(R.randrange(6, 16)))
        msgs.append("From akowalski " + rdate(2023) + "\n" +
                    eml(f"Anna Kowalski <anna.kowalski@{INST}>", f"{f} {l} <{f.lower()}.{l.lower()}@{INST}>",
                        pick(["Re: group meeting", "slides", "Re: cluster quota", "draft ch. 3",
                              "Re: seminar room", "data transfer", "Re: reviewer comments"]),
                        body, rdate(2023)) + "\n")
    key_msg = ("From akowalski " + rdate(2023) + "\n" +
               eml(f"Anna Kowalski <anna.kowalski@{INST}>", f"Felix Weber <felix.weber@{INST}>",
                   "key for the old analysis box",
                   "Hi Felix,\n\nhere is the key for the old analysis box (anlys03), it only accepts\n"
                   "key logins. Please put it in your ~/.ssh and chmod 600.\n\n" + priv +
                   "\nCheers,\nAnna\n", rdate(2023)) + "\n")
    mbox = "".join(msgs[:150]) + key_msg + "".join(msgs[150:])
    c.pos(cat, "home/akowalski/mail/Sent", mbox)


LOREM = [
    "Thanks for the update, I will have a look at the numbers tomorrow morning.",
    "The cluster was down for maintenance on Tuesday, so the runs are a bit delayed.",
    "Could you send me the revised figure with the log-scaled axis?",
    "I pushed the changes to the analysis branch; the tests pass on my machine.",
    "Let's discuss the sampling design in the group meeting on Thursday.",
    "The reviewer asks for an ablation without the attention layer.",
    "Room 2.031 is booked from 14:00 to 16:00 for the seminar.",
    "The sequencing core says the flow cell will be loaded next week.",
    "I attached the draft; comments in the margin are very welcome.",
    "Please remember to book the travel through the university portal.",
    "The new GPU node has 4x A100 with 80 GB each, queue name gpu-long.",
    "We still need the consent forms from the last two participants.",
    "The soil moisture kits for the field season were shipped on Monday.",
    "I could not reproduce the result with seed 42, the variance is quite high.",
    "Best regards and have a nice weekend.",
]


# ===========================================================================
# POSITIVES: cloud credentials and service tokens
# ===========================================================================

def pos_cloud(c):
    cat = "cloud"
    c.pos(cat, "home/mbecker/.aws/credentials",
          f"[default]\naws_access_key_id = {aws_akid()}\naws_secret_access_key = {aws_secret()}\n\n"
          f"[s3-archive]\naws_access_key_id = {aws_akid()}\naws_secret_access_key = {aws_secret()}\n"
          "region = eu-central-1\n")

    sa_key = ssl_key("rsa")
    proj = "ee-hochstadt-landcover"
    c.pos(cat, "data/projects/satellite/keys/earthengine-sa.json", json.dumps({
        "type": "service_account", "project_id": proj, "private_key_id": hexs(40),
        "private_key": sa_key, "client_email": f"ee-export@{proj}.iam.gserviceaccount.com",
        "client_id": rs(21, DIGITS), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/ee-export%40{proj}.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com"}, indent=2) + "\n")

    c.pos(cat, "home/ppatel/.git-credentials",
          f"https://ppatel:{gh_token()}@github.com\nhttps://oauth2:{gitlab_pat()}@git.bio.uni-hochstadt.de\n")

    c.pos(cat, "home/snakamura/.netrc",
          f"machine api.wandb.ai\n  login user\n  password {hexs(40)}\n")

    c.pos(cat, "home/hkim/.kaggle/kaggle.json",
          json.dumps({"username": "hyejinkim", "key": hexs(32)}) + "\n")

    c.pos(cat, "home/rgarcia/.huggingface/token", hf_token())

    user, tok = "labbot", docker_pat()
    c.pos(cat, "home/ppatel/.docker/config.json", json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(f"{user}:{tok}".encode()).decode()},
        "registry.bio.uni-hochstadt.de": {"auth": base64.b64encode(f"ppatel:{random_password()}".encode()).decode()}}},
        indent="\t") + "\n")

    c.pos(cat, "srv/gitlab-runner/config.toml",
          'concurrent = 4\ncheck_interval = 0\nshutdown_timeout = 0\n\n[session_server]\n  session_timeout = 1800\n\n'
          '[[runners]]\n  name = "ci01-docker"\n  url = "https://git.bio.uni-hochstadt.de"\n'
          f'  id = {R.randrange(10, 300)}\n  token = "glrt-{rs(20, URLSAFE)}"\n  token_obtained_at = {iso_ts(2024, 1)}Z\n'
          '  token_expires_at = 0001-01-01T00:00:00Z\n  executor = "docker"\n  [runners.docker]\n'
          '    tls_verify = false\n    image = "python:3.11"\n    privileged = false\n'
          '    volumes = ["/cache"]\n    shm_size = 0\n')

    c.pos(cat, "var/www/shop/config/payment.php",
          "<?php\n\nreturn [\n    'provider' => 'stripe',\n    'currency' => 'eur',\n"
          f"    'publishable_key' => env('STRIPE_KEY'),\n    'secret_key' => '{stripe_secret()}',\n"
          f"    'webhook_secret' => '{stripe_whsec()}',\n    'statement_descriptor' => 'SENSORLAB KITS',\n"
          "    'capture_method' => 'automatic',\n];\n")

    c.pos(cat, "srv/shop-api/shopapi/settings/production.py",
          "from .base import *  # noqa\n\nDEBUG = False\nALLOWED_HOSTS = [\"api.sensorlab-kits.de\"]\n\n"
          f"SECRET_KEY = \"{django_secret()}\"\n\nDATABASES = {{\n    \"default\": {{\n"
          "        \"ENGINE\": \"django.db.backends.postgresql\",\n        \"NAME\": \"shop\",\n"
          f"        \"USER\": \"shop_app\",\n        \"PASSWORD\": \"{random_password()}\",\n"
          "        \"HOST\": \"db01.internal\",\n        \"PORT\": \"5432\",\n    }\n}\n\n"
          "CACHES = {\"default\": {\"BACKEND\": \"django.core.cache.backends.redis.RedisCache\",\n"
          "                        \"LOCATION\": \"redis://127.0.0.1:6379/1\"}}\n")

    c.pos(cat, "srv/repos/shop-backend/config/database.yml",
          "default: &default\n  adapter: postgresql\n  encoding: unicode\n  pool: <%= ENV.fetch(\"RAILS_MAX_THREADS\") { 5 } %>\n\n"
          "development:\n  <<: *default\n  database: shop_development\n\n"
          "test:\n  <<: *default\n  database: shop_test\n\n"
          f"production:\n  <<: *default\n  url: postgres://shop:{url_password()}@db01.internal:5432/shop_production\n")

    c.pos(cat, "opt/lab-tools/backup/rclone.conf",
          f"[b2-archive]\ntype = b2\naccount = 00{hexs(10)}0000000{R.randrange(1, 9)}\nkey = {b2_key()}\nhard_delete = false\n\n"
          f"[uni-s3]\ntype = s3\nprovider = Ceph\naccess_key_id = {rs(20, UPPER + DIGITS)}\n"
          f"secret_access_key = {rs(40, ALNUM)}\nendpoint = https://s3.uni-hochstadt.de\n")

    c.pos(cat, "home/akowalski/R/upload_results.R",
          "library(aws.s3)\nlibrary(readr)\n\n"
          f"Sys.setenv(\n  \"AWS_ACCESS_KEY_ID\" = \"{aws_akid()}\",\n  \"AWS_SECRET_ACCESS_KEY\" = \"{aws_secret()}\",\n"
          "  \"AWS_DEFAULT_REGION\" = \"eu-central-1\"\n)\n\n"
          "res <- read_csv(\"results/model_comparison.csv\")\n"
          "s3write_using(res, FUN = write_csv, object = \"kowalski/model_comparison.csv\",\n"
          "              bucket = \"becker-lab-results\")\nmessage(\"uploaded \", nrow(res), \" rows\")\n")

    c.pos(cat, "home/eokafor/matlab/fetch_weather.m",
          "% fetch_weather.m  -- pull hourly observations for the field stations\n"
          "stations = {'Feldberg', 'Hochstadt-Nord', 'Rheinaue'};\n"
          f"apiKey = '{hexs(32)}';   % OpenWeatherMap (group account)\n"
          "opts = weboptions('Timeout', 30, 'ContentType', 'json');\n"
          "for k = 1:numel(stations)\n"
          "    url = sprintf('https://api.openweathermap.org/data/2.5/weather?q=%s,DE&units=metric&appid=%s', ...\n"
          "                  stations{k}, apiKey);\n    w = webread(url, opts);\n"
          "    fprintf('%-16s %6.1f C  %5.1f %%\\n', stations{k}, w.main.temp, w.main.humidity);\nend\n")

    c.pos(cat, "home/tjohansson/jobs/train_llm.slurm",
          "#!/bin/bash\n#SBATCH --job-name=llm-ft\n#SBATCH --partition=gpu-long\n#SBATCH --gres=gpu:a100:4\n"
          "#SBATCH --cpus-per-task=32\n#SBATCH --mem=256G\n#SBATCH --time=2-00:00:00\n"
          "#SBATCH --output=logs/%x-%j.out\n\nmodule load cuda/12.2 python/3.11\nsource ~/venvs/llm/bin/activate\n\n"
          f"export WANDB_API_KEY={hexs(40)}\nexport WANDB_PROJECT=protein-lm\nexport HF_TOKEN={hf_token()}\n"
          "export HF_HOME=/data/shared/hf-home\n\n"
          "srun torchrun --nproc_per_node=4 train.py \\\n    --model meta-llama/Llama-2-7b-hf \\\n"
          "    --data /data/projects/protein/uniref50-tok \\\n    --epochs 3 --lr 2e-5 --bf16\n")

    c.pos(cat, "home/lchen/notebooks/llm-eval.ipynb", notebook([
        ("md", "## Zero-shot annotation eval\nCompare GPT-4o with our fine-tuned model on 200 abstracts."),
        ("code", f"import openai\nimport pandas as pd\n\nclient = openai.OpenAI(api_key=\"{openai_key()}\")\n"
                 "df = pd.read_parquet('/data/projects/annot/abstracts_200.parquet')\nlen(df)",
         [{"data": {"text/plain": ["200"]}, "execution_count": 1, "metadata": {}, "output_type": "execute_result"}]),
        ("code", "def annotate(text):\n    r = client.chat.completions.create(model='gpt-4o', messages=[\n"
                 "        {'role': 'system', 'content': 'Label the organism studied.'},\n"
                 "        {'role': 'user', 'content': text}])\n    return r.choices[0].message.content"),
    ]))

    c.pos(cat, "srv/slack-bot/index.js",
          "const { App } = require('@slack/bolt');\n\nconst app = new App({\n"
          f"  token: '{slack_bot()}',\n  signingSecret: '{hexs(32)}',\n"
          "  port: 3055,\n});\n\napp.command('/queue', async ({ ack, respond }) => {\n  await ack();\n"
          "  const q = await require('./slurm').queueSummary();\n  await respond(q);\n});\n\n"
          "(async () => {\n  await app.start();\n  console.log('lab bot running');\n})();\n")

    c.pos(cat, "srv/monitoring/alertmanager/alertmanager.yml",
          "global:\n  resolve_timeout: 5m\n  smtp_smarthost: 'mail.uni-hochstadt.de:587'\n"
          "  smtp_from: 'alertmanager@bio.uni-hochstadt.de'\n\nroute:\n  receiver: slack-lab\n"
          "  group_by: ['alertname', 'instance']\n  group_wait: 30s\n  repeat_interval: 4h\n\n"
          f"receivers:\n  - name: slack-lab\n    slack_configs:\n      - api_url: '{slack_webhook()}'\n"
          "        channel: '#server-alerts'\n        send_resolved: true\n")

    c.pos(cat, "srv/monitoring/grafana/provisioning/datasources/shop-postgres.yaml",
          "apiVersion: 1\n\ndatasources:\n  - name: shop-db\n    type: postgres\n    url: db01.internal:5432\n"
          "    user: grafana_ro\n    jsonData:\n      database: shop\n      sslmode: require\n"
          f"    secureJsonData:\n      password: '{random_password()}'\n")

    c.pos(cat, "opt/shop/worker/mailer.go",
          "package worker\n\nimport (\n\t\"github.com/sendgrid/sendgrid-go\"\n\t\"github.com/sendgrid/sendgrid-go/helpers/mail\"\n)\n\n"
          f"const sendgridKey = \"{sendgrid()}\"\n\n"
          "func SendOrderMail(to, name, subject, html string) error {\n"
          "\tfrom := mail.NewEmail(\"Sensorlab Kits\", \"orders@sensorlab-kits.de\")\n"
          "\tmsg := mail.NewSingleEmail(from, subject, mail.NewEmail(name, to), \"\", html)\n"
          "\t_, err := sendgrid.NewSendClient(sendgridKey).Send(msg)\n\treturn err\n}\n")

    salts = "\n".join(f"define( '{k}', '{rs(64, ALNUM + '!@#$%^&*()-_[]{}<>~+=,.;:/?|')}' );"
                      for k in ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
                                "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"])
    c.pos(cat, "var/www/blog/wp-config.php",
          "<?php\n/** The base configuration for WordPress */\n\ndefine( 'DB_NAME', 'labblog' );\n"
          f"define( 'DB_USER', 'labblog' );\ndefine( 'DB_PASSWORD', '{human_password()}' );\n"
          "define( 'DB_HOST', 'localhost' );\ndefine( 'DB_CHARSET', 'utf8mb4' );\ndefine( 'DB_COLLATE', '' );\n\n"
          + salts.replace("'", "'") + "\n\n$table_prefix = 'wp_';\ndefine( 'WP_DEBUG', false );\n\n"
          "if ( ! defined( 'ABSPATH' ) ) {\n\tdefine( 'ABSPATH', __DIR__ . '/' );\n}\nrequire_once ABSPATH . 'wp-settings.php';\n")

    c.pos(cat, "srv/repos/infra/.gitlab-ci.yml",
          "stages: [lint, build, publish]\n\nvariables:\n  PIP_DISABLE_PIP_VERSION_CHECK: \"1\"\n"
          f"  NPM_TOKEN: \"{npm_token()}\"\n\n"
          "lint:\n  stage: lint\n  image: python:3.11\n  script:\n    - pip install ruff\n    - ruff check .\n\n"
          "publish-ui:\n  stage: publish\n  image: node:20\n  script:\n"
          "    - echo \"//registry.npmjs.org/:_authToken=${NPM_TOKEN}\" > .npmrc\n    - npm publish --access public\n"
          "  only: [tags]\n")

    c.pos(cat, "home/ppatel/.npmrc",
          f"//registry.npmjs.org/:_authToken={npm_token()}\n@becker-lab:registry=https://registry.npmjs.org/\n")

    c.pos(cat, "home/rgarcia/.pypirc",
          "[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\nusername = __token__\n"
          f"password = {pypi_token()}\n\n[testpypi]\nrepository = https://test.pypi.org/legacy/\n"
          "username = __token__\n")

    c.pos(cat, "srv/repos/infra/terraform/terraform.tfvars",
          f"do_token           = \"{do_token()}\"\nregion             = \"fra1\"\n"
          "droplet_size       = \"s-2vcpu-4gb\"\nshop_domain        = \"sensorlab-kits.de\"\n"
          f"azure_client_id     = \"{uuid4()}\"\nazure_client_secret = \"{azure_client_secret()}\"\n"
          f"azure_tenant_id     = \"{uuid4()}\"\n")

    c.pos(cat, "home/mbecker/.terraformrc",
          f"credentials \"app.terraform.io\" {{\n  token = \"{tfc_token()}\"\n}}\n\n"
          "plugin_cache_dir = \"$HOME/.terraform.d/plugin-cache\"\n")

    unseal = "\n".join(f"Unseal Key {i}: {b64(33)}" for i in range(1, 6))
    c.pos(cat, "srv/vault/init-output-2023-10-02.txt",
          unseal + f"\n\nInitial Root Token: {vault_token()}\n\n"
          "Vault initialized with 5 key shares and a key threshold of 3. Please securely\n"
          "distribute the key shares printed above. When the Vault is re-sealed,\n"
          "restarted, or stopped, you must supply at least 3 of these keys to unseal it\n"
          "before it can start servicing requests.\n")

    c.pos(cat, "opt/telegram-alerts/notify.sh",
          "#!/bin/sh\n# usage: notify.sh \"message\"   (called from the UPS and smartd hooks)\n"
          f"BOT_TOKEN=\"{telegram_token()}\"\nCHAT_ID=\"-100{rs(10, DIGITS)}\"\n"
          "curl -s -X POST \"https://api.telegram.org/bot${BOT_TOKEN}/sendMessage\" \\\n"
          "     -d chat_id=\"${CHAT_ID}\" -d text=\"[$(hostname)] $1\" >/dev/null\n")

    c.pos(cat, "srv/discord-bot/config.json", json.dumps({
        "guild": "Becker Lab", "announce_channel": "general", "webhook_url": discord_webhook(),
        "poll_interval_s": 300, "feeds": ["https://www.biorxiv.org/rss/subject/bioinformatics"]}, indent=2) + "\n")

    c.pos(cat, "var/www/shop/app/etc/env.php",
          "<?php\nreturn [\n    'backend' => ['frontName' => 'admin_" + rs(6, LOWER + DIGITS) + "'],\n"
          f"    'crypt' => ['key' => '{hexs(32)}'],\n    'db' => [\n        'table_prefix' => '',\n"
          "        'connection' => [\n            'default' => [\n                'host' => 'localhost',\n"
          "                'dbname' => 'magento',\n                'username' => 'magento',\n"
          f"                'password' => '{random_password()}',\n                'model' => 'mysql4',\n"
          "                'engine' => 'innodb',\n                'active' => '1',\n            ],\n        ],\n    ],\n"
          "    'resource' => ['default_setup' => ['connection' => 'default']],\n    'MAGE_MODE' => 'production',\n"
          "    'session' => ['save' => 'files'],\n];\n")

    c.pos(cat, "srv/shop-api/Reporting/appsettings.Production.json", json.dumps({
        "Logging": {"LogLevel": {"Default": "Information", "Microsoft.AspNetCore": "Warning"}},
        "ConnectionStrings": {"ShopDb": f"Server=db02.internal,1433;Database=ShopReporting;User Id=reporting;Password={random_password()};TrustServerCertificate=True;"},
        "AllowedHosts": "*"}, indent=2) + "\n")

    c.pos(cat, "srv/repos/sensor-gateway/src/main/resources/application.properties",
          "server.port=8081\nspring.application.name=sensor-gateway\n\n"
          f"spring.datasource.url=jdbc:postgresql://db01.internal:5432/sensors?user=gateway&password={url_password()}\n"
          "spring.jpa.hibernate.ddl-auto=validate\n\nspring.mail.host=mail.uni-hochstadt.de\nspring.mail.port=587\n"
          "spring.mail.username=sensor-gateway\n"
          f"spring.mail.password={human_password()}\n")

    c.pos(cat, "home/hkim/.pgpass",
          f"db01.internal:5432:shop:hkim:{random_password()}\n"
          f"db01.internal:5432:sensors:hkim:{random_password()}\n*:5432:*:postgres:{human_password()}\n")

    c.pos(cat, "home/dmuller/.my.cnf",
          f"[client]\nuser=dmuller\npassword=\"{human_password()}\"\nhost=db02.internal\n\n[mysqldump]\nsingle-transaction\n")

    c.pos(cat, "srv/mongo-backup/backup.sh",
          "#!/usr/bin/env bash\nset -euo pipefail\nSTAMP=$(date +%F)\nOUT=/data/backups/mongo/$STAMP\nmkdir -p \"$OUT\"\n"
          f"mongodump --uri \"mongodb+srv://backup:{rs(16, ALNUM)}@cluster0.{rs(5, LOWER + DIGITS)}.mongodb.net/fieldobs\" \\\n"
          "          --gzip --out \"$OUT\"\nfind /data/backups/mongo -maxdepth 1 -mtime +30 -exec rm -rf {} +\n")

    conn = (f"DefaultEndpointsProtocol=https;AccountName=hochstadtimaging;AccountKey={azure_storage_key()};"
            "EndpointSuffix=core.windows.net")
    c.pos(cat, "data/projects/imaging/scripts/upload_to_azure.py",
          "import sys\nfrom pathlib import Path\n\nfrom azure.storage.blob import BlobServiceClient\n\n"
          f"CONN = \"{conn}\"\nCONTAINER = \"lightsheet-raw\"\n\n\n"
          "def main(folder):\n    svc = BlobServiceClient.from_connection_string(CONN)\n"
          "    cont = svc.get_container_client(CONTAINER)\n    for p in sorted(Path(folder).rglob('*.tif')):\n"
          "        with p.open('rb') as fh:\n            cont.upload_blob(str(p.relative_to(folder)), fh, overwrite=True)\n"
          "        print('uploaded', p)\n\n\nif __name__ == '__main__':\n    main(sys.argv[1])\n")

    c.pos(cat, "home/fschmidt/.cdsapirc",
          f"url: https://cds.climate.copernicus.eu/api/v2\nkey: {R.randrange(100000, 400000)}:{uuid4()}\n")

    c.pos(cat, "srv/shop-api/config/shopify.yml",
          "shopify:\n  shop: sensorlab-kits.myshopify.com\n  api_version: \"2024-01\"\n"
          f"  admin_access_token: {shopify_token()}\n  api_secret: {shopify_token('shpss_')}\n"
          "  sync:\n    products: true\n    inventory: true\n    interval_minutes: 15\n")

    c.pos(cat, "home/lchen/projects/claude-eval/run.sh",
          "#!/usr/bin/env bash\n# run the extraction benchmark against Claude\nset -e\ncd \"$(dirname \"$0\")\"\n"
          f"export ANTHROPIC_API_KEY={anthropic_key()}\n"
          "python bench.py --model claude-3-5-sonnet-20240620 --n 500 --out results/$(date +%Y%m%d).jsonl\n")

    c.pos(cat, "srv/repos/website/Makefile",
          "IMAGE := beckerlab/website\nTAG := $(shell git describe --tags --always)\n\n.PHONY: image push deploy\n\n"
          "image:\n\tdocker build -t $(IMAGE):$(TAG) .\n\n"
          f"push: image\n\tdocker login -u beckerlab -p {docker_pat()}\n\tdocker push $(IMAGE):$(TAG)\n\n"
          "deploy: push\n\tssh web01 'cd /srv/website && docker compose pull && docker compose up -d'\n")

    c.pos(cat, "srv/monitoring/sentry/.sentryclirc",
          f"[defaults]\nurl = https://sentry.io/\norg = becker-lab\nproject = shop-frontend\n\n[auth]\ntoken = {sentry_user_token()}\n")

    c.pos(cat, "home/snakamura/.config/gh/hosts.yml",
          f"github.com:\n    user: snakamura\n    oauth_token: {gh_token('gho_')}\n    git_protocol: ssh\n")

    c.pos(cat, "opt/lab-tools/zenodo/upload.py",
          "\"\"\"Create a new Zenodo deposition for a dataset release.\"\"\"\nimport json\nimport sys\n\nimport requests\n\n"
          f"ACCESS_TOKEN = '{rs(60, ALNUM)}'\nAPI = 'https://zenodo.org/api/deposit/depositions'\n\n\n"
          "def create(meta_file):\n    meta = json.load(open(meta_file))\n"
          "    r = requests.post(API, params={'access_token': ACCESS_TOKEN}, json={'metadata': meta})\n"
          "    r.raise_for_status()\n    print('created deposition', r.json()['id'])\n\n\nif __name__ == '__main__':\n"
          "    create(sys.argv[1])\n")

    c.pos(cat, "srv/shop-api/notifications/sms.rb",
          "require 'twilio-ruby'\n\nmodule Notifications\n  class Sms\n"
          f"    ACCOUNT_SID = '{twilio_sid()}'\n    AUTH_TOKEN  = '{hexs(32)}'\n    FROM        = '+4915735982210'\n\n"
          "    def self.shipped(order)\n      client = Twilio::REST::Client.new(ACCOUNT_SID, AUTH_TOKEN)\n"
          "      client.messages.create(from: FROM, to: order.phone,\n"
          "                             body: \"Your Sensorlab Kits order #{order.number} has shipped.\")\n    end\n  end\nend\n")

    c.pos(cat, "srv/repos/fieldmap/scripts/upload_tiles.sh",
          "#!/bin/bash\n# Upload the vector tiles of the field plots to Mapbox Studio\nset -e\n"
          f"export MAPBOX_ACCESS_TOKEN={mapbox_secret('beckerlab')}\n"
          "for f in tiles/*.mbtiles; do\n  name=$(basename \"$f\" .mbtiles)\n"
          "  mapbox upload \"beckerlab.${name}\" \"$f\"\ndone\n")

    c.pos(cat, "data/projects/geo/geocode_sites.py",
          "import csv\nimport time\n\nimport googlemaps\n\n"
          f"gmaps = googlemaps.Client(key=\"{google_api_key()}\")\n\n"
          "with open('sites.csv') as fh, open('sites_geocoded.csv', 'w', newline='') as out:\n"
          "    w = csv.writer(out)\n    w.writerow(['site', 'lat', 'lng'])\n    for row in csv.DictReader(fh):\n"
          "        res = gmaps.geocode(row['address'])\n        loc = res[0]['geometry']['location'] if res else {}\n"
          "        w.writerow([row['site'], loc.get('lat'), loc.get('lng')])\n        time.sleep(0.1)\n")

    c.pos(cat, "home/mbecker/scripts/jira_sync.py",
          "#!/usr/bin/env python3\n\"\"\"Copy open lab-infrastructure tickets from Jira into the wiki table.\"\"\"\n"
          "from jira import JIRA\n\n"
          f"jira = JIRA(server='https://beckerlab.atlassian.net',\n            basic_auth=('michael.becker@{INST}', '{atlassian_token()}'))\n\n"
          "issues = jira.search_issues('project = INFRA AND statusCategory != Done ORDER BY priority DESC')\n"
          "for i in issues:\n    print(f'| {i.key} | {i.fields.summary} | {i.fields.assignee} |')\n")

    c.pos(cat, "opt/shop/app/config/packages/oauth_google.yaml",
          "knpu_oauth2_client:\n    clients:\n        google:\n            type: google\n"
          f"            client_id: '{rs(12, DIGITS)}-{rs(32, LOWER + DIGITS)}.apps.googleusercontent.com'\n"
          f"            client_secret: '{gcp_oauth_secret()}'\n            redirect_route: connect_google_check\n")

    c.pos(cat, "srv/shop-api/mail/mailgun.ini",
          f"[mailgun]\ndomain = mg.{SHOP}\napi_key = {mailgun_key()}\nregion = eu\n")

    # big application log with a leaked connection string deep inside
    lines = fill_to(lambda n: app_log_lines(n), 150 * 1024)
    leak = (f"{iso_ts(2024, 3)}.512Z ERROR [shop-api] could not connect to database: "
            f"psycopg2.OperationalError: connection to server failed (dsn=postgresql://shop_app:{url_password()}@db01.internal:5432/shop)")
    tail = fill_to(lambda n: app_log_lines(n), 50 * 1024)
    c.pos(cat, "srv/shop-api/logs/app-2024-03-14.log", "\n".join(lines + [leak] + tail) + "\n")

    # SLURM array job with AWS session credentials
    c.pos(cat, "data/projects/climate/jobs/cmip6_sync.slurm",
          "#!/bin/bash\n#SBATCH -J cmip6-sync\n#SBATCH -p cpu\n#SBATCH -c 4\n#SBATCH --array=0-11\n#SBATCH -t 12:00:00\n\n"
          f"export AWS_ACCESS_KEY_ID={aws_akid('ASIA')}\nexport AWS_SECRET_ACCESS_KEY={aws_secret()}\n"
          f"export AWS_SESSION_TOKEN={b64(240)}\n\n"
          "MODELS=(ACCESS-CM2 CanESM5 CESM2 EC-Earth3 GFDL-ESM4 IPSL-CM6A-LR MIROC6 MPI-ESM1-2-HR MRI-ESM2-0 NorESM2-LM UKESM1-0-LL CNRM-CM6-1)\n"
          "M=${MODELS[$SLURM_ARRAY_TASK_ID]}\n"
          "aws s3 sync s3://cmip6-pds/CMIP6/ScenarioMIP/ /data/projects/climate/cmip6/ --exclude '*' --include \"*/$M/*tas*\"\n")


# ===========================================================================
# POSITIVES: .env secrets
# ===========================================================================

def pos_env(c):
    cat = "env"
    E = []  # (path, text)
    E.append(("var/www/shop/.env",
              "APP_NAME=\"Sensorlab Kits\"\nAPP_ENV=production\n"
              f"APP_KEY=base64:{b64(32)}\nAPP_DEBUG=false\nAPP_URL=https://{SHOP}\n\nLOG_CHANNEL=daily\n\n"
              "DB_CONNECTION=mysql\nDB_HOST=127.0.0.1\nDB_PORT=3306\nDB_DATABASE=shop\nDB_USERNAME=shop\n"
              f"DB_PASSWORD={random_password()}\n\nMAIL_MAILER=smtp\nMAIL_HOST=smtp.{SHOP}\nMAIL_PORT=587\n"
              f"MAIL_USERNAME=orders@{SHOP}\nMAIL_PASSWORD={human_password()}\nMAIL_ENCRYPTION=tls\n"))
    E.append(("srv/shop-api/.env.production",
              f"DJANGO_SETTINGS_MODULE=shopapi.settings.production\nDJANGO_SECRET_KEY='{django_secret()}'\n"
              f"DATABASE_PASSWORD={random_password()}\nREDIS_URL=redis://127.0.0.1:6379/0\nSENTRY_ENVIRONMENT=production\n"))
    E.append(("srv/jupyterhub/.env",
              f"JUPYTERHUB_CRYPT_KEY={hexs(64)}\nOAUTH_CLIENT_ID=jupyterhub-bio\n"
              f"OAUTH_CLIENT_SECRET={rs(32, ALNUM)}\nOAUTH_CALLBACK_URL=https://jupyter.bio.uni-hochstadt.de/hub/oauth_callback\n"
              "DOCKER_NOTEBOOK_IMAGE=quay.io/jupyter/scipy-notebook:2024-03-04\n"))
    E.append(("srv/docker/nextcloud/db.env",
              f"MYSQL_ROOT_PASSWORD={random_password()}\nMYSQL_PASSWORD={random_password()}\n"
              "MYSQL_DATABASE=nextcloud\nMYSQL_USER=nextcloud\n"))
    E.append(("srv/docker/gitea/.env",
              "USER_UID=1000\nUSER_GID=1000\nGITEA__database__DB_TYPE=postgres\nGITEA__database__HOST=db:5432\n"
              f"GITEA__database__PASSWD={random_password()}\nGITEA__security__SECRET_KEY={rs(64, ALNUM)}\n"
              f"GITEA__security__INTERNAL_TOKEN={jwtish({'nbf': 1700000000 + R.randrange(10**7)})}\n"))
    E.append(("srv/monitoring/.env",
              "GF_SERVER_ROOT_URL=https://grafana.bio.uni-hochstadt.de\nGF_SECURITY_ADMIN_USER=admin\n"
              f"GF_SECURITY_ADMIN_PASSWORD={human_password()}\nPROMETHEUS_RETENTION=30d\n"))
    E.append(("home/lchen/projects/paper-bot/.env",
              f"# paper-bot local settings\nOPENAI_API_KEY={openai_legacy()}\nZOTERO_USER_ID={rs(7, DIGITS)}\n"
              f"ZOTERO_API_KEY={rs(24, ALNUM)}\nDIGEST_RECIPIENT=lchen\n"))
    E.append(("home/ppatel/projects/labsite/.env.local",
              f"NEXTAUTH_URL=http://localhost:3000\nNEXTAUTH_SECRET={b64(32)}\n"
              f"DATABASE_URL=\"postgresql://labsite:{url_password()}@localhost:5432/labsite?schema=public\"\n"
              f"GITHUB_ID={hexs(20)}\nGITHUB_SECRET={hexs(40)}\n"))
    E.append(("opt/shop/worker/.env",
              "QUEUE=orders,mail\nCONCURRENCY=4\nREDIS_HOST=127.0.0.1\n"
              f"REDIS_PASSWORD={rs(32, ALNUM)}\nSMTP_HOST=smtp.{SHOP}\nSMTP_USER=worker@{SHOP}\n"
              f"SMTP_PASS={random_password()}\n"))
    E.append(("srv/docker/postgres/.env",
              f"POSTGRES_USER=postgres\nPOSTGRES_PASSWORD={random_password()}\nPGDATA=/var/lib/postgresql/data/pgdata\n"))
    E.append(("home/rgarcia/.envrc",
              "# direnv for the sequencing pipeline\nexport PIPELINE_ENV=dev\nexport PGHOST=db01.internal\n"
              f"export PGUSER=rgarcia\nexport PGPASSWORD='{human_password()}'\n"
              f"export NF_TOWER_ACCESS_TOKEN={b64(45)}\nlayout python3\n"))
    E.append(("srv/docker/minio/.env",
              f"MINIO_ROOT_USER=labadmin\nMINIO_ROOT_PASSWORD={random_password(24)}\n"
              "MINIO_BROWSER_REDIRECT_URL=https://minio.bio.uni-hochstadt.de/console\n"))
    E.append(("srv/docker/keycloak/keycloak.env",
              f"KEYCLOAK_ADMIN=admin\nKEYCLOAK_ADMIN_PASSWORD={random_password()}\nKC_DB=postgres\n"
              f"KC_DB_URL=jdbc:postgresql://db:5432/keycloak\nKC_DB_USERNAME=keycloak\nKC_DB_PASSWORD={random_password()}\n"
              "KC_HOSTNAME=sso.bio.uni-hochstadt.de\n"))
    E.append(("opt/lab-tools/backup/restic.env",
              f"RESTIC_REPOSITORY=b2:becker-lab-backup:nas01\nRESTIC_PASSWORD='{human_password()} {human_password()}'\n"
              f"B2_ACCOUNT_ID=00{hexs(10)}0000000003\nB2_ACCOUNT_KEY={b2_key()}\n"))
    E.append(("srv/docker/mattermost/.env",
              "DOMAIN=chat.bio.uni-hochstadt.de\nTZ=Europe/Berlin\nPOSTGRES_USER=mmuser\n"
              f"POSTGRES_PASSWORD={url_password()}\nPOSTGRES_DB=mattermost\n"
              f"MM_SQLSETTINGS_DATASOURCE=postgres://mmuser:{url_password()}@postgres:5432/mattermost?sslmode=disable\n"))
    E.append(("data/projects/imaging/.env",
              f"AZURE_STORAGE_ACCOUNT=hochstadtimaging\nAZURE_STORAGE_KEY={azure_storage_key()}\nOMERO_HOST=omero.bio.uni-hochstadt.de\n"
              f"OMERO_USER=imaging\nOMERO_PASSWORD={human_password()}\n"))
    E.append(("home/snakamura/projects/scraper/.env",
              "PROXY_HOST=proxy.uni-hochstadt.de\nPROXY_PORT=3128\nPROXY_USER=snakamura\n"
              f"PROXY_PASSWORD={human_password()}\nNCBI_API_KEY={hexs(36)}\nREQUESTS_PER_SECOND=8\n"))
    E.append(("srv/shop-api/.env",
              f"JWT_SECRET={b64(48)}\nJWT_EXPIRES_IN=15m\nREFRESH_TOKEN_SECRET={hexs(64)}\n"
              f"COOKIE_SECRET={rs(40, ALNUM)}\nPORT=8080\n"))
    E.append(("srv/docker/wikijs/.env",
              f"DB_TYPE=postgres\nDB_HOST=db\nDB_PORT=5432\nDB_USER=wikijs\nDB_PASS={random_password()}\nDB_NAME=wiki\n"))
    E.append(("var/www/blog/.env",
              "WORDPRESS_DB_HOST=db:3306\nWORDPRESS_DB_USER=labblog\n"
              f"WORDPRESS_DB_PASSWORD={random_password()}\nWORDPRESS_DB_NAME=labblog\n"
              f"MYSQL_ROOT_PASSWORD={random_password()}\n"))
    E.append(("srv/docker/rabbitmq/.env",
              f"RABBITMQ_DEFAULT_USER=shop\nRABBITMQ_DEFAULT_PASS={rs(24, ALNUM)}\n"
              f"RABBITMQ_ERLANG_COOKIE={rs(20, UPPER)}\n"))
    E.append(("home/tjohansson/.env",
              "# personal tokens for scripts in ~/bin -- do not commit\n"
              f"SMTP_PASSWORD=\"{human_password()}\"   # uni mail, for the job-finished notifier\n"
              f"GITHUB_TOKEN={gh_fine_pat()}\n"))
    E.append(("srv/docker/authentik/.env",
              f"PG_PASS={rs(36, ALNUM)}\nAUTHENTIK_SECRET_KEY={rs(60, ALNUM)}\n"
              "AUTHENTIK_ERROR_REPORTING__ENABLED=false\nCOMPOSE_PORT_HTTPS=9443\n"))
    E.append(("opt/shop/app/.env.prod",
              f"APP_ENV=prod\nAPP_SECRET={hexs(32)}\n"
              f"DATABASE_URL=\"mysql://shop:{url_password()}@127.0.0.1:3306/shop?serverVersion=8.0.36&charset=utf8mb4\"\n"
              f"MAILER_DSN=smtp://orders%40{SHOP}:{url_password()}@smtp.{SHOP}:587\n"))
    E.append(("srv/docker/n8n/.env",
              f"N8N_HOST=automation.bio.uni-hochstadt.de\nN8N_ENCRYPTION_KEY={rs(32, ALNUM)}\n"
              f"N8N_BASIC_AUTH_ACTIVE=true\nN8N_BASIC_AUTH_USER=admin\nN8N_BASIC_AUTH_PASSWORD={human_password()}\n"
              "GENERIC_TIMEZONE=Europe/Berlin\n"))
    for path, text in E:
        c.pos(cat, path, text)


# ===========================================================================
# POSITIVES: payment cards
# ===========================================================================

def pos_cards(c):
    cat = "card"
    # order export with a card column for phone orders
    rows = ["order_no,date,customer,channel,card_number,exp,amount_eur,status"]
    for i in range(60):
        ch = "phone" if i % 11 == 3 else pick(["web", "web", "web", "shop-counter"])
        card = fmt_card(make_card(pick(["visa", "mc"])), "plain") if ch == "phone" else ""
        exp = f"{R.randrange(1, 13):02d}/{R.randrange(25, 30)}" if card else ""
        f, l = person()
        rows.append(f"SO-{240200 + i},2024-02-{R.randrange(1, 29):02d},{f} {l},{ch},{card},{exp},"
                    f"{R.randrange(20, 600)}.{R.randrange(100):02d},{pick(['paid', 'shipped', 'shipped'])}")
    c.pos(cat, "var/www/shop/exports/orders-phone-2024-02.csv", "\n".join(rows) + "\n")

    # big SQL dump, one payment note deep inside
    out = ["-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)", "--", "-- Host: localhost    Database: shop",
           "-- ------------------------------------------------------", "",
           "DROP TABLE IF EXISTS `order_notes`;", "CREATE TABLE `order_notes` (",
           "  `id` int NOT NULL AUTO_INCREMENT,", "  `order_id` int NOT NULL,", "  `note` text,",
           "  `created_at` datetime NOT NULL,", "  PRIMARY KEY (`id`)", ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;", ""]
    notes = ["customer asked for invoice with VAT id", "shipped with DHL Express", "gift wrapping requested",
             "replacement sensor sent", "address corrected by phone", "pickup at institute reception",
             "partial refund for damaged probe", "backorder: LoRa gateway"]
    n = 0
    size = 0
    card_line = None
    while size < 200 * 1024:
        n += 1
        line = (f"INSERT INTO `order_notes` VALUES ({n},{R.randrange(1000, 9999)},'{pick(notes)}',"
                f"'2023-{R.randrange(1, 13):02d}-{R.randrange(1, 29):02d} {R.randrange(24):02d}:{R.randrange(60):02d}:00');")
        if card_line is None and size > 150 * 1024:
            card_line = (f"INSERT INTO `order_notes` VALUES ({n},{R.randrange(1000, 9999)},"
                         f"'phone order, card {fmt_card(make_card('mc'), 'space')} exp 09/27, charge manually',"
                         "'2023-11-17 10:41:00');")
            line = card_line
        out.append(line)
        size += len(line) + 1
    c.pos(cat, "var/lib/shop/backups/shop-notes-2023-12-31.sql", "\n".join(out) + "\n")

    c.pos(cat, "home/mbecker/mail/inbox/1709812345.M611P2231.eml",
          eml(f"Jonas Weber <jweber{R.randrange(10, 99)}@{pick(FREEMAIL)}>", f"shop@{SHOP}",
              "Bestellung per Telefon / Kreditkarte",
              "Hallo,\n\nwie am Telefon besprochen hier meine Kartendaten fuer die Bestellung\n"
              "(2x Bodenfeuchte-Kit, 1x LoRa-Gateway):\n\n"
              f"Visa {fmt_card(make_card('visa'), 'space')}\ngueltig bis 08/26, Pruefnummer {rs(3, DIGITS)}\n\n"
              "Viele Gruesse\nJonas Weber\n", rdate()))

    c.pos(cat, "srv/shop-api/tests/test_payments.py",
          "import pytest\n\nfrom shopapi.payments import charge, PaymentDeclined\n\n\n"
          "@pytest.mark.stripe\ndef test_successful_charge(stripe_mock):\n"
          "    result = charge(amount=1999, currency='eur', card='4242424242424242', exp='12/34', cvc='123')\n"
          "    assert result.status == 'succeeded'\n\n\n"
          "@pytest.mark.stripe\ndef test_declined(stripe_mock):\n    with pytest.raises(PaymentDeclined):\n"
          "        charge(amount=1999, currency='eur', card='4000000000000002', exp='12/34', cvc='123')\n")

    c.pos(cat, "var/www/shop/tests/Feature/CheckoutTest.php",
          "<?php\n\nnamespace Tests\\Feature;\n\nuse Tests\\TestCase;\n\nclass CheckoutTest extends TestCase\n{\n"
          "    public function test_debit_card_checkout(): void\n    {\n        $response = $this->post('/checkout', [\n"
          "            'card_number' => '4000 0566 5566 5556',\n            'exp_month' => 12,\n            'exp_year' => 2034,\n"
          "            'cvc' => '314',\n        ]);\n        $response->assertRedirect('/checkout/thanks');\n    }\n}\n")

    c.pos(cat, "home/ppatel/notes/travel-booking.txt",
          "ISMB 2024 Montreal -- booking notes\n\n- conference registration: done (student rate)\n"
          "- flight FRA-YUL via Air Canada, booked via travel office\n"
          f"- hotel: paid with the group's travel card {fmt_card(make_card('mc'), 'space')} (exp 03/27)\n"
          "  Lukas said this is fine, keep the receipt for the reimbursement!\n- poster printing: copy shop, 35 EUR\n")

    c.pos(cat, "srv/shop-api/logs/payment-debug-2024-01-09.log",
          "\n".join(app_log_lines(40, "payment")) + "\n" +
          f"{iso_ts(2024, 1)}.337Z DEBUG [payment] request body: "
          + json.dumps({"order": "SO-239981", "amount": 14990, "currency": "EUR",
                        "card": {"number": make_card("visa"), "exp_month": 4, "exp_year": 2027, "cvc": rs(3, DIGITS)}})
          + "\n" + "\n".join(app_log_lines(40, "payment")) + "\n")

    c.pos(cat, "data/shared/admin/finance/conference-registration.md",
          "# Conference registrations 2024\n\n| who | conference | fee | paid |\n|---|---|---|---|\n"
          "| Mei | ISMB | 650 USD | yes |\n| Priya | ECCB | 480 EUR | yes |\n| Tomasz | EGU | 420 EUR | pending |\n\n"
          "All paid with the group Amex (Lukas has the physical card):\n\n"
          f"    {fmt_card(make_card('amex'), 'space')}   exp 11/26   CID {rs(4, DIGITS)}\n\n"
          "Receipts go to the finance folder, please name them `YYYY-conf-name.pdf`.\n")

    c.pos(cat, "home/akowalski/Documents/reimbursement/kostenerstattung.tex",
          "\\documentclass[11pt]{scrartcl}\n\\usepackage[ngerman]{babel}\n\\usepackage[utf8]{inputenc}\n"
          "\\begin{document}\n\\section*{Antrag auf Kostenerstattung}\n\\begin{tabular}{ll}\n"
          "Name: & Anna Kowalski \\\\\nKostenstelle: & 4711-2030 \\\\\nAnlass: & EGU General Assembly 2024 \\\\\n"
          "Betrag: & 1.284,50 EUR \\\\\n"
          f"Bezahlt mit Kreditkarte: & {fmt_card(make_card('visa'), 'space')} \\\\\n"
          "\\end{tabular}\n\n\\vspace{2cm}Unterschrift: \\rule{6cm}{0.4pt}\n\\end{document}\n")

    c.pos(cat, "srv/support/tickets/ticket-4821.json", json.dumps({
        "id": 4821, "subject": "Zahlung fehlgeschlagen", "status": "open", "channel": "email",
        "created_at": iso_ts(2024, 2) + "Z",
        "messages": [{"from": "customer", "body": "Die Zahlung mit meiner Mastercard geht nicht durch. "
                      f"Nummer ist {fmt_card(make_card('mc'), 'dash')}, Ablauf 05/28. Koennen Sie es manuell versuchen?"},
                     {"from": "agent", "body": "Bitte senden Sie uns niemals Kartendaten per E-Mail. Wir melden uns."}]},
        indent=2, ensure_ascii=False) + "\n")

    c.pos(cat, "var/www/shop/public/admin/manual-order.html",
          "<!doctype html>\n<html lang=\"de\">\n<head><meta charset=\"utf-8\"><title>Manuelle Bestellung</title></head>\n<body>\n"
          "<form method=\"post\" action=\"/admin/orders/manual\">\n  <label>Kunde <input name=\"customer\" value=\"Institut fuer Geooekologie\"></label>\n"
          f"  <label>Kartennummer <input name=\"card\" value=\"{fmt_card(make_card('discover'), 'space')}\"></label>\n"
          "  <label>Ablauf <input name=\"exp\" value=\"07/27\"></label>\n  <button>Belasten</button>\n</form>\n</body>\n</html>\n")

    rows = "\n".join(f"{i}  {make_card(pick(['visa', 'mc', 'visa']))}  {R.randrange(5, 900)}.{R.randrange(100):02d}  {pick(['DE', 'FR', 'NL', 'US'])}  {pick(['0', '0', '1'])}"
                     for i in range(8))
    c.pos(cat, "home/lchen/notebooks/fraud-detect-sample.ipynb", notebook([
        ("md", "# Fraud model -- quick look at the raw export"),
        ("code", "import pandas as pd\nraw = pd.read_csv('/data/projects/fraud/raw_export.csv', dtype={'pan': str})\nraw.head(8)",
         [{"data": {"text/plain": ["         pan  amount country  is_fraud\n" + rows]}, "execution_count": 1,
           "metadata": {}, "output_type": "execute_result"}]),
        ("code", "raw['bin'] = raw.pan.str[:6]\nraw.groupby('bin').is_fraud.mean().sort_values().tail()"),
    ]))

    c.pos(cat, "srv/repos/shop-backend/spec/fixtures/payment_methods.yml",
          "visa_success:\n  brand: visa\n  number: \"4242 4242 4242 4242\"\n  exp: \"12/34\"\n\n"
          "mastercard_2series:\n  brand: mastercard\n  number: \"2223003122003222\"\n  exp: \"12/34\"\n\n"
          "amex:\n  brand: amex\n  number: \"378282246310005\"\n  exp: \"12/34\"\n")

    c.pos(cat, "home/hkim/R/payments_cleanup.R",
          "library(dplyr)\n\npayments <- tibble::tribble(\n  ~id, ~card_number, ~amount,\n"
          + ",\n".join(f"  {i}, \"{fmt_card(make_card(pick(['visa', 'mc'])), pick(['space', 'plain']))}\", {R.randrange(10, 300)}.{R.randrange(10, 99)}"
                       for i in range(1, 7))
          + "\n)\n\npayments %>% mutate(last4 = substr(gsub(' ', '', card_number), 13, 16)) %>% select(-card_number)\n")

    c.pos(cat, "home/eokafor/matlab/luhn_demo.m",
          "% luhn_demo.m  -- exercise sheet 3, checksum algorithms\nnum = '4111111111111111';\n"
          "d = num - '0';\nd = fliplr(d);\nd(2:2:end) = d(2:2:end) * 2;\nd(d > 9) = d(d > 9) - 9;\n"
          "fprintf('%s valid: %d\\n', num, mod(sum(d), 10) == 0);\n")

    c.pos(cat, "opt/shop/worker/seed_dev_data.js",
          "// Seed data for the local dev database\nmodule.exports = {\n  customers: [\n"
          f"    {{ name: 'Test Kunde', card: '{make_card('discover')}', exp: '10/27' }},\n"
          f"    {{ name: 'Zweiter Kunde', card: '{make_card('jcb')}', exp: '02/28' }},\n  ],\n"
          "  products: ['soil-moisture-kit', 'co2-sensor-v2', 'lora-gateway'],\n};\n")

    c.pos(cat, "srv/support/chat-exports/2024-01-intercom.txt",
          "[2024-01-12 14:02] Visitor: hi, my order SO-238812 is stuck at payment\n"
          "[2024-01-12 14:03] Mia (Sensorlab Kits): Hi! Sorry about that. Which payment method did you use?\n"
          f"[2024-01-12 14:04] Visitor: visa, {fmt_card(make_card('visa'), 'dash')}\n"
          "[2024-01-12 14:04] Mia (Sensorlab Kits): Please don't share card numbers in the chat -- I'll send you a payment link.\n"
          "[2024-01-12 14:09] Visitor: ok thanks\n")

    c.pos(cat, "home/rgarcia/Documents/hotel-booking-form.txt",
          "HOTEL KYOTO STATION -- Credit card authorization form\n\nGuest name: Rafael Garcia\n"
          "Arrival: 2024-06-03   Departure: 2024-06-08\nCard type: JCB\n"
          f"Card number: {fmt_card(make_card('jcb'), 'space')}\nExpiry: 06/27\nCardholder: RAFAEL GARCIA\n")

    c.pos(cat, "var/www/shop/storage/logs/laravel-2024-02-11.log",
          f"[2024-02-11 09:14:22] production.ERROR: Stripe\\Exception\\CardException: Your card was declined. "
          f"{{\"request\":{{\"card_number\":\"{make_card('mc')}\",\"exp\":\"01/26\"}},\"exception\":\"[object] (Stripe\\\\Exception\\\\CardException(code: 0): "
          "Your card was declined. at /var/www/shop/vendor/stripe/stripe-php/lib/Exception/ApiErrorException.php:38)\"}\n"
          "[2024-02-11 09:14:22] production.INFO: checkout failed {\"order\":\"SO-240117\"}\n")

    c.pos(cat, "data/shared/admin/purchasing/corporate-card.md",
          "# Group purchasing card (Visa Business)\n\nHolder: Prof. Dr. Lukas Becker\nLimit: 5.000 EUR/month\n\n"
          f"Number: {fmt_card(make_card('visa'), 'space')}\nValid thru: 09/26\n\n"
          "Use for: conference fees, AWS invoices, small hardware orders < 500 EUR.\n")

    c.pos(cat, "srv/shop-api/Reporting/Tests/PaymentTests.cs",
          "using Xunit;\n\nnamespace Reporting.Tests;\n\npublic class PaymentTests\n{\n    [Theory]\n"
          "    [InlineData(\"5555555555554444\")]\n    [InlineData(\"5105105105105100\")]\n"
          "    public void MastercardIsRecognised(string pan)\n    {\n"
          "        Assert.Equal(CardBrand.Mastercard, CardBrandDetector.Detect(pan));\n    }\n}\n")

    c.pos(cat, "home/snakamura/projects/pos-sim/sim_test.go",
          "package possim\n\nimport \"testing\"\n\nfunc TestBrands(t *testing.T) {\n\tcases := map[string]string{\n"
          "\t\t\"3056930009020004\": \"diners\",\n\t\t\"3566002020360505\": \"jcb\",\n\t\t\"6011111111111117\": \"discover\",\n"
          "\t}\n\tfor pan, want := range cases {\n\t\tif got := Brand(pan); got != want {\n"
          "\t\t\tt.Errorf(\"Brand(%s) = %s, want %s\", pan, got, want)\n\t\t}\n\t}\n}\n")

    # big access log with a card in a query string deep inside
    lines = fill_to(lambda n: access_log_lines(n), 160 * 1024)
    leak = (f'{rip()} - - [14/Mar/2024:11:02:31 +0100] "GET /checkout/legacy?amount=89.90&cc={make_card("visa")}'
            f'&exp=0427&cvv={rs(3, DIGITS)} HTTP/1.1" 302 0 "-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"')
    tail = fill_to(lambda n: access_log_lines(n), 40 * 1024)
    c.pos(cat, "srv/shop-api/logs/access-2024-03.log", "\n".join(lines + [leak] + tail) + "\n")

    c.pos(cat, "srv/repos/shop-backend/db/seeds.rb",
          "# Development seeds\nCustomer.create!(name: 'Demo Kunde', email: 'demo@example.org')\n"
          f"PaymentMethod.create!(customer: Customer.first, pan: '{fmt_card(make_card('mc'), 'space')}', exp: '11/27')\n"
          "Product.create!([{ sku: 'SMK-01', name: 'Soil moisture kit' }, { sku: 'CO2-02', name: 'CO2 sensor v2' }])\n")

    c.pos(cat, "home/dmuller/mail/drafts/registration-fee.eml",
          eml(f"Dirk Mueller <dirk.mueller@{INST}>", "registration@gfoe-2024.org",
              "Registration fee payment D. Mueller",
              "Dear organisers,\n\nthe online payment form keeps timing out, so here are the card details\n"
              "for my registration (early bird, member rate):\n\n"
              f"Card: {fmt_card(make_card('unionpay'), 'space')}\nExpiry: 10/26\nName on card: Dirk Mueller\n\n"
              "Kind regards,\nDirk Mueller\n", rdate()))

    c.pos(cat, "srv/repos/shop-backend/docs-internal/payments.md",
          "# Payments (internal)\n\nWe use Stripe. For manual QA in test mode use\n\n"
          "* `4242 4242 4242 4242` -- succeeds\n* `4000 0025 0000 3155` -- requires 3-D Secure\n"
          "* `4000 0000 0000 9995` -- declined, insufficient funds\n\nAny future expiry date and any CVC work.\n")


# ===========================================================================
# POSITIVES: IBANs
# ===========================================================================

def pos_iban(c):
    cat = "iban"
    shop_iban = make_iban("DE")
    c.pos(cat, "home/mbecker/Documents/invoices/invoice-2024-017.tex",
          "\\documentclass[a4paper]{scrlttr2}\n\\usepackage[ngerman]{babel}\n\\setkomavar{fromname}{Prof. Dr. Lukas Becker}\n"
          "\\begin{document}\n\\begin{letter}{Deutsche Gesellschaft fuer Oekologie\\\\ Geschaeftsstelle}\n"
          "\\opening{Sehr geehrte Damen und Herren,}\nfuer den Workshop-Vortrag am 14.03.2024 stelle ich in Rechnung:\n\n"
          "\\begin{tabular}{lr}\nHonorar & 350,00 EUR\\\\ Reisekosten & 128,40 EUR\\\\ \\hline Summe & 478,40 EUR\n\\end{tabular}\n\n"
          f"Bitte ueberweisen Sie den Betrag auf folgendes Konto:\\\\\nIBAN: {fmt_iban(make_iban('DE'))}\\\\\nBIC: SOLADES1HOC\n\n"
          "\\closing{Mit freundlichen Gruessen}\n\\end{letter}\n\\end{document}\n")

    rows = ["date;name;purpose;amount_eur;iban"]
    for i in range(14):
        f, l = person()
        rows.append(f"2024-{R.randrange(1, 6):02d}-{R.randrange(1, 29):02d};{f} {l};"
                    f"{pick(['travel EGU', 'poster print', 'field trip fuel', 'reagents', 'conference fee'])};"
                    f"{R.randrange(20, 900)},{R.randrange(100):02d};{make_iban(pick(['DE', 'DE', 'DE', 'AT', 'NL', 'FR']))}")
    c.pos(cat, "data/shared/admin/finance/reimbursements-2024.csv", "\n".join(rows) + "\n")

    c.pos(cat, "var/www/shop/config/payment-bank-transfer.yml",
          "bank_transfer:\n  enabled: true\n  account_holder: \"Sensorlab Kits UG (haftungsbeschraenkt)\"\n"
          f"  iban: \"{fmt_iban(shop_iban)}\"\n  bic: \"SOLADES1HOC\"\n  bank_name: \"Sparkasse Hochstadt\"\n"
          "  payment_terms_days: 14\n  reference_format: \"SO-{order_number}\"\n")

    tx = []
    for i in range(3):
        f, l = person()
        tx.append(f"      <CdtTrfTxInf>\n        <PmtId><EndToEndId>REFUND-{R.randrange(10000, 99999)}</EndToEndId></PmtId>\n"
                  f"        <Amt><InstdAmt Ccy=\"EUR\">{R.randrange(10, 300)}.{R.randrange(100):02d}</InstdAmt></Amt>\n"
                  f"        <Cdtr><Nm>{f} {l}</Nm></Cdtr>\n        <CdtrAcct><Id><IBAN>{make_iban(pick(['DE', 'AT', 'BE', 'LU']))}</IBAN></Id></CdtrAcct>\n"
                  f"        <RmtInf><Ustrd>Erstattung Bestellung SO-{R.randrange(230000, 240000)}</Ustrd></RmtInf>\n      </CdtTrfTxInf>")
    c.pos(cat, "var/lib/shop/sepa/pain001-2024-03-refunds.xml",
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\n"
          "  <CstmrCdtTrfInitn>\n    <GrpHdr><MsgId>SLK-2024-03-REF</MsgId><CreDtTm>2024-03-28T10:00:00</CreDtTm>"
          "<NbOfTxs>3</NbOfTxs><InitgPty><Nm>Sensorlab Kits UG</Nm></InitgPty></GrpHdr>\n"
          "    <PmtInf>\n      <PmtInfId>REF-0328</PmtInfId>\n      <PmtMtd>TRF</PmtMtd>\n"
          f"      <DbtrAcct><Id><IBAN>{shop_iban}</IBAN></Id></DbtrAcct>\n"
          "      <DbtrAgt><FinInstnId><BICFI>SOLADES1HOC</BICFI></FinInstnId></DbtrAgt>\n"
          + "\n".join(tx) + "\n    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n")

    c.pos(cat, "home/lchen/mail/inbox/1706623344.M22P1182.eml",
          eml(f"Sarah Hughes <s.hughes@{pick(FREEMAIL)}>", f"Mei Chen <mei.chen@{INST}>",
              "Re: deposit for the flat",
              "Hi Mei,\n\ngreat, then we do it like that. Please transfer the deposit (1,200 GBP) to\n"
              f"my UK account:\n\nIBAN {fmt_iban(make_iban('GB'))}\nName: Sarah Hughes\n\nThanks!\nSarah\n", rdate()))

    c.pos(cat, "srv/shop-api/shopapi/templates/invoice.html",
          "{% load i18n %}<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Rechnung {{ order.number }}</title></head>\n<body>\n"
          "<h1>Rechnung {{ order.number }}</h1>\n<table>{% for item in order.items %}<tr><td>{{ item.name }}</td>"
          "<td>{{ item.total }}</td></tr>{% endfor %}</table>\n"
          "<footer>\n  Sensorlab Kits UG &middot; Am Botanischen Garten 3 &middot; 79999 Hochstadt<br>\n"
          f"  Sparkasse Hochstadt &middot; IBAN {fmt_iban(shop_iban)} &middot; BIC SOLADES1HOC<br>\n"
          "  USt-IdNr. DE318842270\n</footer>\n</body></html>\n")

    c.pos(cat, "data/projects/climate/workshop/registration-info.md",
          "# Summer school \"Regional climate downscaling\" -- registration\n\nFee: 180 EUR (students 90 EUR), "
          "covers lunches and the excursion.\n\nPlease transfer the fee to\n\n"
          "    Universitaetskasse Hochstadt\n    IBAN DE89 3704 0044 0532 0130 00\n"
          "    Reference: SS-CLIM-2024 <your surname>\n\nRegistration closes on 15 May.\n")

    c.pos(cat, "home/akowalski/R/payroll_check.R",
          "library(tibble)\n\n# student assistants, SoSe 2024\nhiwis <- tribble(\n  ~name, ~hours, ~iban,\n"
          + ",\n".join(f"  \"{f} {l}\", {R.randrange(20, 80)}, \"{fmt_iban(make_iban('DE'))}\"" for f, l, _ in people(4))
          + "\n)\n\nstopifnot(all(nchar(gsub(' ', '', hiwis$iban)) == 22))\nsum(hiwis$hours) * 13.25\n")

    c.pos(cat, "home/eokafor/matlab/iban_validate.m",
          "function ok = iban_validate(iban)\n% IBAN_VALIDATE  ISO 13616 mod-97 check.\n%   iban_validate('GB82WEST12345698765432')  -> true\n"
          "iban = upper(strrep(iban, ' ', ''));\ns = [iban(5:end) iban(1:4)];\nd = '';\nfor ch = s\n"
          "    if isletter(ch), d = [d num2str(ch - 'A' + 10)]; else, d = [d ch]; end\nend\nr = 0;\n"
          "for k = 1:numel(d), r = mod(r * 10 + (d(k) - '0'), 97); end\nok = (r == 1);\nend\n")

    c.pos(cat, "srv/repos/shop-backend/tests/test_iban.py",
          "from shop.banking import normalize_iban, is_valid_iban\n\n\n"
          "def test_valid_dutch():\n    assert is_valid_iban('NL91ABNA0417164300')\n\n\n"
          "def test_normalize():\n    assert normalize_iban(' nl91 abna 0417 1643 00 ') == 'NL91ABNA0417164300'\n")

    c.pos(cat, "opt/shop/app/src/Service/RefundService.php",
          "<?php\n\nnamespace App\\Service;\n\nfinal class RefundService\n{\n"
          f"    private const DEBTOR_IBAN = '{shop_iban}';\n    private const DEBTOR_BIC = 'SOLADES1HOC';\n\n"
          "    public function __construct(private SepaWriter $writer) {}\n\n"
          "    public function refund(string $creditorIban, string $name, int $cents, string $ref): void\n    {\n"
          "        $this->writer->addTransfer(self::DEBTOR_IBAN, self::DEBTOR_BIC, $creditorIban, $name, $cents, $ref);\n    }\n}\n")

    c.pos(cat, "home/ppatel/notes/flat-deposit.txt",
          "Flat Rue des Vosges (Strasbourg semester)\n- rent 640 EUR, deposit 1280 EUR\n- landlord: M. Lefevre\n"
          f"- bank details for the deposit: {fmt_iban(make_iban('FR'))} (BIC CMCIFR2A)\n- keys on 1 Sept\n")

    # big bank statement export, counterpart IBAN deep inside
    lines = ["Buchungstag;Valuta;Buchungstext;Verwendungszweck;Betrag;Waehrung"]
    texts = ["KARTENZAHLUNG", "LASTSCHRIFT", "GUTSCHRIFT", "DAUERAUFTRAG", "ENTGELT"]
    purposes = ["Mensa Campus Nord", "Stadtwerke Hochstadt Abschlag", "Bahn Ticket", "Buchhandlung am Markt",
                "Drogerie", "Kontofuehrung", "Miete Wohnung 3OG", "Fahrradladen", "Apotheke", "Supermarkt"]
    size = 0
    inserted = False
    while size < 200 * 1024:
        d = f"{R.randrange(1, 29):02d}.{R.randrange(1, 13):02d}.2023"
        line = f"{d};{d};{pick(texts)};{pick(purposes)};-{R.randrange(1, 300)},{R.randrange(100):02d};EUR"
        if not inserted and size > 140 * 1024:
            line = (f"{d};{d};UEBERWEISUNG;Kaution Rueckzahlung {fmt_iban(make_iban('DE'), False)} Hausverwaltung Kern;"
                    "1450,00;EUR")
            inserted = True
        lines.append(line)
        size += len(line) + 1
    c.pos(cat, "home/dmuller/Documents/bank/umsaetze-2023.csv", "\n".join(lines) + "\n")

    c.pos(cat, "srv/support/tickets/ticket-5120.json", json.dumps({
        "id": 5120, "subject": "Devolucion pedido SO-240377", "status": "pending",
        "messages": [{"from": "customer", "body": "Hola, por favor devuelvan el importe a mi cuenta "
                      f"{fmt_iban(make_iban('ES'))}. Gracias."}]}, indent=2, ensure_ascii=False) + "\n")

    c.pos(cat, "home/snakamura/Documents/stipend-form.txt",
          "DAAD scholarship -- monthly payment details\n\nName: Sota Nakamura\nAddress: Wiesenweg 12, 79999 Hochstadt\n"
          f"Account holder: Sota Nakamura\nIBAN: {make_iban('DE')}\nBank: Volksbank Hochstadt\n")

    c.pos(cat, "data/shared/admin/grants/erc-budget-notes.md",
          "# ERC StG budget notes\n\n- PI salary share: 30%\n- 2 PhD positions (E13 65%)\n- equipment: GPU node 48k EUR\n\n"
          "Subcontract to the Vienna partner lab -- payments go to\n"
          f"`{fmt_iban(make_iban('AT'))}` (Universitaet Wien, Drittmittel), reference ERC-101xxxxx-WP3.\n")

    c.pos(cat, "home/hkim/notebooks/sepa-export.ipynb", notebook([
        ("md", "Prepare the payouts for the Zurich collaborators"),
        ("code", "import pandas as pd\npayouts = pd.read_csv('payouts_q1.csv')\npayouts",
         [{"data": {"text/plain": ["       name   amount                   iban\n"
                                   f"0  {pick(FIRST)} {pick(LAST)}   820.00  {make_iban('CH')}\n"
                                   f"1  {pick(FIRST)} {pick(LAST)}  1150.00  {make_iban('CH')}"]},
           "execution_count": 1, "metadata": {}, "output_type": "execute_result"}]),
    ]))

    c.pos(cat, "var/www/shop/resources/views/emails/order-confirmation.blade.php",
          "@component('mail::message')\n# Vielen Dank fuer Ihre Bestellung {{ $order->number }}\n\n"
          "@if($order->payment_method === 'bank_transfer')\nBitte ueberweisen Sie {{ $order->total }} EUR innerhalb von 14 Tagen an:\n\n"
          f"Sensorlab Kits UG  \nIBAN: {fmt_iban(shop_iban)}  \nBIC: SOLADES1HOC  \nVerwendungszweck: {{{{ $order->number }}}}\n@endif\n\n"
          "Ihr Sensorlab-Kits-Team\n@endcomponent\n")

    c.pos(cat, "srv/repos/shop-backend/config/locales/de.yml",
          "de:\n  checkout:\n    bank_transfer:\n      title: \"Vorkasse / Ueberweisung\"\n"
          f"      instructions: \"Bitte ueberweisen Sie den Betrag an Sensorlab Kits UG, IBAN {fmt_iban(shop_iban)}, BIC SOLADES1HOC.\"\n"
          "    card:\n      title: \"Kreditkarte\"\n")

    c.pos(cat, "opt/shop/worker/payout.go",
          "package worker\n\n// Irish fulfilment partner, monthly payout of the consignment sales.\n"
          f"const partnerIBAN = \"{make_iban('IE')}\"\nconst partnerBIC = \"AIBKIE2D\"\n\n"
          "func MonthlyPayout(cents int64) Transfer {\n\treturn Transfer{IBAN: partnerIBAN, BIC: partnerBIC, Cents: cents,\n"
          "\t\tRef: \"Consignment payout\"}\n}\n")

    c.pos(cat, "home/fschmidt/Documents/polish-partner-invoice.txt",
          "Faktura / Invoice 2024/03/118\nSeller: GeoSensor Sp. z o.o., Krakow\nBuyer: Universitaet Hochstadt, AG Becker\n"
          "Item: 6x soil temperature probe TMP-22   1 620,00 PLN\n"
          f"Payment: bank transfer within 21 days to {fmt_iban(make_iban('PL'))}\n")


# ===========================================================================
# POSITIVES: bulk personal data (e-mail lists)
# ===========================================================================

def pos_personal(c):
    cat = "personal"
    ppl = people(26)
    c.pos(cat, "data/shared/admin/mailing-lists/group-members.csv",
          "first_name,last_name,email,role,room\n" +
          "\n".join(f"{f},{l},{e},{pick(['PhD', 'PhD', 'Postdoc', 'MSc', 'HiWi', 'Technician'])},{pick(['2.03', '2.05', '2.11', '3.01'])}"
                    for f, l, e in ppl) + "\n")

    c.pos(cat, "srv/mailman/lists/seminar-announce-members.txt",
          "\n".join(e for _, _, e in people(64)) + "\n")

    rows = ["email,first_name,subscribed_at,source,double_opt_in"]
    for f, l, e in people(160, style=R.choice([2, 4, 5])):
        rows.append(f"{e},{f},{iso_ts(R.choice([2022, 2023, 2024]))},{pick(['checkout', 'footer', 'blog'])},true")
    c.pos(cat, "var/www/shop/exports/newsletter-subscribers-2024.csv", "\n".join(rows) + "\n")

    vals = ",\n".join(f"({i},'{f}','{l}','{e}','{iso_ts(2023)}')" for i, (f, l, e) in enumerate(people(42), 1))
    c.pos(cat, "var/lib/shop/backups/customers-2024-03-01.sql",
          "-- PostgreSQL database dump\n\nCREATE TABLE public.customers (\n    id integer NOT NULL,\n    first_name text,\n"
          "    last_name text,\n    email text NOT NULL,\n    created_at timestamp without time zone\n);\n\n"
          "INSERT INTO public.customers (id, first_name, last_name, email, created_at) VALUES\n" + vals + ";\n")

    c.pos(cat, "data/projects/survey/participants.tsv",
          "pid\tname\temail\tcohort\tconsent_date\n" +
          "\n".join(f"P{i:03d}\t{f} {l}\t{e}\t{pick(['A', 'B'])}\t2023-{R.randrange(4, 10):02d}-{R.randrange(1, 29):02d}"
                    for i, (f, l, e) in enumerate(people(31), 1)) + "\n")

    c.pos(cat, "home/mbecker/Documents/workshop-2023/attendees.json", json.dumps(
        [{"name": f"{f} {l}", "email": e, "affiliation": pick(["Uni Hochstadt", "KIT", "Uni Freiburg", "ETH Zurich", "Uni Basel"]),
          "dinner": pick([True, False])} for f, l, e in people(45)], indent=2) + "\n")

    cards = []
    for f, l, e in people(25):
        cards.append(f"BEGIN:VCARD\nVERSION:3.0\nN:{l};{f};;;\nFN:{f} {l}\nEMAIL;TYPE=INTERNET:{e}\n"
                     f"TEL;TYPE=CELL:+49 1{R.randrange(50, 79)} {rs(7, DIGITS)}\nEND:VCARD")
    c.pos(cat, "home/lchen/contacts.vcf", "\n".join(cards) + "\n")

    c.pos(cat, "srv/repos/labsite/.mailmap",
          "\n".join(f"{f} {l} <{e}> <{f.lower()}@{pick(['laptop.local', 'MacBook-Pro.local', 'hpc-login01'])}>"
                    for f, l, e in people(23)) + "\n")

    c.pos(cat, "home/akowalski/R/send_reminders.R",
          "library(blastula)\n\nstudents <- c(\n" + ",\n".join(f"  \"{e}\"" for _, _, e in people(24, style=1)) +
          "\n)\n\nfor (s in students) {\n  compose_email(body = md(\"Reminder: exercise sheet 5 is due Friday.\")) |>\n"
          "    smtp_send(to = s, from = \"anna.kowalski@bio.uni-hochstadt.de\", subject = \"Stats II reminder\",\n"
          "              credentials = creds_file(\"~/.smtp_creds\"))\n}\n")

    tbl = "\n".join(f"{i:<3}{f+' '+l:<22}{e:<42}{R.randrange(1, 9)}" for i, (f, l, e) in enumerate(people(30)))
    c.pos(cat, "home/ppatel/notebooks/cohort-analysis.ipynb", notebook([
        ("code", "import pandas as pd\ncohort = pd.read_csv('/data/projects/survey/cohort_b.csv')\nprint(cohort[['name', 'email', 'visits']].to_string())",
         [nb_stream("   name                  email                                     visits\n" + tbl)]),
        ("code", "cohort.visits.describe()"),
    ]))

    c.pos(cat, "srv/jupyterhub/jupyterhub_config.py",
          "c = get_config()  # noqa\n\nc.JupyterHub.authenticator_class = 'oauthenticator.generic.GenericOAuthenticator'\n"
          "c.GenericOAuthenticator.username_claim = 'email'\n\nc.Authenticator.allowed_users = {\n" +
          ",\n".join(f"    '{e}'" for _, _, e in people(28, style=R.choice([0, 3]))) +
          "\n}\nc.Authenticator.admin_users = {'michael.becker@bio.uni-hochstadt.de'}\n"
          "c.Spawner.default_url = '/lab'\nc.Spawner.mem_limit = '16G'\n")

    c.pos(cat, "home/eokafor/teaching/ml-2023/grades-export.csv",
          "matrikel,name,email,sheet_points,exam,grade\n" +
          "\n".join(f"{R.randrange(4000000, 4999999)},\"{l}, {f}\",{e},{R.randrange(20, 100)},{R.randrange(10, 60)},{pick(['1.3', '1.7', '2.0', '2.3', '3.0', '4.0', '5.0'])}"
                    for f, l, e in people(55, style=1)) + "\n")

    rcpt = people(26)
    c.pos(cat, "home/dmuller/mail/Sent/1710245511.M93P4410.eml",
          eml(f"Dirk Mueller <dirk.mueller@{INST}>", ", ".join(f"{f} {l} <{e}>" for f, l, e in rcpt[:14]),
              "Field campaign 2024: dates and car sharing",
              "Dear all,\n\nthe field campaign will run from 3 to 14 June. Please enter yourself in the car sharing\n"
              "sheet by Friday.\n\nBest,\nDirk\n", rdate(), cc=", ".join(e for _, _, e in rcpt[14:])))

    c.pos(cat, "srv/support/exports/zendesk-users-2024-01.json", json.dumps(
        {"users": [{"id": R.randrange(10**11, 10**12), "name": f"{f} {l}", "email": e, "role": "end-user",
                    "created_at": iso_ts(2023) + "Z"} for f, l, e in people(35, style=R.choice([2, 4, 5]))],
         "count": 35}, indent=1) + "\n")

    trs = "\n".join(f"    <tr><td>{f} {l}</td><td>{e}</td><td>{pick(['talk', 'poster', 'attendee'])}</td></tr>"
                    for f, l, e in people(40))
    c.pos(cat, "data/shared/admin/conference/registrations.html",
          "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>GfOe Regional Meeting -- registrations</title></head>\n<body>\n"
          "<table>\n    <tr><th>Name</th><th>E-mail</th><th>Type</th></tr>\n" + trs + "\n</table>\n</body></html>\n")

    rows = " \\\\\n".join(f"{f} {l} & {pick(['Farmer', 'Extension officer', 'Agronomist', 'Cooperative lead'])} & \\texttt{{{e}}}"
                          for f, l, e in people(21))
    c.pos(cat, "home/hkim/thesis/appendix-interviewees.tex",
          "\\chapter{Interview partners}\\label{app:interviews}\n\\begin{longtable}{lll}\n\\toprule\nName & Role & Contact\\\\\n\\midrule\n"
          + rows + " \\\\\n\\bottomrule\n\\end{longtable}\n")

    # big mailer log: e-mail addresses of customers throughout
    custs = [e for _, _, e in people(90, style=R.choice([2, 4, 5]))]
    lines = fill_to(lambda n: [f"{iso_ts(2024, 3)}.{R.randrange(1000):03d}Z INFO [mailer] sent template="
                               f"{pick(['order_confirmation', 'shipping_notice', 'invoice'])} to={pick(custs)} "
                               f"order=SO-{R.randrange(240000, 249999)} status=250" for _ in range(n)], 200 * 1024)
    c.pos(cat, "srv/shop-api/logs/mailer-2024-03.log", "\n".join(lines) + "\n")

    c.pos(cat, "var/www/shop/storage/app/abandoned-carts.csv",
          "cart_id,email,items,value_eur,last_seen\n" +
          "\n".join(f"{hexs(12)},{e},{R.randrange(1, 5)},{R.randrange(20, 400)}.{R.randrange(100):02d},{iso_ts(2024, 2)}"
                    for _, _, e in people(33, style=R.choice([2, 4, 5]))) + "\n")

    c.pos(cat, "home/rgarcia/scripts/invite_reviewers.py",
          "\"\"\"Send the review invitations for the special issue.\"\"\"\nimport smtplib\nfrom email.message import EmailMessage\n\n"
          "REVIEWERS = [\n" + "\n".join(f"    (\"{f} {l}\", \"{e}\")," for f, l, e in people(22)) + "\n]\n\n"
          "with smtplib.SMTP('mail.uni-hochstadt.de', 587) as s:\n    s.starttls()\n    for name, addr in REVIEWERS:\n"
          "        m = EmailMessage()\n        m['To'] = addr\n        m['Subject'] = 'Invitation to review'\n"
          "        m.set_content(f'Dear {name},\\n\\nwould you be willing to review ...')\n        s.send_message(m)\n")

    c.pos(cat, "srv/gitlab-backup/users-export.yaml",
          "users:\n" + "\n".join(f"  - username: {f.lower()}{l.lower()[:2]}\n    name: \"{f} {l}\"\n    email: {e}\n"
                                  f"    state: {pick(['active', 'active', 'blocked'])}" for f, l, e in people(27)) + "\n")

    c.pos(cat, "data/projects/survey/consent-forms/index.md",
          "# Consent forms received (wave 2)\n\n" +
          "\n".join(f"- [x] {f} {l} <{e}> -- form `{hexs(8)}.pdf`" for f, l, e in people(23)) + "\n")


# ===========================================================================
# NEGATIVES: public keys, certificates, fingerprints
# ===========================================================================

def neg_pubkeys(c):
    cat = "pubkey"
    keys = [ssh_key(pick(["ed25519", "ed25519", "rsa"]), comment=f"{u}@{pick(['laptop', 'hpc-login01', 'workstation'])}")[1].strip()
            for u in ["mbecker", "lchen", "ppatel", "rgarcia"]]
    c.neg(cat, "home/mbecker/.ssh/authorized_keys", "\n".join(keys[:1] + [
        'command="/usr/local/bin/restic-serve",no-port-forwarding,no-pty ' + keys[1], keys[2]]) + "\n")

    hostkeys = [ssh_key("ed25519", comment="root@h")[1].split()[:2] for _ in range(3)]
    kh = []
    for (kt, kb), host in zip(hostkeys, ["hpc-login01.bio.uni-hochstadt.de", "github.com", "gitlab.com"]):
        kh.append(f"{host} {kt} {kb}")
    kh.append(f"|1|{b64(20)}|{b64(20)} {hostkeys[0][0]} {hostkeys[0][1]}")
    c.neg(cat, "home/lchen/.ssh/known_hosts", "\n".join(kh) + "\n")

    c.neg(cat, "srv/gitlab-runner/.ssh/known_hosts",
          f"git.bio.uni-hochstadt.de {' '.join(ssh_key('ed25519', comment='x')[1].split()[:2])}\n")

    k, cert = ssl_cert("Becker Lab Internal CA", days=3650)
    _, cert2 = ssl_cert(f"shop.{SHOP}", days=90)
    c.neg(cat, f"srv/nginx/ssl/shop.{SHOP}.fullchain.pem", cert2 + cert)

    k = ssl_key("rsa")
    jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": hexs(16),
                      "n": base64.urlsafe_b64encode(rsa_modulus(k)).decode().rstrip("="), "e": "AQAB"}]}
    c.neg(cat, "srv/repos/website/static/.well-known/jwks.json", json.dumps(jwks, indent=2) + "\n")

    fps = "\n".join(f"| {h} | {t} | SHA256:{b64(32).rstrip('=')} |"
                    for h, t in [("hpc-login01", "ED25519"), ("hpc-login01", "RSA"), ("gpu02", "ED25519"),
                                 ("nas01", "ED25519"), ("web01", "ECDSA")])
    c.neg(cat, "home/ppatel/notes/ssh-fingerprints.md",
          "# Host key fingerprints (verify before accepting!)\n\n| host | type | fingerprint |\n|---|---|---|\n" + fps + "\n")

    c.neg(cat, "srv/ansible/group_vars/all/ssh_keys.yml",
          "---\nadmin_authorized_keys:\n" + "\n".join(f"  - \"{k}\"" for k in keys) + "\n")

    k = ssl_key("rsa")
    c.neg(cat, "home/hkim/notebooks/verify-signature.ipynb", notebook([
        ("md", "Verify the signature of the release manifest"),
        ("code", "from cryptography.hazmat.primitives import serialization, hashes\n"
                 "from cryptography.hazmat.primitives.asymmetric import padding\n\n"
                 f"PUB = b'''{ssl_pub(k)}'''\n"
                 "pub = serialization.load_pem_public_key(PUB)\n"
                 "pub.verify(open('manifest.sig','rb').read(), open('manifest.json','rb').read(),\n"
                 "           padding.PKCS1v15(), hashes.SHA256())\nprint('signature ok')",
         [nb_stream("signature ok")]),
    ]))

    c.neg(cat, "data/shared/admin/keys/README.txt",
          "Lab signing keys\n================\n\nRelease signing key (public part: lab-release-signing.pub.asc)\n"
          f"  Fingerprint: {' '.join(hexs(40).upper()[i:i + 4] for i in range(0, 40, 4))}\n"
          "  Created 2022-01-01, expires 2026-01-01\n\nThe secret key lives on the offline laptop in the safe\n"
          "(room 2.01). Ask Lukas for access.\n")

    _, ca = ssl_cert("Becker Lab Gateway CA", days=3650)
    c.neg(cat, "srv/repos/sensor-gateway/internal/tlsconf/ca.go",
          "package tlsconf\n\n// CA that signs the gateway server certificates.\nconst caPEM = `" + ca + "`\n")

    _, ca = ssl_cert("Universitaet Hochstadt Root CA", days=3650)
    c.neg(cat, "srv/k8s/shop/ca-configmap.yaml",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: uni-ca\n  namespace: shop\ndata:\n  ca.crt: |\n"
          + indent(ca.rstrip("\n"), "    ") + "\n")

    k = ssl_key("rsa")
    c.neg(cat, "home/rgarcia/projects/sftp-sync/hostkey.py",
          "\"\"\"Pinned host key of the sequencing core SFTP server.\"\"\"\n"
          f"HOST_KEY = \"{ssh_key('ed25519', comment='')[1].split()[1]}\"\nHOST_KEY_TYPE = \"ssh-ed25519\"\n")

    _, cert = ssl_cert("smime Michael Becker", days=730)
    c.neg(cat, "home/mbecker/Documents/certs/smime-mbecker-2024.crt", cert)

    c.neg(cat, "srv/repos/labsite/deploy/keys.txt",
          "Deploy key (read-only) added to the labsite repository:\n\n" + ssh_key("ed25519", comment="deploy@labsite")[1] +
          "\nFingerprint: SHA256:" + b64(32).rstrip("=") + "\n")

    k = ssl_key("ec")
    c.neg(cat, "opt/shop/app/config/webhooks/provider-public-key.pem", ssl_pub(k))

    _, gpub = pgp_keypair("Sota Nakamura <sota.nakamura@bio.uni-hochstadt.de>", 1700000000 + R.randrange(10**6))
    c.neg(cat, "home/snakamura/Documents/pgp-public-key.txt",
          "My public key for encrypted mail -- please import:\n\n" + gpub)


# ===========================================================================
# NEGATIVES: placeholders, references, documentation examples
# ===========================================================================

def neg_placeholders(c):
    cat = "placeholder"
    c.neg(cat, "srv/wiki/howto/aws-cli.md",
          "# Using the AWS CLI with the lab account\n\n1. Ask Lukas for an IAM user.\n2. Run `aws configure`:\n\n"
          "```\n$ aws configure\nAWS Access Key ID [None]: AKIAIOSFODNN7EXAMPLE\n"
          "AWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
          "Default region name [None]: eu-central-1\nDefault output format [None]: json\n```\n\n"
          "(the values above are the examples from the AWS documentation -- use your own).\n")

    c.neg(cat, "srv/wiki/howto/ssh-keys.md",
          "# SSH keys\n\nGenerate a key with `ssh-keygen -t ed25519 -C \"you@bio.uni-hochstadt.de\"`.\n"
          "Your private key file starts like this -- never send it to anyone, not even IT:\n\n"
          "```\n-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----\n```\n\n"
          "Send only the `.pub` file (one line starting with `ssh-ed25519`).\n")

    c.neg(cat, "home/mbecker/.aws/config",
          "[default]\nregion = eu-central-1\noutput = json\n\n[profile s3-archive]\nregion = eu-central-1\n"
          "s3 =\n  max_concurrent_requests = 20\n")

    c.neg(cat, "srv/repos/shop-backend/.env.example",
          "APP_ENV=development\nDATABASE_URL=postgres://shop:CHANGE_ME@localhost:5432/shop_development\n"
          "SECRET_KEY_BASE=\nSTRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\nSMTP_PASSWORD=<your-smtp-password>\n")

    c.neg(cat, "srv/docker/nextcloud/docker-compose.yml",
          "services:\n  db:\n    image: mariadb:10.11\n    restart: always\n    env_file: db.env\n"
          "    volumes:\n      - db:/var/lib/mysql\n  app:\n    image: nextcloud:28-apache\n    restart: always\n"
          "    environment:\n      - MYSQL_HOST=db\n      - MYSQL_PASSWORD=${MYSQL_PASSWORD}\n"
          "      - NEXTCLOUD_ADMIN_PASSWORD=${NEXTCLOUD_ADMIN_PASSWORD:?set in .env}\n    depends_on: [db]\n"
          "volumes:\n  db:\n")

    c.neg(cat, "srv/k8s/shop/deployment.yaml",
          "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop-api\n  namespace: shop\nspec:\n  replicas: 2\n"
          "  selector:\n    matchLabels: {app: shop-api}\n  template:\n    metadata:\n      labels: {app: shop-api}\n    spec:\n"
          "      containers:\n        - name: api\n          image: registry.bio.uni-hochstadt.de/shop/api:1.14.2\n"
          "          env:\n            - name: DATABASE_PASSWORD\n              valueFrom:\n                secretKeyRef:\n"
          "                  name: shop-db\n                  key: password\n            - name: STRIPE_SECRET_KEY\n"
          "              valueFrom:\n                secretKeyRef: {name: stripe, key: secret_key}\n")

    c.neg(cat, "srv/repos/infra/.github/workflows/deploy.yml",
          "name: deploy\non:\n  push:\n    branches: [main]\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
          "      - uses: actions/checkout@v4\n      - uses: hashicorp/setup-terraform@v3\n"
          "        with:\n          cli_config_credentials_token: ${{ secrets.TF_API_TOKEN }}\n"
          "      - run: terraform -chdir=terraform apply -auto-approve\n        env:\n"
          "          TF_VAR_do_token: ${{ secrets.DO_TOKEN }}\n          AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}\n"
          "          AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n")

    c.neg(cat, "srv/repos/labsite/.gitlab-ci.yml",
          "build:\n  image: docker:24\n  services: [docker:24-dind]\n  script:\n"
          "    - echo \"$CI_REGISTRY_PASSWORD\" | docker login -u \"$CI_REGISTRY_USER\" --password-stdin $CI_REGISTRY\n"
          "    - docker build -t $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA .\n    - docker push $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA\n")

    c.neg(cat, "srv/ansible/group_vars/shop/vars.yml",
          "---\nshop_db_name: shop\nshop_db_user: shop_app\nshop_db_password: \"{{ vault_shop_db_password }}\"\n"
          "shop_stripe_secret: \"{{ vault_stripe_secret }}\"\nshop_domain: sensorlab-kits.de\nshop_php_version: \"8.2\"\n")

    c.neg(cat, "srv/repos/infra/terraform/variables.tf",
          "variable \"do_token\" {\n  description = \"DigitalOcean API token\"\n  type        = string\n  sensitive   = true\n}\n\n"
          "variable \"region\" {\n  type    = string\n  default = \"fra1\"\n}\n\n"
          "variable \"azure_client_secret\" {\n  type      = string\n  sensitive = true\n}\n")

    c.neg(cat, "srv/shop-api/shopapi/settings/base.py",
          "import os\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\n"
          "SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDEBUG = os.environ.get(\"DJANGO_DEBUG\") == \"1\"\n\n"
          "DATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.postgresql\",\n"
          "        \"NAME\": os.environ.get(\"DATABASE_NAME\", \"shop\"),\n        \"USER\": os.environ.get(\"DATABASE_USER\", \"shop_app\"),\n"
          "        \"PASSWORD\": os.environ[\"DATABASE_PASSWORD\"],\n        \"HOST\": os.environ.get(\"DATABASE_HOST\", \"localhost\"),\n    }\n}\n"
          "AUTH_PASSWORD_VALIDATORS = [{\"NAME\": \"django.contrib.auth.password_validation.MinimumLengthValidator\",\n"
          "                             \"OPTIONS\": {\"min_length\": 12}}]\n")

    c.neg(cat, "home/akowalski/R/fetch_data.R",
          "library(aws.s3)\n\n# credentials come from ~/.Renviron (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)\n"
          "stopifnot(nzchar(Sys.getenv(\"AWS_SECRET_ACCESS_KEY\")))\n"
          "obj <- get_object(\"kowalski/raw/plots_2023.csv\", bucket = \"becker-lab-results\")\n"
          "plots <- read.csv(text = rawToChar(obj))\nsummary(plots)\n")

    c.neg(cat, "home/eokafor/matlab/fetch_stations.m",
          "% fetch_stations.m\napiKey = getenv('OWM_API_KEY');\nif isempty(apiKey)\n"
          "    error('Set OWM_API_KEY in your environment (see README)');\nend\n"
          "url = ['https://api.openweathermap.org/data/2.5/group?id=2925177,2950159&units=metric&appid=' apiKey];\n"
          "data = webread(url);\ndisp(struct2table(data.list));\n")

    c.neg(cat, "home/tjohansson/jobs/finetune.slurm",
          "#!/bin/bash\n#SBATCH --job-name=ft-esm\n#SBATCH --partition=gpu\n#SBATCH --gres=gpu:1\n#SBATCH --time=08:00:00\n\n"
          "module load cuda/12.2\nsource ~/venvs/llm/bin/activate\n# tokens live in a 0600 file outside the repo\n"
          "set -a; source ~/.config/secrets/ml.env; set +a\n\npython finetune.py --model facebook/esm2_t33_650M_UR50D --epochs 5\n")

    c.neg(cat, "home/lchen/notebooks/llm-demo.ipynb", notebook([
        ("md", "## Demo for the group meeting\nSet `OPENAI_API_KEY` in your environment first "
               "(e.g. `export OPENAI_API_KEY=sk-...`)."),
        ("code", "import os\nimport openai\n\nclient = openai.OpenAI(api_key=os.environ[\"OPENAI_API_KEY\"])\n"
                 "r = client.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'Hi'}])\n"
                 "print(r.choices[0].message.content)", [nb_stream("Hello! How can I help you today?")]),
    ]))

    c.neg(cat, "var/www/shop/config/payment.dist.php",
          "<?php\n\n// Copy to payment.php and fill in the keys from the Stripe dashboard.\nreturn [\n"
          "    'provider' => 'stripe',\n    'secret_key' => 'sk_live_REPLACE_ME',\n    'webhook_secret' => 'whsec_...',\n];\n")

    c.neg(cat, "srv/repos/shop-backend/config/database.yml.example",
          "production:\n  adapter: postgresql\n  database: shop_production\n  username: shop\n"
          "  password: <%= ENV['SHOP_DATABASE_PASSWORD'] %>\n  host: <%= ENV.fetch('DB_HOST', 'localhost') %>\n")

    c.neg(cat, "srv/gitlab-runner/config.toml.template",
          "concurrent = 4\n\n[[runners]]\n  name = \"ci01-docker\"\n  url = \"https://git.bio.uni-hochstadt.de\"\n"
          "  token = \"REPLACE_WITH_RUNNER_AUTH_TOKEN\"\n  executor = \"docker\"\n  [runners.docker]\n    image = \"python:3.11\"\n")

    c.neg(cat, "opt/lab-tools/backup/rclone.conf.example",
          "[b2-archive]\ntype = b2\naccount = <keyID>\nkey = <applicationKey>\n\n[uni-s3]\ntype = s3\nprovider = Ceph\n"
          "env_auth = true\nendpoint = https://s3.uni-hochstadt.de\n")

    c.neg(cat, "home/snakamura/.npmrc",
          "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nfund=false\naudit=false\n")

    c.neg(cat, "home/hkim/.pypirc",
          "[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\n# password stored with `keyring set https://upload.pypi.org/legacy/ __token__`\n")

    c.neg(cat, "srv/monitoring/alertmanager/alertmanager-staging.yml",
          "route:\n  receiver: slack-staging\nreceivers:\n  - name: slack-staging\n    slack_configs:\n"
          "      - api_url_file: /run/secrets/slack_webhook_staging\n        channel: '#alerts-staging'\n")

    c.neg(cat, "srv/vault/policies/shop.hcl",
          "path \"secret/data/shop/*\" {\n  capabilities = [\"read\"]\n}\n\npath \"database/creds/shop-app\" {\n"
          "  capabilities = [\"read\"]\n}\n")

    c.neg(cat, "srv/shop-api/Reporting/appsettings.Development.json", json.dumps({
        "ConnectionStrings": {"ShopDb": "Server=(localdb)\\mssqllocaldb;Database=ShopReporting;Trusted_Connection=True;MultipleActiveResultSets=true"},
        "Logging": {"LogLevel": {"Default": "Debug"}}}, indent=2) + "\n")

    c.neg(cat, "srv/repos/sensor-gateway/src/main/resources/application-dev.properties",
          "spring.datasource.url=jdbc:postgresql://localhost:5432/sensors\nspring.datasource.username=${DB_USER:gateway}\n"
          "spring.datasource.password=${DB_PASSWORD:}\nspring.mail.password=${MAIL_PASSWORD:}\n")

    c.neg(cat, "var/www/blog/wp-config-sample.php",
          "<?php\ndefine( 'DB_NAME', 'database_name_here' );\ndefine( 'DB_USER', 'username_here' );\n"
          "define( 'DB_PASSWORD', 'password_here' );\ndefine( 'DB_HOST', 'localhost' );\n\n"
          "define( 'AUTH_KEY',         'put your unique phrase here' );\ndefine( 'SECURE_AUTH_KEY',  'put your unique phrase here' );\n"
          "define( 'LOGGED_IN_KEY',    'put your unique phrase here' );\ndefine( 'NONCE_KEY',        'put your unique phrase here' );\n"
          "\n$table_prefix = 'wp_';\n")

    c.neg(cat, "srv/docker/postgres/docker-compose.yml",
          "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pg_password\n"
          "    secrets: [pg_password]\n    volumes: [pgdata:/var/lib/postgresql/data]\nsecrets:\n  pg_password:\n"
          "    file: ./secrets/pg_password.txt\nvolumes:\n  pgdata:\n")

    c.neg(cat, "home/fschmidt/.envrc",
          "export AWS_PROFILE=lab\nexport PGPASSFILE=$HOME/.pgpass\nexport CDSAPI_RC=$HOME/.cdsapirc\nlayout python3\n")

    c.neg(cat, "srv/repos/labsite/Makefile",
          "push:\n\tdocker login -u beckerlab --password-stdin < $(HOME)/.config/docker-hub-token\n"
          "\tdocker push beckerlab/labsite:latest\n")

    c.neg(cat, "opt/telegram-alerts/README.md",
          "# telegram-alerts\n\nCreate a bot with @BotFather; it gives you a token such as\n"
          "`123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11` (that is the example from the Bot API docs).\n"
          "Put yours in `/opt/telegram-alerts/token` (mode 0600) -- `notify.sh` reads it from there.\n")

    c.neg(cat, "srv/slack-bot/README.md",
          "# lab-bot\n\n```\nexport SLACK_BOT_TOKEN=xoxb-your-bot-token\nexport SLACK_SIGNING_SECRET=<signing secret from the app page>\n"
          "npm start\n```\n")

    c.neg(cat, "srv/wiki/howto/connection-strings.md",
          "# Connection strings\n\nGeneral form: `postgresql://USER:PASSWORD@HOST:PORT/DBNAME`\n\n"
          "Example: `postgresql://alice:<password>@db01.internal:5432/sensors`\n\n"
          "Prefer a `~/.pgpass` file over putting passwords into URLs.\n")

    c.neg(cat, "home/fschmidt/scripts/jira_report.py",
          "import keyring\nfrom jira import JIRA\n\nUSER = 'felix.schmidt@bio.uni-hochstadt.de'\n"
          "token = keyring.get_password('jira-beckerlab', USER)\n"
          "jira = JIRA(server='https://beckerlab.atlassian.net', basic_auth=(USER, token))\n"
          "print(len(jira.search_issues('project = INFRA')))\n")

    c.neg(cat, "srv/repos/shop-backend/README.md",
          "# shop-backend\n\nCopy `.env.example` to `.env` and set the values. For local payments use Stripe test mode\n"
          "and the Stripe CLI (`stripe listen --forward-to localhost:3000/webhooks`). Never commit `.env`.\n\n"
          "Required variables: `DATABASE_URL`, `SECRET_KEY_BASE`, `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET`.\n")

    c.neg(cat, "home/ppatel/projects/labsite/next.config.js",
          "/** @type {import('next').NextConfig} */\nmodule.exports = {\n  reactStrictMode: true,\n"
          "  env: {\n    NEXTAUTH_URL: process.env.NEXTAUTH_URL,\n  },\n  images: { domains: ['bio.uni-hochstadt.de'] },\n};\n")

    c.neg(cat, "data/projects/climate/code/db.py",
          "import sqlalchemy as sa\n\n# peer authentication over the local socket -- no password needed\n"
          "engine = sa.create_engine('postgresql+psycopg2:///climate?host=/var/run/postgresql')\n")

    c.neg(cat, "srv/mongo-backup/restore.sh",
          "#!/usr/bin/env bash\nset -euo pipefail\n: \"${MONGO_URI:?export MONGO_URI first}\"\n"
          "mongorestore --uri \"$MONGO_URI\" --gzip --drop \"$1\"\n")

    c.neg(cat, "home/hkim/R/db_connect.R",
          "library(DBI)\ncon <- dbConnect(RPostgres::Postgres(), host = \"db01.internal\", dbname = \"sensors\",\n"
          "                 user = \"hkim\", password = Sys.getenv(\"PGPASSWORD\"))\n"
          "dbGetQuery(con, \"select count(*) from readings\")\n")

    c.neg(cat, "home/fschmidt/.my.cnf",
          "[client]\nuser=fschmidt\nhost=db02.internal\n# no password here: mysql prompts (-p) or uses the login-path\n")

    c.neg(cat, "opt/shop/app/config/packages/doctrine.yaml",
          "doctrine:\n    dbal:\n        url: '%env(resolve:DATABASE_URL)%'\n        server_version: '8.0.36'\n"
          "    orm:\n        auto_generate_proxy_classes: true\n        naming_strategy: doctrine.orm.naming_strategy.underscore_number_aware\n")

    c.neg(cat, "srv/docker/mattermost/docker-compose.yml",
          "services:\n  mattermost:\n    image: mattermost/mattermost-team-edition:9.5\n    env_file: .env\n"
          "    environment:\n      - MM_SQLSETTINGS_DRIVERNAME=postgres\n      - MM_SQLSETTINGS_DATASOURCE\n")

    c.neg(cat, "home/mbecker/Documents/password-policy.md",
          "# Password policy for lab services\n\n- at least 12 characters, no reuse of the uni password\n"
          "- use the group's Bitwarden organisation for shared credentials\n- never put passwords in Slack, e-mail or git\n"
          "- `password_min_length = 12`, `password_max_age_days = 0` in the Keycloak realm\n")


# ===========================================================================
# NEGATIVES: .env-style files without secrets
# ===========================================================================

def neg_env(c):
    cat = "env-benign"
    c.neg(cat, "srv/docker/grafana/.env",
          "GF_SERVER_ROOT_URL=https://grafana.bio.uni-hochstadt.de\nGF_LOG_LEVEL=warn\nGF_USERS_ALLOW_SIGN_UP=false\nTZ=Europe/Berlin\n")
    c.neg(cat, "home/lchen/projects/paper-bot/.env.example",
          "OPENAI_API_KEY=\nZOTERO_USER_ID=\nZOTERO_API_KEY=\nDIGEST_RECIPIENT=\n")
    c.neg(cat, "var/www/shop/.env.testing",
          "APP_ENV=testing\nAPP_KEY=\nAPP_DEBUG=true\nDB_CONNECTION=sqlite\nDB_DATABASE=:memory:\nMAIL_MAILER=array\nQUEUE_CONNECTION=sync\n")
    c.neg(cat, "srv/docker/minio/.env.sample",
          "MINIO_ROOT_USER=admin\nMINIO_ROOT_PASSWORD=changeme\nMINIO_BROWSER_REDIRECT_URL=https://minio.example.org/console\n")
    c.neg(cat, "data/projects/imaging/.env.defaults",
          "RAW_DIR=/data/projects/imaging/raw\nOUT_DIR=/data/projects/imaging/processed\nN_WORKERS=16\nOMERO_HOST=omero.bio.uni-hochstadt.de\n")
    c.neg(cat, "srv/jupyterhub/.env.example",
          "JUPYTERHUB_CRYPT_KEY=    # generate with: openssl rand -hex 32\nOAUTH_CLIENT_ID=jupyterhub-bio\n"
          "OAUTH_CLIENT_SECRET=     # from the Keycloak client 'jupyterhub-bio'\n")
    c.neg(cat, "opt/shop/worker/.env.dist",
          "QUEUE=orders,mail\nCONCURRENCY=4\nREDIS_HOST=127.0.0.1\nREDIS_PASSWORD=\nSMTP_HOST=localhost\nSMTP_USER=\nSMTP_PASS=\n")
    c.neg(cat, "srv/docker/keycloak/keycloak.env.template",
          "KEYCLOAK_ADMIN=admin\nKEYCLOAK_ADMIN_PASSWORD=${KEYCLOAK_ADMIN_PASSWORD}\nKC_DB=postgres\nKC_DB_PASSWORD=${KC_DB_PASSWORD}\n")
    c.neg(cat, "srv/docker/n8n/.env.example",
          "N8N_HOST=automation.example.org\nN8N_ENCRYPTION_KEY=<random string, keep it stable>\nN8N_BASIC_AUTH_PASSWORD=<choose one>\n")
    c.neg(cat, "home/snakamura/projects/scraper/.env.sample",
          "PROXY_HOST=proxy.uni-hochstadt.de\nPROXY_PORT=3128\nPROXY_USER=your_uni_id\nPROXY_PASSWORD=your_uni_password\nNCBI_API_KEY=\n")
    c.neg(cat, "srv/shop-api/.env.vault-refs",
          "# resolved at start-up by vault-env\nDATABASE_PASSWORD=vault:secret/data/shop/db#password\n"
          "JWT_SECRET=vault:secret/data/shop/jwt#secret\nSTRIPE_SECRET_KEY=vault:secret/data/shop/stripe#secret_key\n")
    c.neg(cat, "home/tjohansson/projects/plots/.env",
          "MPLBACKEND=Agg\nPLOT_DPI=300\nDATA_ROOT=/data/projects/protein\nRESULTS=~/projects/plots/out\n")
    c.neg(cat, "srv/docker/wikijs/.env.example",
          "DB_TYPE=postgres\nDB_HOST=db\nDB_PORT=5432\nDB_USER=wikijs\nDB_PASS=\nDB_NAME=wiki\n")
    c.neg(cat, "srv/docker/authentik/.env.example",
          "PG_PASS=\nAUTHENTIK_SECRET_KEY=\nAUTHENTIK_ERROR_REPORTING__ENABLED=false\n# fill the two values with: openssl rand -base64 36\n")


# ===========================================================================
# NEGATIVES: encrypted values
# ===========================================================================

def ansible_vault_blob(nbytes=400):
    hexbody = (hexs(64) + "\n" + hexs(64) + "\n" + rbytes(nbytes).hex())
    hexbody = hexbody.encode().hex()
    return "$ANSIBLE_VAULT;1.1;AES256\n" + "\n".join(hexbody[i:i + 80] for i in range(0, len(hexbody), 80))


def sops_enc(plain_len, typ="str"):
    return (f"ENC[AES256_GCM,data:{base64.b64encode(rbytes(plain_len)).decode()},"
            f"iv:{b64(32)},tag:{b64(16)},type:{typ}]")


def age_recipient():
    return "age1" + rs(58, "qpzry9x8gf2tvdw0s3jn54khce6mua7l")


def neg_encrypted(c):
    cat = "encrypted"
    c.neg(cat, "srv/ansible/group_vars/shop/vault.yml", ansible_vault_blob(420) + "\n")
    c.neg(cat, "srv/ansible/host_vars/db01/vault.yml", ansible_vault_blob(260) + "\n")
    c.neg(cat, "srv/ansible/group_vars/backup/vault.yml",
          "---\nrestic_password: !vault |\n" + indent(ansible_vault_blob(64), "  ") + "\n")

    rec = age_recipient()
    c.neg(cat, "srv/k8s/shop/secrets.enc.yaml",
          "apiVersion: v1\nkind: Secret\nmetadata:\n    name: shop-db\n    namespace: shop\ntype: Opaque\nstringData:\n"
          f"    password: {sops_enc(24)}\n    stripe_secret_key: {sops_enc(107)}\nsops:\n    kms: []\n    age:\n"
          f"        - recipient: {rec}\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n"
          + indent(wrap(b64(180), 64), "            ") + "\n            -----END AGE ENCRYPTED FILE-----\n"
          f"    lastmodified: \"{iso_ts(2024, 2)}Z\"\n    mac: {sops_enc(32)}\n    encrypted_regex: ^(data|stringData)$\n    version: 3.8.1\n")

    c.neg(cat, "srv/k8s/shop/sealed-stripe.yaml",
          "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: stripe\n  namespace: shop\nspec:\n"
          f"  encryptedData:\n    secret_key: Ag{b64(700)}\n    webhook_secret: Ag{b64(560)}\n"
          "  template:\n    metadata:\n      name: stripe\n      namespace: shop\n")

    c.neg(cat, "home/dmuller/Documents/passwords.txt.asc",
          pgp_armor("MESSAGE", bytes([0xC1, 0x5E, 0x03]) + rbytes(93) + bytes([0xD2, 0xC0, 0x51]) + rbytes(200)))

    c.neg(cat, "data/shared/admin/keys/backup-passphrase.age",
          "-----BEGIN AGE ENCRYPTED FILE-----\n" + wrap(base64.b64encode(
              b"age-encryption.org/v1\n-> X25519 " + base64.b64encode(rbytes(32)).rstrip(b"=") + b"\n"
              + base64.b64encode(rbytes(32)).rstrip(b"=") + b"\n--- " + base64.b64encode(rbytes(32)).rstrip(b"=")
              + b"\n" + rbytes(90)).decode(), 64) + "\n-----END AGE ENCRYPTED FILE-----\n")

    c.neg(cat, "opt/lab-tools/backup/restic-password.enc",
          wrap(base64.b64encode(b"Salted__" + rbytes(56)).decode(), 64) + "\n")

    c.neg(cat, "var/www/shop/config/credentials.yml.enc",
          f"{b64(420)}--{b64(12)}--{b64(16)}")

    c.neg(cat, "srv/repos/infra/terraform/secrets.auto.tfvars.json", json.dumps({
        "do_token": sops_enc(71), "azure_client_secret": sops_enc(40),
        "sops": {"age": [{"recipient": age_recipient(), "enc": "-----BEGIN AGE ENCRYPTED FILE-----\n" + wrap(b64(180), 64)
                          + "\n-----END AGE ENCRYPTED FILE-----\n"}],
                 "lastmodified": iso_ts(2024, 1) + "Z", "mac": sops_enc(32), "version": "3.8.1"}}, indent=1) + "\n")

    c.neg(cat, "home/ppatel/notes/encrypted-notes.md",
          "# notes\n\nThe VPN config is encrypted for the admins (gpg -e -r admins):\n\n"
          + pgp_armor("MESSAGE", bytes([0xC1, 0x5E, 0x03]) + rbytes(93) + bytes([0xD2, 0xC1, 0x20]) + rbytes(300)))

    c.neg(cat, "srv/jupyterhub/secrets/README.md",
          "Files in this directory are encrypted with git-crypt; a clone without the key shows binary\n"
          "blobs. Unlock with `git-crypt unlock ~/keys/jupyterhub.gitcrypt` on the admin host.\n")


# ===========================================================================
# NEGATIVES: card-like numbers that are not card numbers
# ===========================================================================

def neg_cardlike(c):
    cat = "cardlike"
    rows = ["order_no,date,payment,card,amount_eur,status"]
    for i in range(80):
        pm = pick(["card", "card", "paypal", "bank_transfer"])
        masked = f"**** **** **** {rs(4, DIGITS)}" if pm == "card" else ""
        rows.append(f"SO-{239000 + i},2024-01-{R.randrange(1, 29):02d},{pm},{masked},{R.randrange(10, 900)}.{R.randrange(100):02d},shipped")
    c.neg(cat, "var/www/shop/exports/orders-2024-01.csv", "\n".join(rows) + "\n")

    c.neg(cat, "srv/shop-api/logs/payment-2024-01-08.log",
          "\n".join(f"{iso_ts(2024, 1)}.{R.randrange(1000):03d}Z INFO [payment] charge ok order=SO-{R.randrange(239000, 239999)} "
                    f"pm=pm_1{rs(23, ALNUM)} ch=ch_3{rs(23, ALNUM)} brand={pick(['visa', 'mastercard', 'amex'])} last4={rs(4, DIGITS)}"
                    for _ in range(120)) + "\n")

    c.neg(cat, "home/ppatel/notes/shipping.txt",
          "Parcels for the field station\n\n" + "\n".join(
              f"- DHL {rs(2, UPPER)}{rs(9, DIGITS)}DE  ({pick(['sensors', 'batteries', 'tripods', 'solar panel'])})"
              for _ in range(6)) + "\n- UPS 1Z" + rs(16, UPPER + DIGITS) + "\n")

    invalid = [bad_card("visa"), bad_card("mc"), bad_card("amex"), "4111111111111112", "5555555555554440"]
    c.neg(cat, "var/www/shop/tests/Unit/LuhnTest.php",
          "<?php\n\nnamespace Tests\\Unit;\n\nuse App\\Support\\Luhn;\nuse PHPUnit\\Framework\\TestCase;\n\n"
          "class LuhnTest extends TestCase\n{\n    /** @dataProvider invalidNumbers */\n"
          "    public function test_rejects_invalid(string $n): void\n    {\n        $this->assertFalse(Luhn::valid($n));\n    }\n\n"
          "    public static function invalidNumbers(): array\n    {\n        return [\n"
          + "".join(f"            ['{fmt_card(n, 'space')}'],\n" for n in invalid) + "        ];\n    }\n}\n")

    c.neg(cat, "srv/shop-api/tests/test_card_validation.py",
          "import pytest\n\nfrom shopapi.payments import looks_like_card\n\n\n@pytest.mark.parametrize('s', [\n"
          + "".join(f"    '{fmt_card(bad_card(pick(['visa', 'mc', 'discover'])), pick(['space', 'dash', 'plain']))}',\n" for _ in range(4))
          + "    '1234 5678 9012 3456',\n])\ndef test_not_a_card(s):\n    assert not looks_like_card(s)\n")

    c.neg(cat, "home/eokafor/matlab/checksum_demo.m",
          "% checksum_demo.m -- which of these pass the Luhn test? (answer: none)\n"
          + "".join(f"nums{{{i}}} = '{bad_card(pick(['visa', 'mc']))}';\n" for i in range(1, 5))
          + "for k = 1:numel(nums)\n    fprintf('%s -> %d\\n', nums{k}, luhn(nums{k}));\nend\n")

    c.neg(cat, "data/shared/admin/contacts/phone-list.txt",
          "Becker Lab phone list\n\n" + "\n".join(
              f"{f} {l:<12} office +49 761 203-{R.randrange(4000, 4999)}   mobile {no_luhn(lambda: f'+49 1{R.randrange(51, 79)} {rs(8, DIGITS)}')}"
              for f, l in [person() for _ in range(12)]) + "\n")

    isbns = []
    for _ in range(8):
        core = "978" + rs(9, DIGITS)
        chk = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(core)) % 10) % 10
        isbns.append(core + str(chk))
    c.neg(cat, "home/hkim/R/library_books.R",
          "books <- data.frame(\n  isbn = c(" + ", ".join(f"\"{i[:3]}-{i[3]}-{i[4:7]}-{i[7:12]}-{i[12]}\"" for i in isbns)
          + "),\n  due = as.Date(\"2024-04-30\")\n)\nbooks[order(books$due), ]\n")

    rows = ["sku,name,ean,price_eur,stock"]
    for sku, name in [("SMK-01", "Soil moisture kit"), ("CO2-02", "CO2 sensor v2"), ("LGW-01", "LoRa gateway"),
                      ("TMP-22", "Soil temperature probe"), ("SOL-10", "Solar panel 10W"), ("BAT-18", "18650 battery pack"),
                      ("TRI-01", "Tripod mount"), ("PH-03", "pH probe")]:
        ean = no_luhn(lambda: ean13("4" + rs(11, DIGITS)))
        rows.append(f"{sku},{name},{ean},{R.randrange(15, 400)}.{pick(['00', '50', '90', '99'])},{R.randrange(0, 80)}")
    c.neg(cat, "var/www/shop/products/catalog.csv", "\n".join(rows) + "\n")

    c.neg(cat, "srv/support/tickets/ticket-4830.json", json.dumps({
        "id": 4830, "subject": "Doppelte Abbuchung?", "status": "solved",
        "messages": [{"from": "customer", "body": "Meine Karte (Visa, endet auf 7719) wurde fuer Bestellung SO-240022 zweimal belastet."},
                     {"from": "agent", "body": "Die zweite Buchung war nur eine Autorisierung und verfaellt nach 7 Tagen. "
                      "Referenz: pi_3Ok" + rs(21, ALNUM)}]}, indent=2, ensure_ascii=False) + "\n")

    c.neg(cat, "home/mbecker/Documents/receipts/hotel-lisbon.txt",
          "HOTEL ALFAMA -- RECEIPT\nFolio 118273\n\n3 nights x 124.00 EUR\nCity tax 6.00 EUR\nTotal 378.00 EUR\n\n"
          "Paid: VISA XXXX XXXX XXXX 4821\nAuth code 08841C\n")

    c.neg(cat, "data/projects/survey/responses.csv",
          "response_id,participant,q1,q2,q3,submitted\n" + "\n".join(
              f"{no_luhn(lambda: rs(1, '123') + rs(15, DIGITS))},P{R.randrange(1, 31):03d},{R.randrange(1, 6)},{R.randrange(1, 6)},{R.randrange(1, 6)},{iso_ts(2023)}"
              for _ in range(40)) + "\n")

    c.neg(cat, "home/snakamura/projects/pos-sim/sim_invalid_test.go",
          "package possim\n\nimport \"testing\"\n\nfunc TestInvalid(t *testing.T) {\n\tfor _, pan := range []string{\n"
          + "".join(f"\t\t\"{bad_card(pick(['jcb', 'diners', 'discover']))}\",\n" for _ in range(3))
          + "\t} {\n\t\tif Valid(pan) {\n\t\t\tt.Errorf(\"%s should be invalid\", pan)\n\t\t}\n\t}\n}\n")

    c.neg(cat, "var/www/shop/public/checkout.html",
          "<!doctype html>\n<html lang=\"de\"><head><meta charset=\"utf-8\"><title>Kasse</title></head><body>\n"
          "<form id=\"pay\">\n  <input name=\"card\" inputmode=\"numeric\" autocomplete=\"cc-number\" placeholder=\"1234 5678 9012 3456\">\n"
          "  <input name=\"exp\" placeholder=\"MM/JJ\">\n  <input name=\"cvc\" placeholder=\"CVC\">\n"
          "  <button>Jetzt bezahlen</button>\n</form>\n<p>Hotline: +49 761 203 4410 &middot; Bestellnummer bereithalten</p>\n</body></html>\n")

    c.neg(cat, "srv/repos/shop-backend/spec/fixtures/orders.yml",
          "".join(f"order_{i}:\n  number: SO-{R.randrange(230000, 249999)}\n  total_cents: {R.randrange(1000, 90000)}\n"
                  f"  payment_reference: pi_{rs(24, ALNUM)}\n  tracking: \"{rs(2, UPPER)}{rs(9, DIGITS)}DE\"\n\n" for i in range(1, 7)))

    c.neg(cat, "home/rgarcia/Documents/flight-booking.txt",
          "Booking reference: " + rs(6, UPPER + DIGITS) + "\nE-ticket number: " + no_luhn(lambda: "220-" + rs(10, DIGITS)) + "\n"
          "FRA -> HND  LH716  03JUN 13:40\nHND -> FRA  LH717  09JUN 10:55\nFrequent flyer: 99200" + rs(10, DIGITS) + "\n")

    c.neg(cat, "srv/support/chat-exports/2024-02-intercom.txt",
          "[2024-02-03 10:11] Visitor: hello, order SO-240311 arrived without the probe cable\n"
          "[2024-02-03 10:12] Ben (Sensorlab Kits): Sorry! I'll ship one today. Tracking will be JJD" + rs(18, DIGITS) + "\n"
          "[2024-02-03 10:13] Visitor: thanks! paid with the mastercard ending 0042 btw\n")

    c.neg(cat, "home/lchen/notebooks/fraud-features.ipynb", notebook([
        ("md", "Features only -- PANs are tokenised before export (bin6 + last4 + sha256)."),
        ("code", "feat = pd.read_parquet('/data/projects/fraud/features.parquet')\nfeat.head(3)",
         [{"data": {"text/plain": ["     bin6 last4                                                        pan_sha256  amount\n" +
                                   "\n".join(f"{i}  {pick(['453201', '542418', '371449'])}  {rs(4, DIGITS)}  {hexs(64)}  {R.randrange(5, 500)}.00"
                                             for i in range(3))]},
           "execution_count": 1, "metadata": {}, "output_type": "execute_result"}]),
    ]))

    c.neg(cat, "opt/shop/worker/seed_products.js",
          "module.exports = [\n" + "".join(
              f"  {{ sku: '{s}', barcode: '{no_luhn(lambda: ean13('40' + rs(10, DIGITS)))}', weightGrams: {R.randrange(50, 2000)} }},\n"
              for s in ["SMK-01", "CO2-02", "LGW-01", "PH-03"]) + "];\n")

    c.neg(cat, "home/akowalski/Documents/reimbursement/kostenerstattung-2023.tex",
          "\\documentclass[11pt]{scrartcl}\n\\begin{document}\n\\section*{Antrag auf Kostenerstattung}\n"
          "Bezahlt mit Kreditkarte: **** **** **** 1187\\\\\nBeleg-Nr.: 2023-0" + rs(6, DIGITS) + "\\\\\n"
          "Kostenstelle: 4711-2030\n\\end{document}\n")

    c.neg(cat, "srv/shop-api/logs/timing-2024-02.log",
          "\n".join(f"ts_ms={R.randrange(1706742000000, 1709247600000)} route={pick(['/cart', '/checkout', '/products'])} "
                    f"dur_us={R.randrange(800, 90000)} req={uuid4()}" for _ in range(200)) + "\n")

    c.neg(cat, "data/shared/admin/finance/cost-centres.md",
          "# Cost centres and internal orders\n\n| purpose | cost centre | internal order |\n|---|---|---|\n"
          + "\n".join(f"| {p} | 4711-{R.randrange(1000, 9999)} | {rs(12, DIGITS)} |"
                      for p in ["consumables", "travel", "GPU node", "field station", "HiWi contracts"]) + "\n")


# ===========================================================================
# NEGATIVES: IBAN-like strings that are not valid IBANs
# ===========================================================================

def neg_ibanlike(c):
    cat = "ibanlike"
    rows = ["date;name;purpose;amount_eur;iban;status"]
    for _ in range(10):
        f, l = person()
        rows.append(f"2023-{R.randrange(1, 13):02d}-{R.randrange(1, 29):02d};{f} {l};travel;{R.randrange(20, 600)},00;"
                    f"{bad_iban(pick(['DE', 'DE', 'AT', 'NL']))};REJECTED checksum")
    c.neg(cat, "data/shared/admin/finance/reimbursements-rejected-2023.csv", "\n".join(rows) + "\n")

    c.neg(cat, "var/www/shop/tests/Unit/IbanValidatorTest.php",
          "<?php\n\nuse App\\Support\\Iban;\nuse PHPUnit\\Framework\\TestCase;\n\nclass IbanValidatorTest extends TestCase\n{\n"
          "    public function test_rejects_wrong_checksum(): void\n    {\n"
          + "".join(f"        $this->assertFalse(Iban::valid('{fmt_iban(bad_iban(cc))}'));\n" for cc in ["DE", "GB", "FR", "NL"])
          + "    }\n}\n")

    c.neg(cat, "home/mbecker/Documents/invoices/invoice-template.tex",
          "\\documentclass[a4paper]{scrlttr2}\n\\begin{document}\n\\begin{letter}{<Empfaenger>}\n\\opening{Sehr geehrte Damen und Herren,}\n"
          "Bitte ueberweisen Sie den Betrag auf folgendes Konto:\\\\\nIBAN: DEXX XXXX XXXX XXXX XXXX XX\\\\\nBIC: SOLADES1HOC\n"
          "\\closing{Mit freundlichen Gruessen}\n\\end{letter}\n\\end{document}\n")

    c.neg(cat, "srv/shop-api/shopapi/templates/invoice_email.txt",
          "Rechnung {{ order.number }}\n\nBitte ueberweisen Sie {{ order.total }} EUR an:\n{{ shop.account_holder }}\n"
          "IBAN {{ shop.iban }}\nBIC {{ shop.bic }}\n")

    c.neg(cat, "home/eokafor/matlab/iban_checks.m",
          "% exercise: all of these have a wrong check digit\ncases = {" + ", ".join(f"'{bad_iban(cc)}'" for cc in ["DE", "IT", "ES", "BE"])
          + "};\nfor k = 1:numel(cases)\n    assert(~iban_validate(cases{k}));\nend\n")

    c.neg(cat, "data/projects/climate/workshop/travel-info.md",
          "# Travel reimbursement\n\nWe reimburse train tickets (2nd class). Send the receipts and your bank details\n"
          "(IBAN + BIC) via the form in the registration portal -- not by e-mail.\n\nBIC of the Universitaetskasse: SOLADES1HOC\n"
          "VAT ID of the university: DE 142 088 772\n")

    c.neg(cat, "var/lib/shop/sepa/pain001-template.xml",
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\n"
          "  <CstmrCdtTrfInitn>\n    <PmtInf>\n      <DbtrAcct><Id><IBAN>${DEBTOR_IBAN}</IBAN></Id></DbtrAcct>\n"
          "      <CdtTrfTxInf>\n        <CdtrAcct><Id><IBAN>${CREDITOR_IBAN}</IBAN></Id></CdtrAcct>\n      </CdtTrfTxInf>\n"
          "    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n")

    c.neg(cat, "home/ppatel/notes/bank-change.txt",
          "Switched salary account to the Sparkasse in March.\n- new IBAN ends in ...4300 (full number is in the HR portal)\n"
          "- BIC SOLADES1HOC\n- remember to update the Deutschlandticket direct debit\n")

    c.neg(cat, "home/akowalski/R/iban_tools.R",
          "iban_ok <- function(x) {\n  x <- toupper(gsub(\" \", \"\", x))\n  s <- paste0(substr(x, 5, nchar(x)), substr(x, 1, 4))\n"
          "  d <- paste(sapply(strsplit(s, \"\")[[1]], function(ch) if (grepl(\"[A-Z]\", ch)) utf8ToInt(ch) - 55 else ch), collapse = \"\")\n"
          "  r <- 0\n  for (k in strsplit(d, \"\")[[1]]) r <- (r * 10 + as.integer(k)) %% 97\n  r == 1\n}\n\n"
          f"stopifnot(!iban_ok(\"{bad_iban('DE')}\"))\n")

    c.neg(cat, "srv/support/tickets/ticket-5133.json", json.dumps({
        "id": 5133, "subject": "Refund", "status": "pending",
        "messages": [{"from": "customer", "body": f"Please refund to {fmt_iban(bad_iban('NL'))}"},
                     {"from": "agent", "body": "The IBAN you sent fails the checksum -- could you double-check it?"}]},
        indent=2) + "\n")

    c.neg(cat, "home/snakamura/Documents/stipend-form-blank.txt",
          "DAAD scholarship -- monthly payment details\n\nName: ____________\nIBAN: DE__ ____ ____ ____ ____ __\nBank: ____________\n")

    c.neg(cat, "data/shared/admin/grants/budget-2024.md",
          "# Budget 2024\n\n| item | amount |\n|---|---|\n| consumables | 18.000 EUR |\n| travel | 9.500 EUR |\n\n"
          "Grant numbers: DFG BE 4471/3-1, BMBF 031B" + rs(4, DIGITS) + ", ERC-2023-StG-101" + rs(6, DIGITS) + "\n"
          "Supplier VAT IDs: DE" + rs(9, DIGITS) + ", ATU" + rs(8, DIGITS) + ", GB" + rs(9, DIGITS) + "\n")

    c.neg(cat, "opt/shop/worker/payout_test.go",
          "package worker\n\nimport \"testing\"\n\nfunc TestRejectsBadIBAN(t *testing.T) {\n"
          f"\tif ValidIBAN(\"{bad_iban('IE')}\") {{\n\t\tt.Fatal(\"checksum should fail\")\n\t}}\n}}\n")

    c.neg(cat, "home/hkim/notebooks/iban-validation.ipynb", notebook([
        ("code", "bad = " + json.dumps([bad_iban(cc) for cc in ["CH", "CH", "DE"]]) + "\n[iban_ok(b) for b in bad]",
         [{"data": {"text/plain": ["[False, False, False]"]}, "execution_count": 1, "metadata": {}, "output_type": "execute_result"}]),
    ]))

    c.neg(cat, "srv/repos/shop-backend/config/locales/en.yml",
          "en:\n  checkout:\n    bank_transfer:\n      title: \"Bank transfer (prepayment)\"\n"
          "      instructions: \"You will find our bank details (IBAN/BIC) on the invoice.\"\n")

    c.neg(cat, "home/dmuller/Documents/bank/kontowechsel.txt",
          "Alte Bankverbindung (bis 2019): Konto 0532013000, BLZ 370 400 44\nNeue Bankverbindung: siehe Online-Banking\n"
          "Kundennummer: " + rs(10, DIGITS) + "\n")


# ===========================================================================
# NEGATIVES: hashes, identifiers, lockfiles
# ===========================================================================

def neg_hashes(c):
    cat = "hash-id"
    c.neg(cat, "data/projects/imaging/raw/SHA256SUMS",
          "".join(f"{hexs(64)}  stack_{i:04d}.tif\n" for i in range(60)))

    pkgs = ["express", "stripe", "zod", "dotenv", "pino", "bullmq", "ioredis", "nodemailer", "pg", "uuid"]
    lock = {"name": "shop-worker", "version": "1.4.0", "lockfileVersion": 3, "requires": True, "packages": {
        "": {"name": "shop-worker", "version": "1.4.0", "dependencies": {p: "^1.0.0" for p in pkgs}}}}
    for p in pkgs:
        lock["packages"][f"node_modules/{p}"] = {
            "version": f"{R.randrange(1, 16)}.{R.randrange(20)}.{R.randrange(10)}",
            "resolved": f"https://registry.npmjs.org/{p}/-/{p}-1.0.0.tgz",
            "integrity": "sha512-" + b64(64)}
    c.neg(cat, "opt/shop/worker/package-lock.json", json.dumps(lock, indent=2) + "\n")

    c.neg(cat, "srv/repos/labsite/requirements.txt",
          "".join(f"{p}=={v} \\\n    --hash=sha256:{hexs(64)} \\\n    --hash=sha256:{hexs(64)}\n"
                  for p, v in [("django", "5.0.3"), ("gunicorn", "21.2.0"), ("psycopg", "3.1.18"), ("whitenoise", "6.6.0")]))

    authors = [("Mei Chen", f"mei.chen@{INST}"), ("Priya Patel", f"priya.patel@{INST}")]
    log = []
    for _ in range(25):
        a = pick(authors)
        log.append(f"commit {hexs(40)}\nAuthor: {a[0]} <{a[1]}>\nDate:   {rdate()}\n\n    "
                   f"{pick(['fix digest formatting', 'add arxiv source', 'bump deps', 'retry on 429', 'refactor summariser'])}\n")
    c.neg(cat, "home/lchen/projects/paper-bot/git-log.txt", "\n".join(log))

    c.neg(cat, "srv/k8s/shop/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n  - deployment.yaml\n"
          "images:\n" + "".join(f"  - name: {n}\n    digest: sha256:{hexs(64)}\n" for n in
                                 ["registry.bio.uni-hochstadt.de/shop/api", "registry.bio.uni-hochstadt.de/shop/worker"]))

    c.neg(cat, "data/projects/survey/participants-pseudonymized.csv",
          "pseudonym,age_group,cohort,sha256_of_pid\n" + "\n".join(
              f"{uuid4()},{pick(['18-29', '30-44', '45-64', '65+'])},{pick(['A', 'B'])},{hexs(64)}" for _ in range(40)) + "\n")

    bib = []
    for i in range(12):
        f, l = person()
        bib.append(f"@article{{{l.lower()}{2015 + i},\n  author = {{{l}, {f} and {pick(LAST)}, {pick(FIRST)}}},\n"
                   f"  title = {{{pick(['Soil moisture dynamics', 'Deep learning for protein function', 'Regional climate downscaling', 'Root microbiome assembly'])} "
                   f"in {pick(['temperate forests', 'agricultural catchments', 'alpine grasslands'])}}},\n"
                   f"  journal = {{{pick(['Nature Communications', 'Bioinformatics', 'Geoscientific Model Development', 'New Phytologist'])}}},\n"
                   f"  year = {{{2015 + i}}},\n  doi = {{10.{R.randrange(1000, 9999)}/{rs(3, LOWER)}.{R.randrange(2015, 2024)}.{R.randrange(100000, 999999)}}}\n}}\n")
    c.neg(cat, "home/hkim/thesis/references.bib", "\n".join(bib))

    def orcid():
        base = "0000000" + rs(8, DIGITS)
        total = 0
        for ch in base:
            total = (total + int(ch)) * 2
        r = (12 - total % 11) % 11
        s = base + ("X" if r == 10 else str(r))
        return "-".join(s[i:i + 4] for i in range(0, 16, 4))

    c.neg(cat, "data/shared/admin/orcid-list.md",
          "# ORCID iDs of group members (for the annual report)\n\n" +
          "\n".join(f"- {f} {l}: https://orcid.org/{orcid()}" for f, l in [person() for _ in range(14)]) + "\n")

    c.neg(cat, "srv/repos/labsite/CITATION.cff",
          "cff-version: 1.2.0\nmessage: \"If you use this software, please cite it as below.\"\ntitle: \"soilnet-tools\"\n"
          f"doi: 10.5281/zenodo.{R.randrange(1000000, 9999999)}\nversion: 2.1.0\ndate-released: 2024-02-20\nauthors:\n"
          f"  - family-names: Becker\n    given-names: Lukas\n    orcid: \"https://orcid.org/{orcid()}\"\n"
          f"    email: lukas.becker@{INST}\n  - family-names: Garcia\n    given-names: Rafael\n    orcid: \"https://orcid.org/{orcid()}\"\n")

    c.neg(cat, "data/projects/imaging/manifest.json", json.dumps({"dataset": "lightsheet-2024-02", "files": [
        {"id": uuid4(), "name": f"stack_{i:04d}.tif", "md5": hexs(32), "bytes": R.randrange(10**8, 4 * 10**9)} for i in range(30)]},
        indent=1) + "\n")

    c.neg(cat, "home/tjohansson/jobs/sweep.yaml",
          f"# wandb sweep {rs(8, LOWER + DIGITS)}\nprogram: train.py\nmethod: bayes\nmetric:\n  name: val/loss\n  goal: minimize\n"
          "parameters:\n  lr:\n    min: 1.0e-6\n    max: 1.0e-3\n  batch_size:\n    values: [16, 32, 64]\n"
          f"# best runs: {', '.join(rs(8, LOWER + DIGITS) for _ in range(4))}\n")

    c.neg(cat, "var/www/shop/public/index.html",
          "<!doctype html>\n<html lang=\"de\"><head><meta charset=\"utf-8\">\n<title>Sensorlab Kits</title>\n"
          f"<link rel=\"stylesheet\" href=\"https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css\" integrity=\"sha384-{b64(48)}\" crossorigin=\"anonymous\">\n"
          f"<script src=\"/static/js/app.{hexs(8)}.js\" integrity=\"sha384-{b64(48)}\" defer></script>\n</head>\n"
          "<body><h1>Sensor kits for field research</h1></body></html>\n")

    c.neg(cat, "data/projects/imaging/models/unet3d-v4.pt",
          f"version https://git-lfs.github.com/spec/v1\noid sha256:{hexs(64)}\nsize {R.randrange(10**7, 10**9)}\n")

    c.neg(cat, "srv/monitoring/grafana/dashboards/shop.json", json.dumps({
        "uid": rs(14, ALNUM), "title": "Shop overview", "version": 17,
        "panels": [{"id": i, "type": "timeseries", "title": t, "datasource": {"type": "prometheus", "uid": rs(9, ALNUM)}}
                   for i, t in enumerate(["Requests", "Errors", "Checkout latency", "Orders/h"], 1)]}, indent=2) + "\n")

    c.neg(cat, "data/projects/genomics/samples.tsv",
          "sample\taccession\tbarcode\tlane\treads\n" + "\n".join(
              f"S{i:03d}\tSRR{R.randrange(10000000, 29999999)}\t{rs(8, 'ACGT')}-{rs(8, 'ACGT')}\t{R.randrange(1, 5)}\t{R.randrange(10**6, 9 * 10**7)}"
              for i in range(1, 49)) + "\n")

    c.neg(cat, "srv/repos/infra/terraform/.terraform.lock.hcl",
          "".join(f"provider \"registry.terraform.io/{p}\" {{\n  version     = \"{v}\"\n  constraints = \"~> {v[:3]}\"\n  hashes = [\n"
                  + "".join(f"    \"h1:{b64(32)}\",\n" for _ in range(2)) + "".join(f"    \"zh:{hexs(64)}\",\n" for _ in range(6))
                  + "  ]\n}\n\n" for p, v in [("digitalocean/digitalocean", "2.34.1"), ("hashicorp/azurerm", "3.94.0")]))

    c.neg(cat, "srv/repos/sensor-gateway/go.sum",
          "".join(f"{m} {v} h1:{b64(32)}\n{m} {v}/go.mod h1:{b64(32)}\n" for m, v in
                  [("github.com/eclipse/paho.mqtt.golang", "v1.4.3"), ("github.com/gorilla/websocket", "v1.5.1"),
                   ("golang.org/x/net", "v0.22.0"), ("golang.org/x/sync", "v0.6.0"), ("github.com/jackc/pgx/v5", "v5.5.5")]))

    c.neg(cat, "var/lib/shop/media/thumbnails-index.csv",
          "sha1,path,width,height\n" + "\n".join(f"{hexs(40)},products/{hexs(6)}.webp,{pick([320, 640])},{pick([240, 480])}" for _ in range(50)) + "\n")

    c.neg(cat, "data/projects/climate/era5/request-ids.json", json.dumps({
        "requests": [{"request_id": uuid4(), "variable": v, "year": y, "state": "completed"}
                     for v in ["2m_temperature", "total_precipitation"] for y in range(2018, 2023)]}, indent=2) + "\n")

    c.neg(cat, "home/fschmidt/notes/webhooks.md",
          "# Verifying webhook signatures\n\nGitHub sends `X-Hub-Signature-256: sha256=" + hexs(64) + "`\n"
          "Stripe sends `Stripe-Signature: t=1709884800,v1=" + hexs(64) + "`\n\n"
          "Compute HMAC-SHA256 over the raw body with the endpoint's signing secret (kept in Vault) and compare in constant time.\n")

    c.neg(cat, "srv/shop-api/logs/webhook-2024-03.log",
          "\n".join(f"{iso_ts(2024, 3)}Z INFO [webhooks] stripe event={pick(['payment_intent.succeeded', 'charge.refunded', 'checkout.session.completed'])} "
                    f"id=evt_{rs(24, ALNUM)} sig=t={R.randrange(1709200000, 1711900000)},v1={hexs(64)} verified=true" for _ in range(80)) + "\n")

    c.neg(cat, "home/tjohansson/jobs/eval_esm.slurm",
          "#!/bin/bash\n#SBATCH --job-name=eval-esm\n#SBATCH --partition=gpu\n#SBATCH --gres=gpu:1\n#SBATCH --array=1-8\n\n"
          "module load cuda/12.2\nCKPT=/data/projects/protein/ckpt/run-" + rs(8, LOWER + DIGITS) + "/step_40000.pt\n"
          "echo \"" + hexs(64) + "  $CKPT\" | sha256sum -c -\npython eval.py --ckpt $CKPT --fold $SLURM_ARRAY_TASK_ID\n")

    c.neg(cat, "home/ppatel/notebooks/embedding-ids.ipynb", notebook([
        ("code", "ids = pd.read_csv('embedding_index.csv')\nids.head()",
         [{"data": {"text/plain": ["                                 doc_id                               chunk\n" +
                                   "\n".join(f"{i}  {uuid4()}  {hexs(32)}" for i in range(5))]},
           "execution_count": 1, "metadata": {}, "output_type": "execute_result"}]),
    ]))

    c.neg(cat, "home/mbecker/.ssh/config",
          "Host hpc\n    HostName hpc-login01.bio.uni-hochstadt.de\n    User mbecker\n    IdentityFile ~/.ssh/id_ed25519\n\n"
          "Host nas01\n    HostName nas01.bio.uni-hochstadt.de\n    ProxyJump hpc\n    IdentitiesOnly yes\n")

    c.neg(cat, "home/akowalski/Documents/password-hashes-howto.txt",
          "How our Django stores passwords (no plaintext anywhere):\n\n  pbkdf2_sha256$720000$" + rs(22, ALNUM) + "$" + b64(32) + "\n\n"
          "The part after the second $ is the salt, the rest is the derived key. Resetting a password\n"
          "is done with `manage.py changepassword <user>`.\n")


# ===========================================================================
# NEGATIVES: base64 of non-secret data
# ===========================================================================

def neg_base64(c):
    cat = "base64"
    c.neg(cat, "home/lchen/notebooks/plots.ipynb", notebook([
        ("code", "import matplotlib.pyplot as plt\nplt.plot(losses); plt.yscale('log')", [nb_png(9000)]),
        ("code", "plt.hist(scores, bins=50)", [nb_png(7000)]),
    ]))
    c.neg(cat, "var/www/shop/public/email-logo.html",
          "<table><tr><td><img alt=\"Sensorlab Kits\" width=\"180\" src=\"data:image/png;base64,"
          + base64.b64encode(b"\x89PNG\r\n\x1a\n" + rbytes(3000)).decode() + "\"></td></tr></table>\n")
    att = base64.b64encode(("\n".join(pick(LOREM) for _ in range(40))).encode()).decode()
    c.neg(cat, "home/dmuller/mail/inbox/1708000001.M1P9.eml",
          f"From: Mei Chen <mei.chen@{INST}>\nTo: Dirk Mueller <dirk.mueller@{INST}>\nSubject: draft methods section\n"
          f"Date: {rdate()}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"
          "Content-Type: text/plain; charset=utf-8\n\nHi Dirk, draft attached.\n\n--b1\n"
          "Content-Type: text/plain; name=\"methods.txt\"\nContent-Transfer-Encoding: base64\n"
          f"Content-Disposition: attachment; filename=\"methods.txt\"\n\n{wrap(att, 76)}\n--b1--\n")
    c.neg(cat, "srv/k8s/shop/configmap-fonts.yaml",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: invoice-fonts\nbinaryData:\n"
          f"  DejaVuSans.ttf: {b64(3000)}\n")
    c.neg(cat, "srv/repos/website/static/css/fonts.css",
          "@font-face {\n  font-family: 'Inter';\n  font-weight: 400;\n  src: url(data:font/woff2;base64,"
          + b64(6000) + ") format('woff2');\n}\n")
    c.neg(cat, "home/hkim/R/report.html",
          "<!DOCTYPE html>\n<html><head><title>Sensor QC report</title></head><body>\n<h1>Sensor QC</h1>\n"
          "<p>Figure 1: soil moisture, all stations</p>\n<img src=\"data:image/png;base64,"
          + base64.b64encode(b"\x89PNG\r\n\x1a\n" + rbytes(12000)).decode() + "\" />\n</body></html>\n")
    c.neg(cat, "data/projects/imaging/metadata/thumb-0001.json",
          json.dumps({"stack": "stack_0001.tif", "thumbnail_jpeg_b64": base64.b64encode(b"\xff\xd8\xff\xe0" + rbytes(2500)).decode()}) + "\n")
    c.neg(cat, "home/ppatel/notebooks/serialize-demo.ipynb", notebook([
        ("code", "import base64, pickle\nblob = base64.b64encode(pickle.dumps(config)).decode()\nblob[:80]",
         [{"data": {"text/plain": ["'" + base64.b64encode(b"\x80\x04\x95" + rbytes(57)).decode() + "'"]},
           "execution_count": 1, "metadata": {}, "output_type": "execute_result"}]),
    ]))
    c.neg(cat, "srv/repos/sensor-gateway/testdata/frames.b64",
          "\n".join(base64.b64encode(bytes([0xA5, 0x01]) + rbytes(30)).decode() for _ in range(100)) + "\n")
    c.neg(cat, "srv/k8s/shop/configmap-settings.yaml",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-settings\ndata:\n"
          "  features.json.b64: " + base64.b64encode(json.dumps({"free_shipping_threshold_eur": 80, "show_blog": True,
                                                                "currencies": ["EUR", "CHF"]}).encode()).decode() + "\n")


# ===========================================================================
# NEGATIVES: a few e-mail addresses only
# ===========================================================================

def neg_few_emails(c):
    cat = "few-emails"
    c.neg(cat, "home/lchen/projects/paper-bot/pyproject.toml",
          "[project]\nname = \"paper-bot\"\nversion = \"0.3.1\"\nrequires-python = \">=3.10\"\n"
          f"authors = [\n  {{ name = \"Mei Chen\", email = \"mei.chen@{INST}\" }},\n  {{ name = \"Priya Patel\", email = \"priya.patel@{INST}\" }},\n]\n"
          "dependencies = [\"openai>=1.0\", \"feedparser\", \"pyzotero\"]\n")
    c.neg(cat, "srv/repos/labsite/MAINTAINERS",
          f"Lukas Becker <lukas.becker@{INST}>  (content)\nPriya Patel <priya.patel@{INST}>  (frontend)\n"
          f"Rafael Garcia <rafael.garcia@{INST}>  (deployment)\n")
    c.neg(cat, "home/akowalski/thesis/titlepage.tex",
          "\\begin{titlepage}\n\\centering\n{\\LARGE Spatial heterogeneity of soil respiration}\\\\[1cm]\n"
          f"Anna Kowalski\\\\\\texttt{{anna.kowalski@{INST}}}\\\\[1cm]\nSupervisor: Prof. Dr. Lukas Becker\\\\\n"
          f"\\texttt{{lukas.becker@{INST}}}\n\\end{{titlepage}}\n")
    c.neg(cat, "home/mbecker/mail/inbox/1709900000.M3P11.eml",
          f"From: Sofia Rossi <sofia.rossi@{UNI}>\nTo: Lukas Becker <lukas.becker@{INST}>\nCc: Mei Chen <mei.chen@{INST}>\n"
          f"Subject: Group meeting moved\nDate: {rdate()}\n\nHi Lukas,\n\nthe group meeting moves to Thursday 10:00, room 2.031.\n\nSofia\n")
    c.neg(cat, "data/shared/admin/contacts/it-support.txt",
          f"IT support contacts\n\n- general: it-service@{UNI}\n- HPC: hpc-support@{UNI}\n- our admin: rafael.garcia@{INST}\n")
    c.neg(cat, "var/www/shop/public/imprint.html",
          "<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\"><title>Impressum</title></head><body>\n"
          "<h1>Impressum</h1>\n<p>Sensorlab Kits UG (haftungsbeschraenkt)<br>Am Botanischen Garten 3<br>79999 Hochstadt</p>\n"
          f"<p>E-Mail: info@{SHOP}<br>Datenschutz: datenschutz@{SHOP}<br>Telefon: +49 761 203 4410</p>\n"
          "<p>Registergericht: Amtsgericht Hochstadt, HRB 718823</p>\n</body></html>\n")
    c.neg(cat, "srv/repos/shop-backend/package.json", json.dumps({
        "name": "shop-frontend", "version": "2.3.0", "private": True, "author": f"Priya Patel <priya.patel@{INST}>",
        "scripts": {"dev": "vite", "build": "vite build"}, "dependencies": {"vue": "^3.4.21", "pinia": "^2.1.7"}}, indent=2) + "\n")
    c.neg(cat, "home/eokafor/matlab/Contents.m",
          "% POSTPROC  Post-processing of the regional climate runs\n% Version 1.2  2024-01-15\n"
          f"% Contact: ebele.okafor@{INST}\n%\n% make_figures   - all paper figures\n% iban_validate  - (unrelated) exercise helper\n")
    c.neg(cat, "home/hkim/R/DESCRIPTION",
          "Package: sensorqc\nTitle: Quality Control for Soil Sensor Networks\nVersion: 0.4.0\n"
          f"Authors@R: c(\n    person(\"Hyejin\", \"Kim\", email = \"hyejin.kim@{INST}\", role = c(\"aut\", \"cre\")),\n"
          f"    person(\"Lukas\", \"Becker\", email = \"lukas.becker@{INST}\", role = \"aut\"))\nLicense: MIT\n")
    c.neg(cat, "srv/jupyterhub-staging/jupyterhub_config.py",
          "c = get_config()  # noqa\nc.Authenticator.allowed_users = {'rgarcia', 'ppatel', 'mbecker'}\n"
          f"c.Authenticator.admin_users = {{'rgarcia'}}\nc.JupyterHub.admin_access = True\n# questions: rafael.garcia@{INST}\n")
    c.neg(cat, "home/ppatel/.gitconfig",
          f"[user]\n\tname = Priya Patel\n\temail = priya.patel@{INST}\n[pull]\n\trebase = true\n[init]\n\tdefaultBranch = main\n")
    c.neg(cat, "srv/mailman/lists/seminar-announce-owners.txt",
          f"lukas.becker@{INST}\nmei.chen@{INST}\nsofia.rossi@{UNI}\n")
    c.neg(cat, "data/projects/survey/consent-forms/README.md",
          "Scanned consent forms are stored on the encrypted share only. Questions about the\n"
          f"study: survey-team@{INST}. Ethics approval no. 2023-117-EK.\n")
    c.neg(cat, "home/dmuller/mail/Sent/1710300000.M7P2.eml",
          f"From: Dirk Mueller <dirk.mueller@{INST}>\nTo: Felix Weber <felix.weber@{INST}>\nSubject: Re: car sharing\n"
          f"Date: {rdate()}\n\nFelix, you can take the van on Tuesday. Keys are with the technician.\n\nDirk\n")
    c.neg(cat, "home/rgarcia/scripts/notify_done.py",
          "import smtplib\nfrom email.message import EmailMessage\n\nm = EmailMessage()\n"
          f"m['From'] = 'hpc-jobs@{INST}'\nm['To'] = 'rafael.garcia@{INST}'\nm['Subject'] = 'job finished'\n"
          "m.set_content('done')\nwith smtplib.SMTP('localhost') as s:\n    s.send_message(m)\n")


# ===========================================================================
# NEGATIVES: large benign files
# ===========================================================================

def neg_large(c):
    cat = "large"
    c.neg(cat, "srv/shop-api/logs/access-2024-02.log", "\n".join(fill_to(lambda n: access_log_lines(n), 200 * 1024)) + "\n")
    c.neg(cat, "srv/shop-api/logs/app-2024-02-20.log", "\n".join(fill_to(lambda n: app_log_lines(n), 200 * 1024)) + "\n")

    out = ["-- MySQL dump 10.13", "-- Host: localhost    Database: shop", "",
           "CREATE TABLE `orders` (`id` int, `number` varchar(16), `customer_id` int, `total_cents` int, "
           "`card_last4` char(4), `created_at` datetime);", ""]
    size = 0
    n = 0
    while size < 200 * 1024:
        n += 1
        line = (f"INSERT INTO `orders` VALUES ({n},'SO-{230000 + n}',{R.randrange(1, 5000)},{R.randrange(500, 90000)},"
                f"'{rs(4, DIGITS)}','2023-{R.randrange(1, 13):02d}-{R.randrange(1, 29):02d} {R.randrange(24):02d}:{R.randrange(60):02d}:00');")
        out.append(line)
        size += len(line) + 1
    c.neg(cat, "var/lib/shop/backups/shop-orders-2024-02-01.sql", "\n".join(out) + "\n")

    rows = ["timestamp,station,depth_cm,vwc,temp_c,battery_v"]
    rows += fill_to(lambda n: [f"{iso_ts(2023, R.randrange(4, 10))},ST{R.randrange(1, 25):02d},{pick([10, 30, 60])},"
                               f"{R.random() * 0.45:.4f},{R.uniform(2, 24):.2f},{R.uniform(3.3, 4.2):.3f}" for _ in range(n)], 200 * 1024)
    c.neg(cat, "data/projects/soilnet/raw/readings-2023.csv", "\n".join(rows) + "\n")

    c.neg(cat, "home/lchen/notebooks/training-curves.ipynb", notebook(
        [("code", f"plot_run('{rs(8, LOWER + DIGITS)}')", [nb_png(30000)]) for _ in range(5)]))

    body = []
    for i in range(1, 40):
        body.append(f"\\section{{Part {i}}}\n" + "\n".join(pick(LOREM) for _ in range(60)) + "\n")
    c.neg(cat, "home/akowalski/thesis/main.tex",
          "\\documentclass[12pt]{book}\n\\begin{document}\n" + "".join(body) +
          f"\\bibliography{{references}}\n% DOI of the dataset: 10.5281/zenodo.{R.randrange(1000000, 9999999)}\n\\end{{document}}\n")


# ===========================================================================
# self-check: planted values are valid, look-alikes are clean
# ===========================================================================

CARD_RE = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
IBAN_RE = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![0-9A-Za-z])")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PRIV_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----\s*\n(?:[A-Za-z0-9+/=:, -]*\n)*?[A-Za-z0-9+/=]{40,}")


def issuer_prefix(d):
    n2, n3, n4 = int(d[:2]), int(d[:3]), int(d[:4])
    return (d[0] == "4" or 51 <= n2 <= 55 or 2221 <= n4 <= 2720 or n2 in (34, 37, 36, 38, 62, 65)
            or n4 == 6011 or 644 <= n3 <= 649 or 3528 <= n4 <= 3589 or 300 <= n3 <= 305)


def find_cards(text):
    out = []
    for m in CARD_RE.finditer(text):
        d = re.sub(r"\D", "", m.group())
        if 13 <= len(d) <= 19 and luhn_ok(d) and issuer_prefix(d):
            out.append(m.group())
    return out


def find_ibans(text):
    out = []
    for m in IBAN_RE.finditer(text):
        s = m.group().replace(" ", "")
        for L in sorted({IBAN_LEN.get(s[:2], 0)} - {0}):
            if len(s) >= L and iban_ok(s[:L]):
                out.append(s[:L])
    return out


def self_check(c):
    problems = []
    for path, secret, cat in c.entries:
        full = os.path.join(c.root, path)
        size = os.path.getsize(full)
        with open(full, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if size > 400 * 1024:
            problems.append(f"{path}: too large ({size} bytes)")
        cards, ibans = find_cards(text), find_ibans(text)
        emails = set(EMAIL_RE.findall(text))
        flat = re.sub(r"(?m)^[ \t\"]+", "", text.replace("\\n", "\n"))
        has_priv = bool(PRIV_RE.search(flat)) or "LS0tLS1CRUdJTi" in text
        if secret:
            if cat == "key" and not has_priv:
                problems.append(f"{path}: no private key found")
            if cat == "card" and not cards:
                problems.append(f"{path}: no valid card found")
            if cat == "iban" and not ibans:
                problems.append(f"{path}: no valid IBAN found")
            if cat == "personal" and len(emails) < 20:
                problems.append(f"{path}: only {len(emails)} e-mail addresses")
        else:
            if cards:
                problems.append(f"{path}: look-alike holds card-like Luhn number {cards}")
            if ibans:
                problems.append(f"{path}: look-alike holds valid IBAN {ibans}")
            if len(emails) >= 5:
                problems.append(f"{path}: look-alike holds {len(emails)} e-mail addresses")
            if has_priv:
                problems.append(f"{path}: look-alike holds a private key")
    return problems


# ===========================================================================
# main
# ===========================================================================

POS_ORDER = ["key", "cloud", "env", "card", "iban", "personal"]


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(f"usage: {os.path.basename(argv[0])} OUT_DIR\n")
        return 2
    out = argv[1]
    if os.path.exists(out):
        if not os.path.isdir(out):
            sys.stderr.write(f"error: {out} exists and is not a directory\n")
            return 1
        if os.listdir(out):
            sys.stderr.write(f"error: refusing to write into non-empty directory {out}\n")
            return 1
    for tool in ("ssh-keygen", "openssl"):
        if shutil.which(tool) is None:
            sys.stderr.write(f"error: {tool} not found on PATH\n")
            return 1
    os.makedirs(out, exist_ok=True)

    global KEYDIR
    KEYDIR = tempfile.mkdtemp(prefix="corpus-e-keys-")
    c = Corpus(out)
    try:
        for gen in (pos_keys, pos_cloud, pos_env, pos_cards, pos_iban, pos_personal,
                    neg_pubkeys, neg_placeholders, neg_env, neg_encrypted, neg_cardlike,
                    neg_ibanlike, neg_hashes, neg_base64, neg_few_emails, neg_large):
            gen(c)
    finally:
        shutil.rmtree(KEYDIR, ignore_errors=True)

    with open(os.path.join(out, "labels.tsv"), "w", encoding="utf-8") as f:
        for path, secret, _ in sorted(c.entries):
            f.write(f"{path}\tnormal\t{secret}\t1\n")

    pos = {}
    neg = {}
    for _, secret, cat in c.entries:
        d = pos if secret else neg
        d[cat] = d.get(cat, 0) + 1
    print(f"corpus written to {out}")
    print("planted secrets (S=1):")
    for cat in POS_ORDER:
        print(f"  {cat:<12} {pos.get(cat, 0):4d}")
    print(f"  {'total':<12} {sum(pos.values()):4d}")
    print("look-alikes (S=0):")
    for cat in sorted(neg):
        print(f"  {cat:<12} {neg[cat]:4d}")
    print(f"  {'total':<12} {sum(neg.values()):4d}")
    print(f"files: {len(c.entries)}")

    problems = self_check(c)
    if problems:
        sys.stderr.write("self-check FAILED:\n" + "".join(f"  {p}\n" for p in problems))
        return 1
    print("self-check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
