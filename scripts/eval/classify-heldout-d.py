#!/usr/bin/env python3
"""Held-out corpus "D" for the secret classifier of the backup tool.

What this is
------------
A labelled, *untuned* test corpus for the secret / sensitive-data scanner.
It lays out a fake file system of a small company (servers and laptops:
srv/, opt/, var/www/, var/log/, root/, home/<user>/, Users/<user>/) under
OUT_DIR, where OUT_DIR stands for "/".  Some files hold a planted, real-shaped
secret (S=1); the others are look-alikes of the same file types that must not
be flagged (S=0).

This corpus was written by a helper who had not read the scanner's code or any
earlier corpus.  The secret shapes were designed only from this definition of
"sensitive":

  * private keys (SSH, PEM/TLS, PGP private key blocks);
  * cloud credentials and service tokens (AWS, GCP, Azure, GitHub/GitLab,
    Slack, Stripe, SendGrid/Twilio/Mailgun-like API keys, database URLs with
    passwords, registry tokens, JWT signing secrets, and similar);
  * .env secrets (passwords, secret keys, tokens in .env-style files);
  * payment card numbers (Luhn-valid, real issuer prefixes, written as people
    write them);
  * IBANs (valid mod-97 check digits);
  * bulk personal data (lists of at least ~20 people's e-mail addresses).

Private keys are real: made with ssh-keygen (-N '') and openssl, and PGP
blocks are built from an openssl RSA key (secret-key packet, user ID and a
real self-signature).  Key material therefore differs between runs; all the
rest (paths, tokens, numbers, names, labels) is fixed by random.Random(4242).
Tokens follow the providers' published formats with random bodies.  Every
secret sits in the first 512 KiB of its file; a few ~200 KiB files hide the
secret deep inside (and a few equally large files hold none).

Label format
------------
OUT_DIR/labels.tsv, one line per corpus file (labels.tsv itself excluded):

    relative/path<TAB>normal<TAB>S<TAB>1

where S is 1 when the file holds a planted secret and 0 for a look-alike.

Usage
-----
    scripts/eval/classify-heldout-d.py OUT_DIR

OUT_DIR is created; a non-empty OUT_DIR is refused.  Needs python3 (stdlib
only), ssh-keygen and openssl.  Score with

    cargo run --release -p ibars-core --example eval_classify OUT_DIR
"""

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
import zlib

import random

R = random.Random(4242)

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
ALNUM = UPPER + LOWER + DIGITS
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


# ---------------------------------------------------------------- basics

def rs(n, alphabet=ALNUM):
    return "".join(R.choice(alphabet) for _ in range(n))


def hexs(n):
    return rs(n, HEX)


def digits(n):
    return rs(n, DIGITS)


def ruuid():
    return str(uuid.UUID(int=R.getrandbits(128), version=4))


def rdate(start=2019, end=2025):
    a = dt.datetime(start, 1, 1)
    b = dt.datetime(end, 6, 30)
    return a + dt.timedelta(seconds=R.randrange(int((b - a).total_seconds())))


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def b64url_nopad(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b62(n, width):
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = (DIGITS + UPPER + LOWER)[r] + out
    return out.rjust(width, "0")


def human_password():
    """Passwords as people pick them for servers and services."""
    words = ["Sommer", "Winter", "Falcon", "Harbor", "Kestrel", "Orange", "Bright",
             "Maple", "Tiger", "Nordlicht", "Pixel", "Rocket", "Silver", "Otter",
             "Copper", "Lagune", "Zebra", "Granit", "Velvet", "Anker"]
    k = R.randrange(5)
    if k == 0:
        return R.choice(words) + str(R.randrange(1970, 2026)) + R.choice("!#$%?*")
    if k == 1:
        return rs(R.choice([16, 20, 24, 32]))
    if k == 2:
        return "-".join(R.choice(["correct", "staple", "lantern", "meadow", "quartz",
                                  "violet", "pepper", "glacier", "hammock", "tundra",
                                  "walnut", "cobalt", "saffron", "ember"])
                        for _ in range(4)) + str(R.randrange(10, 99))
    if k == 3:
        return rs(R.choice([12, 14, 18]), ALNUM + "!#%&*+-=?@^_")
    return R.choice(words).lower() + R.choice(["_", ".", ""]) + rs(6, LOWER + DIGITS) + R.choice("!$%")


def secret_key(n=50):
    return rs(n, ALNUM + "!@#%^&*(-_=+)")


# ---------------------------------------------------------------- people

FIRST = ["Anna", "Lukas", "Sofia", "Jonas", "Marie", "Felix", "Emma", "Paul", "Lena",
         "Leon", "Mia", "Noah", "Hannah", "Elias", "Clara", "Ben", "Ida", "Finn",
         "Olivia", "Liam", "Amelia", "Oliver", "Isla", "Jack", "Chloé", "Hugo", "Léa",
         "Louis", "Camille", "Mathis", "Giulia", "Marco", "Chiara", "Luca", "Sara",
         "Matteo", "Lucía", "Pablo", "Carmen", "Javier", "Zofia", "Jakub", "Agnieszka",
         "Piotr", "Ayşe", "Mehmet", "Elif", "Can", "Priya", "Arjun", "Ananya", "Rohan",
         "Wei", "Mei", "Hiroshi", "Yuki", "Min-jun", "Seo-yeon", "Fatima", "Omar",
         "Amina", "Youssef", "Ingrid", "Erik", "Astrid", "Nils", "Sanne", "Daan",
         "Femke", "Bram", "Kateřina", "Tomáš", "Nikolai", "Olga", "João", "Beatriz",
         "Tiago", "Inês", "Grace", "Samuel", "Chinedu", "Ngozi", "Aoife", "Cian"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
        "Becker", "Hoffmann", "Schäfer", "Koch", "Richter", "Klein", "Wolf", "Neumann",
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Walker",
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy",
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "García",
        "Fernández", "López", "Martínez", "Sánchez", "Nowak", "Kowalski", "Wiśniewski",
        "Wójcik", "Yılmaz", "Kaya", "Demir", "Şahin", "Sharma", "Patel", "Iyer",
        "Nair", "Wang", "Li", "Zhang", "Tanaka", "Suzuki", "Kim", "Park", "Haddad",
        "El Amrani", "Hansen", "Johansson", "Nielsen", "Lindqvist", "de Vries",
        "Jansen", "van Dijk", "Bakker", "Novák", "Svoboda", "Ivanova", "Silva",
        "Santos", "Ferreira", "Okafor", "Adeyemi", "O'Brien", "Murphy", "Kelly"]
FREEMAIL = ["gmail.com", "gmail.com", "gmail.com", "outlook.com", "hotmail.com",
            "yahoo.com", "gmx.de", "web.de", "t-online.de", "icloud.com", "proton.me",
            "orange.fr", "libero.it", "wp.pl", "hotmail.co.uk", "posteo.de", "mail.com"]
BIZMAIL = ["kraemer-bau.de", "nordhafen-logistik.de", "vela-consulting.com",
           "studio-lumen.fr", "apex-retail.co.uk", "bergmann-partner.de",
           "fiorentina-tessuti.it", "hortus-garden.nl", "blueshift.io", "tallinnsoft.ee"]

_TRANS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e",
                        "í": "i", "á": "a", "ó": "o", "ñ": "n", "ç": "c", "ş": "s",
                        "ı": "i", "ś": "s", "ń": "n", "ł": "l", "ř": "r", "š": "s",
                        "ě": "e", "ã": "a", "ê": "e", "ô": "o", "à": "a", "'": "",
                        " ": "", "-": ""})


def ascii_name(s):
    return s.lower().translate(_TRANS)


class Person:
    def __init__(self, first, last, email):
        self.first, self.last, self.email = first, last, email

    @property
    def name(self):
        return f"{self.first} {self.last}"


def people(n, domain=None):
    """n distinct people with plausible, distinct e-mail addresses."""
    out, seen = [], set()
    while len(out) < n:
        f, l = R.choice(FIRST), R.choice(LAST)
        a, b = ascii_name(f), ascii_name(l)
        dom = domain or (R.choice(FREEMAIL) if R.random() < 0.7 else R.choice(BIZMAIL))
        style = R.randrange(6)
        local = [f"{a}.{b}", f"{a[0]}{b}", f"{a}{b}{R.randrange(1, 99)}", f"{a}_{b}",
                 f"{b}.{a}", f"{a}{R.randrange(1960, 2005)}"][style]
        email = f"{local}@{dom}"
        if email in seen:
            continue
        seen.add(email)
        out.append(Person(f, l, email))
    return out


def phone():
    k = R.randrange(4)
    if k == 0:
        return f"+49 {R.choice(['151', '160', '170', '176', '30', '40', '89'])} {digits(7)}"
    if k == 1:
        return f"+44 7{digits(3)} {digits(6)}"
    if k == 2:
        return f"+33 6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}"
    return f"0{R.choice(['151', '171', '221', '69'])}-{digits(7)}"


# ---------------------------------------------------------------- cards

KNOWN_TEST_PANS = {"4111111111111111", "4242424242424242", "5555555555554444",
                   "378282246310005", "371449635398431", "6011111111111117",
                   "4012888888881881", "5105105105105100", "4000056655665556",
                   "3530111333300000", "30569309025904", "38520000023237",
                   "6011000990139424", "5200828282828210", "4000000000000002"}


def luhn_sum(num):
    total = 0
    for i, ch in enumerate(reversed(num)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10


def luhn_ok(num):
    return luhn_sum(num) == 0


def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    for c in DIGITS:
        if luhn_ok(body + c):
            return body + c
    raise AssertionError


def issuer_ok(num):
    """True when the number has a real issuer prefix and length (best effort)."""
    n = len(num)
    if num[0] == "4" and n in (13, 16, 19):
        return True
    if num[:2] in ("51", "52", "53", "54", "55") and n == 16:
        return True
    if 2221 <= int(num[:4]) <= 2720 and n == 16:
        return True
    if num[:2] in ("34", "37") and n == 15:
        return True
    if (num[:4] == "6011" or num[:2] == "65" or 644 <= int(num[:3]) <= 649) and n in (16, 19):
        return True
    if 3528 <= int(num[:4]) <= 3589 and n in (16, 19):
        return True
    if (num[:2] in ("36", "38", "39") or 300 <= int(num[:3]) <= 305) and n in (14, 16):
        return True
    if num[:2] == "62" and n in (16, 17, 18, 19):
        return True
    if num[:2] in ("50", "56", "57", "58", "67") and 12 <= n <= 19:
        return True
    return False


def card(kind=None):
    kind = kind or R.choice(["visa", "visa", "visa", "mc", "mc", "mc2", "amex", "amex",
                             "discover", "jcb", "diners"])
    while True:
        if kind == "visa":
            num = luhn_complete("4" + digits(5), 16)
        elif kind == "mc":
            num = luhn_complete("5" + R.choice("12345") + digits(4), 16)
        elif kind == "mc2":
            num = luhn_complete(str(R.randrange(2221, 2721)) + digits(2), 16)
        elif kind == "amex":
            num = luhn_complete(R.choice(["34", "37"]) + digits(4), 15)
        elif kind == "discover":
            num = luhn_complete(R.choice(["6011", "65" + digits(2), str(R.randrange(644, 650)) + digits(1)]), 16)
        elif kind == "jcb":
            num = luhn_complete(str(R.randrange(3528, 3590)), 16)
        elif kind == "diners":
            num = luhn_complete(R.choice(["36", "300", "301", "305", "38"]), 14)
        else:
            raise ValueError(kind)
        if num not in KNOWN_TEST_PANS:
            return num


def fmt_card(num, style=None):
    style = style or R.choice(["space", "space", "space", "dash", "plain"])
    if style == "plain":
        return num
    sep = " " if style == "space" else "-"
    if len(num) == 15:
        groups = [num[:4], num[4:10], num[10:]]
    elif len(num) == 14:
        groups = [num[:4], num[4:10], num[10:]]
    else:
        groups = [num[i:i + 4] for i in range(0, len(num), 4)]
    return sep.join(groups)


def not_card_digits(n, first=None):
    """A digit string that is NOT a valid card: fails Luhn (or has no issuer)."""
    while True:
        s = (first or R.choice("123456789")) + digits(n - 1)
        if not luhn_ok(s):
            return s


def safe_digits(n, prefix=""):
    """Random digits that do not happen to form a valid card number."""
    while True:
        s = prefix + digits(n - len(prefix))
        if not (13 <= len(s) <= 19 and luhn_ok(s) and issuer_ok(s)):
            return s


def expiry():
    return f"{R.randrange(1, 13):02d}/{R.randrange(25, 30)}"


# ---------------------------------------------------------------- IBANs

def _iban_num(s):
    return int("".join(str(int(c, 36)) for c in s))


def iban_make(country, bban):
    check = 98 - _iban_num(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


def iban_ok(iban):
    iban = iban.replace(" ", "")
    return _iban_num(iban[4:] + iban[:4]) % 97 == 1


def _es_dc(ten):
    w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]
    d = 11 - sum(int(a) * b for a, b in zip(ten, w)) % 11
    return {11: 0, 10: 1}.get(d, d)


def _fr_key(bank, branch, acct):
    return 97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(acct)) % 97)


def bban(country):
    c = country
    if c == "DE":
        return R.choice(["10010010", "20070024", "50010517", "70150000", "12030000",
                         "43060967", "37040044", "60050101", "86055592", "25050180"]) + digits(10)
    if c == "AT":
        return R.choice(["20111", "12000", "32000", "14000", "60000"]) + digits(11)
    if c == "CH":
        return R.choice(["00762", "00700", "00235", "08390"]) + digits(12)
    if c == "FR":
        bank = R.choice(["30004", "30003", "20041", "10278", "30002", "11315"])
        branch, acct = digits(5), digits(11)
        return bank + branch + acct + f"{_fr_key(bank, branch, acct):02d}"
    if c == "GB":
        return R.choice(["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "MONZ"]) + digits(6) + digits(8)
    if c == "NL":
        return R.choice(["ABNA", "INGB", "RABO", "TRIO", "KNAB", "BUNQ", "SNSB"]) + digits(10)
    if c == "BE":
        first = digits(10)
        chk = int(first) % 97 or 97
        return first + f"{chk:02d}"
    if c == "ES":
        bank, branch, acct = R.choice(["2100", "0049", "0182", "2085", "0081"]), digits(4), digits(10)
        return bank + branch + f"{_es_dc('00' + bank + branch)}{_es_dc(acct)}" + acct
    if c == "IT":
        return R.choice(UPPER) + R.choice(["03069", "02008", "05034", "03062"]) + digits(5) + digits(12)
    if c == "PL":
        return R.choice(["10202892", "11402004", "10500086", "12401037"]) + digits(16)
    if c == "IE":
        return R.choice(["AIBK", "BOFI", "IPBS"]) + R.choice(["931152", "900017", "990602"]) + digits(8)
    if c == "LU":
        return R.choice(["001", "002", "019", "030"]) + digits(13)
    if c == "DK":
        return digits(14)
    if c == "SE":
        return R.choice(["500", "800", "600"]) + digits(17)
    if c == "NO":
        return digits(11)
    if c == "FI":
        return R.choice(["123456", "405601", "800012"]) + digits(8)
    if c == "PT":
        return R.choice(["0002", "0007", "0035", "0033"]) + digits(17)
    raise ValueError(c)


IBAN_COUNTRIES = ["DE", "DE", "DE", "AT", "CH", "FR", "FR", "GB", "NL", "NL", "BE",
                  "ES", "IT", "PL", "IE", "LU", "DK", "SE", "NO", "FI", "PT"]
KNOWN_DOC_IBANS = {"DE89370400440532013000", "GB82WEST12345698765432",
                   "FR1420041010050500013M02606", "NL91ABNA0417164300",
                   "GB33BUKB20201555555555", "CH9300762011623852957"}


def iban(country=None):
    return iban_c(country or R.choice(IBAN_COUNTRIES))


def iban_c(country):
    while True:
        v = iban_make(country, bban(country))
        if v not in KNOWN_DOC_IBANS:
            return v


def bad_iban(country=None):
    """IBAN-shaped string whose check digits are wrong (typo or made-up)."""
    v = iban_c(country or R.choice(IBAN_COUNTRIES))
    while True:
        if R.random() < 0.5:
            # wrong check digits
            cand = v[:2] + f"{R.randrange(2, 99):02d}" + v[4:]
        else:
            # a typo in the account part, check digits left as they were
            i = R.randrange(6, len(v))
            ch = v[i]
            rep = R.choice(DIGITS) if ch.isdigit() else R.choice(UPPER)
            cand = v[:i] + rep + v[i + 1:]
        if not iban_ok(cand):
            return cand


def fmt_iban(v, grouped=None):
    if grouped is None:
        grouped = R.random() < 0.65
    if not grouped:
        return v
    return " ".join(v[i:i + 4] for i in range(0, len(v), 4))


BICS = {"DE": ["DEUTDEBBXXX", "COBADEFFXXX", "INGDDEFFXXX", "GENODEM1GLS", "BYLADEM1001"],
        "FR": ["BNPAFRPPXXX", "SOGEFRPPXXX", "PSSTFRPPPAR"], "NL": ["ABNANL2A", "INGBNL2A", "RABONL2U"],
        "GB": ["NWBKGB2L", "BARCGB22", "LOYDGB21"], "AT": ["GIBAATWWXXX", "BKAUATWW"],
        "CH": ["UBSWCHZH80A", "ZKBKCHZZ80A"], "ES": ["CAIXESBBXXX", "BBVAESMMXXX"],
        "IT": ["BCITITMM", "UNCRITMM"], "BE": ["GEBABEBB", "KREDBEBB"], "PL": ["BPKOPLPW"],
        "IE": ["AIBKIE2D", "BOFIIE2D"], "LU": ["BCEELULL"], "DK": ["DABADKKK"],
        "SE": ["ESSESESS"], "NO": ["DNBANOKK"], "FI": ["NDEAFIHH"], "PT": ["CGDIPTPL"]}


def bic_for(v):
    return R.choice(BICS.get(v[:2], ["DEUTDEFFXXX"]))


# ---------------------------------------------------------------- tokens

AWS_B32 = UPPER + "234567"


def aws_key_id(prefix="AKIA"):
    return prefix + rs(16, AWS_B32)


def aws_secret():
    return rs(40, B64)


def gh_token(prefix="ghp_"):
    body = rs(30)
    return prefix + body + b62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


def gh_fine_grained():
    return "github_pat_11" + rs(20, UPPER + DIGITS) + "_" + rs(59)


def glpat():
    return "glpat-" + rs(20, B64URL)


def slack_bot():
    return f"xoxb-{digits(12)}-{digits(13)}-{rs(24)}"


def slack_user():
    return f"xoxp-{digits(12)}-{digits(12)}-{digits(13)}-{hexs(32)}"


def slack_webhook():
    return (f"https://hooks.slack.com/services/T{rs(8, UPPER + DIGITS)}/"
            f"B{rs(10, UPPER + DIGITS)}/{rs(24)}")


def stripe_key(kind="sk_live_"):
    return kind + rs(R.choice([24, 99]))


def sendgrid():
    return "SG." + rs(22, B64URL) + "." + rs(43, B64URL)


def twilio_sid(prefix="AC"):
    return prefix + hexs(32)


def mailgun():
    return R.choice(["key-" + hexs(32), f"{hexs(32)}-{hexs(8)}-{hexs(8)}"])


def npm_token():
    return "npm_" + rs(36)


def pypi_token():
    return "pypi-AgEIcHlwaS5vcmc" + rs(R.randrange(140, 190), B64URL)


def gcp_api_key():
    return "AIza" + rs(35, B64URL)


def azure_storage_key():
    return b64(rbytes(64))


def azure_client_secret():
    return rs(3, ALNUM) + "8Q~" + rs(34, ALNUM + "_-.~")


def vault_token():
    return "hvs." + rs(R.choice([24, 91]), B64URL)


def tfc_token():
    return rs(14) + ".atlasv1." + rs(67)


def do_token():
    return "dop_v1_" + hexs(64)


def openai_key():
    return "sk-proj-" + rs(74, B64URL) + "T3BlbkFJ" + rs(74, B64URL)


def anthropic_key():
    return "sk-ant-api03-" + rs(93, B64URL) + "AA"


def telegram_token():
    return f"{R.randrange(10**9, 8 * 10**9)}:AA{rs(33, B64URL)}"


def shopify_token():
    return "shpat_" + hexs(32)


def dockerhub_pat():
    return "dckr_pat_" + rs(27, B64URL)


def grafana_sa():
    return "glsa_" + rs(32) + "_" + hexs(8)


def atlassian_token():
    return "ATATT3xFfGF0" + rs(170, B64URL) + "=" + hexs(8).upper()


def hs256_jwt(claims, key):
    import hmac
    head = b64url_nopad(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url_nopad(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url_nopad(sig)}"


def rs256_like_jwt(claims):
    head = b64url_nopad(json.dumps({"alg": "RS256", "kid": rs(43, B64URL)}, separators=(",", ":")).encode())
    body = b64url_nopad(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{body}.{rs(342, B64URL)}"


PNG_MAGIC = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def rbytes(n):
    return bytes(R.getrandbits(8) for _ in range(n))


# ---------------------------------------------------------------- key material

class KeyGen:
    """Real keys from ssh-keygen and openssl, made in a private temp dir."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="corpus-d-keys-")
        self.n = 0

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _p(self):
        self.n += 1
        return os.path.join(self.tmp, f"k{self.n}")

    @staticmethod
    def _read(p):
        with open(p) as f:
            return f.read()

    def _openssl(self, *args, inp=None):
        r = subprocess.run(["openssl", *args], input=inp, capture_output=True, text=True, check=True)
        return r.stdout

    def ssh(self, kind, comment, pem=False, bits=None):
        p = self._p()
        args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", p]
        if kind == "rsa":
            args += ["-b", str(bits or R.choice([2048, 3072, 3072, 4096]))]
        elif kind == "ecdsa":
            args += ["-b", str(bits or R.choice([256, 256, 384, 521]))]
        if pem:
            args += ["-m", "PEM"]
        subprocess.run(args, check=True, capture_output=True)
        return self._read(p), self._read(p + ".pub")

    def ssh_cert(self, user, principals, ca_comment="bf-user-ca"):
        """A CA-signed user certificate (public) and the user's public key."""
        ca = self._p()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", ca_comment, "-f", ca],
                       check=True, capture_output=True)
        u = self._p()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", user, "-f", u],
                       check=True, capture_output=True)
        subprocess.run(["ssh-keygen", "-q", "-s", ca, "-I", user, "-n", principals, "-V", "+52w",
                        u + ".pub"], check=True, capture_output=True)
        return self._read(u + "-cert.pub"), self._read(u + ".pub"), self._read(ca + ".pub")

    def rsa_pkcs8(self, bits=2048):
        return self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}")

    def rsa_trad(self, bits=2048):
        return self._openssl("genrsa", "-traditional", str(bits))

    def ec(self, curve="prime256v1"):
        return self._openssl("ecparam", "-name", curve, "-genkey", "-noout")

    def ec_pkcs8(self, curve="prime256v1"):
        return self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}")

    def ed25519(self):
        return self._openssl("genpkey", "-algorithm", "ed25519")

    def pub_of(self, priv_pem):
        return self._openssl("pkey", "-pubout", inp=priv_pem)

    def cert(self, cn, sans=(), org="Brightfield Logistics GmbH", days=None, key="rsa:2048"):
        k, c = self._p(), self._p()
        args = ["req", "-x509", "-newkey", key, "-nodes", "-keyout", k, "-out", c,
                "-days", str(days or R.choice([365, 398, 825, 3650])),
                "-subj", f"/C=DE/ST=Hamburg/O={org}/CN={cn}"]
        if sans:
            args += ["-addext", "subjectAltName=" + ",".join("DNS:" + s for s in sans)]
        self._openssl(*args)
        return self._read(k), self._read(c)

    def csr(self, cn, org="Brightfield Logistics GmbH"):
        k, c = self._p(), self._p()
        self._openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", k, "-out", c,
                      "-subj", f"/C=DE/ST=Hamburg/L=Hamburg/O={org}/CN={cn}")
        return self._read(k), self._read(c)

    def dhparam(self):
        return self._openssl("dhparam", "-dsaparam", "2048")

    def cert_text(self, cert_pem):
        return self._openssl("x509", "-noout", "-text", inp=cert_pem)


def pem_der(pem):
    lines = [l for l in pem.strip().splitlines() if l and not l.startswith("-----")]
    return base64.b64decode("".join(lines))


def _der_ints(der):
    def rd_len(b, i):
        l = b[i]
        i += 1
        if l < 0x80:
            return l, i
        k = l & 0x7F
        return int.from_bytes(b[i:i + k], "big"), i + k
    assert der[0] == 0x30
    ln, i = rd_len(der, 1)
    end, out = i + ln, []
    while i < end:
        assert der[i] == 0x02
        ln, j = rd_len(der, i + 1)
        out.append(int.from_bytes(der[j:j + ln], "big"))
        i = j + ln
    return out


def _mpi(x):
    bl = x.bit_length()
    return struct.pack(">H", bl) + x.to_bytes((bl + 7) // 8, "big")


def _pkt(tag, body):
    n = len(body)
    if n < 192:
        h = bytes([n])
    elif n < 8384:
        n2 = n - 192
        h = bytes([(n2 >> 8) + 192, n2 & 0xFF])
    else:
        h = b"\xff" + struct.pack(">I", n)
    return bytes([0xC0 | tag]) + h + body


def _crc24(data):
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def pgp_armor(kind, data, comment=None):
    b = base64.b64encode(data).decode()
    head = f"-----BEGIN PGP {kind} BLOCK-----\n"
    if comment:
        head += f"Comment: {comment}\n"
    head += "\n"
    body = "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
    crc = base64.b64encode(_crc24(data).to_bytes(3, "big")).decode()
    return f"{head}{body}\n={crc}\n-----END PGP {kind} BLOCK-----\n"


def pgp_rsa(kg, uid, created=None):
    """Unprotected OpenPGP v4 RSA secret key with user ID and self-signature.

    Returns (private armored block, public armored block, fingerprint)."""
    created = created or int(rdate(2018, 2024).timestamp())
    _, n, e, d, p, q, *_ = _der_ints(pem_der(kg.rsa_trad(R.choice([2048, 3072]))))
    if p > q:
        p, q = q, p
    u = pow(p, -1, q)
    pub = b"\x04" + struct.pack(">I", created) + b"\x01" + _mpi(n) + _mpi(e)
    fpr = hashlib.sha1(b"\x99" + struct.pack(">H", len(pub)) + pub).digest()
    uidb = uid.encode()

    def sub(t, data):
        return bytes([len(data) + 1, t]) + data
    hashed = (sub(33, b"\x04" + fpr) + sub(2, struct.pack(">I", created)) + sub(27, b"\x03")
              + sub(11, b"\x09\x08\x07\x02") + sub(21, b"\x0a\x09\x08\x0b\x02")
              + sub(22, b"\x02\x03\x01") + sub(30, b"\x01") + sub(23, b"\x80"))
    head = bytes([4, 0x13, 1, 8]) + struct.pack(">H", len(hashed)) + hashed
    trailer = b"\x04\xff" + struct.pack(">I", len(head))
    h = hashlib.sha256(b"\x99" + struct.pack(">H", len(pub)) + pub
                       + b"\xb4" + struct.pack(">I", len(uidb)) + uidb + head + trailer).digest()
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + h
    k = (n.bit_length() + 7) // 8
    em = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
    s = pow(int.from_bytes(em, "big"), d, n)
    unhashed = sub(16, fpr[-8:])
    sig = head + struct.pack(">H", len(unhashed)) + unhashed + h[:2] + _mpi(s)
    sec_mpis = _mpi(d) + _mpi(p) + _mpi(q) + _mpi(u)
    sec = pub + b"\x00" + sec_mpis + struct.pack(">H", sum(sec_mpis) & 0xFFFF)
    priv = pgp_armor("PRIVATE KEY", _pkt(5, sec) + _pkt(13, uidb) + _pkt(2, sig))
    pubb = pgp_armor("PUBLIC KEY", _pkt(6, pub) + _pkt(13, uidb) + _pkt(2, sig))
    return priv, pubb, fpr.hex().upper()


# ---------------------------------------------------------------- corpus

class Corpus:
    def __init__(self, root):
        self.root = root
        self.labels = {}

    def pick(self, fn, tries=500):
        for _ in range(tries):
            p = fn()
            if p not in self.labels and not any(k.startswith(p + "/") for k in self.labels) \
                    and not any(p.startswith(k + "/") for k in self.labels):
                return p
        raise RuntimeError("could not find a free path, last tried " + p)

    def add(self, rel, content, secret, cat, crlf=False):
        assert rel not in self.labels, rel
        assert not rel.startswith("/") and ".." not in rel.split("/"), rel
        data = content.encode("utf-8") if isinstance(content, str) else content
        if crlf:
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        full = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        self.labels[rel] = (1 if secret else 0, cat)

    def write_labels(self):
        with open(os.path.join(self.root, "labels.tsv"), "w") as f:
            for rel in sorted(self.labels):
                f.write(f"{rel}\tnormal\t{self.labels[rel][0]}\t1\n")


# ---------------------------------------------------------------- places

USERS = ["mbauer", "skim", "jkowalski", "anair", "lfischer", "tdubois", "rcosta",
         "ehansen", "oyilmaz", "pnovak"]
MACUSERS = ["sophie.martin", "david.chen", "lena.vogel", "marco.rossi", "ines.silva"]
SVCUSERS = ["deploy", "backup", "jenkins", "gitlab-runner"]
PROJECTS = ["billing-api", "shopfront", "intranet", "crm-sync", "invoicer", "warehouse-app",
            "hr-portal", "analytics", "mobile-backend", "ops-tools", "infra", "website",
            "payroll", "support-bot", "data-pipeline", "tracking-service", "customer-portal"]
WEB_PROJECTS = {"shopfront", "intranet", "hr-portal", "website", "customer-portal"}
SITES = ["brightfield-logistics.de", "shop.brightfield-logistics.de", "intranet",
         "blog", "kundenportal", "staging.brightfield-logistics.de", "wiki"]
HOSTS = ["db01", "db02", "app01", "app02", "web01", "backup01", "ci01", "mail01",
         "mon01", "files01", "vpn01"]
COMPANY = "Brightfield Logistics GmbH"
DOMAIN = "brightfield-logistics.de"
INTERNAL = "bf.internal"


def user():
    return R.choice(USERS)


def home():
    """A person's home directory on a server (home/) or a Mac laptop (Users/)."""
    if R.random() < 0.7:
        return f"home/{R.choice(USERS)}"
    return f"Users/{R.choice(MACUSERS)}"


def proj_root(proj=None):
    proj = proj or R.choice(PROJECTS)
    r = R.random()
    if r < 0.33:
        return f"home/{user()}/projects/{proj}"
    if r < 0.48:
        return f"Users/{R.choice(MACUSERS)}/code/{proj}"
    if r < 0.75:
        return f"srv/{proj}"
    if r < 0.88 or proj not in WEB_PROJECTS:
        return f"opt/{proj}"
    return f"var/www/{proj}"


def dotnet_dir():
    proj = R.choice(["invoicer", "payroll"])
    name = {"invoicer": "Invoicer", "payroll": "Payroll"}[proj]
    return f"{proj_root(proj)}/{R.choice(['src/' + name + '.Api', name + '.Web', 'src/' + name + '.Api'])}"


def docs_dir():
    return R.choice([f"home/{user()}/Documents", f"Users/{R.choice(MACUSERS)}/Documents",
                     f"srv/files/shared/{R.choice(['Buchhaltung', 'Vertrieb', 'IT', 'Personal', 'Einkauf', 'Management'])}",
                     f"home/{user()}/Desktop"])


def host():
    return R.choice(HOSTS) + "." + INTERNAL


def ts(d=None):
    return (d or rdate()).strftime("%Y-%m-%d %H:%M:%S")


def iso(d=None):
    return (d or rdate()).strftime("%Y-%m-%dT%H:%M:%SZ")


def filler_log_lines(n, app="app", start=None):
    """Plain application log lines that contain no secrets."""
    t = start or rdate(2024, 2024)
    paths = ["/api/v1/orders", "/api/v1/shipments", "/health", "/api/v1/customers/{}",
             "/login", "/static/app.js", "/api/v1/tracking/{}", "/metrics", "/api/v1/invoices"]
    lvls = ["INFO"] * 8 + ["DEBUG", "WARN"]
    out = []
    for _ in range(n):
        t += dt.timedelta(milliseconds=R.randrange(5, 4000))
        p = R.choice(paths).replace("{}", str(R.randrange(1000, 99999)))
        k = R.randrange(5)
        if k == 0:
            msg = f"GET {p} status=200 dur={R.randrange(2, 900)}ms"
        elif k == 1:
            msg = f"worker-{R.randrange(1, 9)} processed job id={R.randrange(10**5, 10**6)} queue=default"
        elif k == 2:
            msg = f"cache hit ratio={R.random():.3f} entries={R.randrange(1000, 90000)}"
        elif k == 3:
            msg = f"POST {p} status={R.choice([200, 201, 204, 400, 404])} req_id={hexs(16)}"
        else:
            msg = f"db pool stats active={R.randrange(1, 20)} idle={R.randrange(0, 10)} wait={R.randrange(0, 5)}ms"
        out.append(f"{t.strftime('%Y-%m-%d %H:%M:%S')},{t.microsecond // 1000:03d} {R.choice(lvls):5s} [{app}] {msg}")
    return out


def access_log_lines(n, start=None):
    t = start or rdate(2024, 2024)
    out = []
    uas = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
           "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
           "curl/8.5.0", "Prometheus/2.51.0", "kube-probe/1.29"]
    for _ in range(n):
        t += dt.timedelta(seconds=R.randrange(0, 20))
        ip = f"{R.randrange(1, 223)}.{R.randrange(256)}.{R.randrange(256)}.{R.randrange(1, 255)}"
        p = R.choice(["/", "/tracking", f"/tracking/BF{digits(9)}", "/kontakt", "/favicon.ico",
                      "/wp-login.php", "/api/v1/status", "/assets/main.css", f"/sendung/{digits(10)}"])
        out.append(f'{ip} - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "GET {p} HTTP/1.1" '
                   f'{R.choice([200, 200, 200, 304, 404, 301])} {R.randrange(200, 90000)} "-" "{R.choice(uas)}"')
    return out


# ---------------------------------------------------------------- formats

def indent(text, n):
    pad = " " * n
    return "\n".join(pad + l if l else l for l in text.rstrip("\n").split("\n"))


def notebook(cells):
    """cells: list of (kind, source_text, outputs_text or None)."""
    out = []
    count = 1
    for kind, src, outp in cells:
        lines = src.split("\n")
        source = [l + "\n" for l in lines[:-1]] + [lines[-1]]
        if kind == "markdown":
            out.append({"cell_type": "markdown", "metadata": {}, "source": source})
            continue
        cell = {"cell_type": "code", "execution_count": count, "metadata": {},
                "outputs": [], "source": source}
        if outp is not None:
            ol = outp.split("\n")
            cell["outputs"] = [{"name": "stdout", "output_type": "stream",
                                "text": [l + "\n" for l in ol[:-1]] + [ol[-1]]}]
        out.append(cell)
        count += 1
    doc = {"cells": out,
           "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                       "name": "python3"},
                        "language_info": {"name": "python", "version": "3.11.6"}},
           "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def eml(frm, to, subject, body, date=None, cc=None, html=False):
    d = date or rdate(2021, 2025)
    tos = to if isinstance(to, str) else ", ".join(to)
    head = [f"Return-Path: <{frm.split('<')[-1].rstrip('>')}>",
            f"Received: from {R.choice(['mail01', 'mx1', 'smtp-out'])}.{DOMAIN} ([10.0.{R.randrange(1, 9)}.{R.randrange(2, 250)}])",
            f"\tby mail01.{DOMAIN} with ESMTPSA id {rs(12)}; {d.strftime('%a, %d %b %Y %H:%M:%S +0100')}",
            f"From: {frm}", f"To: {tos}"]
    if cc:
        head.append("Cc: " + (cc if isinstance(cc, str) else ",\n\t".join(cc)))
    head += [f"Subject: {subject}", f"Date: {d.strftime('%a, %d %b %Y %H:%M:%S +0100')}",
             f"Message-ID: <{hexs(16)}.{digits(6)}@{DOMAIN}>", "MIME-Version: 1.0",
             f"Content-Type: text/{'html' if html else 'plain'}; charset=UTF-8",
             "Content-Transfer-Encoding: 8bit", "", body.rstrip("\n"), ""]
    return "\n".join(head)


def staff():
    p = people(1, DOMAIN)[0]
    return p


def kv_ini(sections):
    out = []
    for name, items in sections:
        out.append(f"[{name}]")
        out += [f"{k} = {v}" for k, v in items]
        out.append("")
    return "\n".join(out)


def csv_line(fields, sep=","):
    out = []
    for f in fields:
        f = str(f)
        if sep in f or '"' in f or "\n" in f:
            f = '"' + f.replace('"', '""') + '"'
        out.append(f)
    return sep.join(out)


def pad_to(lines_fn, target_bytes):
    """Call lines_fn(n) -> list of lines until the text reaches target_bytes."""
    out = []
    size = 0
    while size < target_bytes:
        chunk = lines_fn(200)
        out += chunk
        size += sum(len(l) + 1 for l in chunk)
    return out


def tls_dir(site=None):
    site = site or R.choice(SITES)
    proj = R.choice(PROJECTS)
    return R.choice([f"var/www/{site}/ssl", f"srv/nginx/ssl", f"srv/{proj}/certs",
                     f"opt/{proj}/tls", f"srv/haproxy/certs", f"opt/gitlab/ssl",
                     f"srv/traefik/certs/{site}"])


def site_host():
    return R.choice(["www", "shop", "portal", "api", "git", "wiki", "mail", "vpn", "grafana",
                     "files", "kunden", "tracking"]) + "." + DOMAIN


# ================================================================ 1. keys

def gen_keys(C, kg, n_pos, n_neg):
    cat = "private_key"

    def ssh_file(kind, name, pem=False):
        u = R.choice(USERS + MACUSERS)
        base = f"home/{u}" if u in USERS else f"Users/{u}"
        comment = f"{u.split('.')[0]}@{R.choice(['laptop', 'thinkpad-' + digits(2), 'MacBook-Pro', 'ws' + digits(2)])}"
        priv, pub = kg.ssh(kind, comment, pem=pem)
        p = C.pick(lambda: f"{R.choice([base, 'root', 'home/deploy', 'home/backup'])}/.ssh/{name}")
        C.add(p, priv, 1, cat)

    def tls_key():
        d = tls_dir()
        host = site_host()
        key = R.choice([kg.rsa_pkcs8, kg.rsa_trad])(R.choice([2048, 4096]))
        p = C.pick(lambda: f"{tls_dir()}/{R.choice([host, host.split('.')[0], 'server', 'privkey'])}{R.choice(['.key', '.key', '-key.pem', '.pem'])}")
        C.add(p, key, 1, cat)

    def haproxy_pem():
        h = site_host()
        key, cert = kg.cert(h, [h])
        p = C.pick(lambda: f"srv/haproxy/certs/{R.choice([h, h.split('.')[0] + '-combined'])}.pem")
        C.add(p, cert + key, 1, cat)

    def ec_key():
        key = R.choice([kg.ec, kg.ec_pkcs8])(R.choice(["prime256v1", "secp384r1"]))
        p = C.pick(lambda: f"{R.choice(['opt', 'srv'])}/{R.choice(PROJECTS)}/{R.choice(['tls', 'certs', 'config/tls'])}/{R.choice(['server-key.pem', 'client.key', 'mqtt-client.key', 'es-node.key'])}")
        C.add(p, key, 1, cat)

    def k8s_secret():
        h = site_host()
        key, cert = kg.cert(h, [h])
        name = h.split(".")[0] + "-tls"
        ns = R.choice(["default", "prod", "shop", "monitoring", "ingress"])
        if R.random() < 0.5:
            body = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                    f"type: kubernetes.io/tls\ndata:\n  tls.crt: {b64(cert)}\n  tls.key: {b64(key)}\n")
        else:
            body = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                    f"  labels:\n    app.kubernetes.io/part-of: {R.choice(PROJECTS)}\ntype: kubernetes.io/tls\n"
                    f"stringData:\n  tls.crt: |\n{indent(cert, 4)}\n  tls.key: |\n{indent(key, 4)}\n")
        p = C.pick(lambda: f"{proj_root('infra')}/k8s/{ns}/{R.choice(['secret-' + name, name, 'tls-secret'])}.yaml")
        C.add(p, body, 1, cat)

    def ansible_vars():
        priv, pub = kg.ssh("ed25519", "ansible-deploy")
        grp = R.choice(["all", "webservers", "production", "appservers"])
        body = (f"---\n# deploy user for {grp}\ndeploy_user: deploy\ndeploy_home: /home/deploy\n"
                f"deploy_authorized_keys:\n  - \"{pub.strip()}\"\n"
                f"deploy_ssh_private_key: |\n{indent(priv, 2)}\n"
                f"ntp_servers:\n  - 0.de.pool.ntp.org\n  - 1.de.pool.ntp.org\n")
        p = C.pick(lambda: f"{proj_root(R.choice(['infra', 'ops-tools']))}/ansible/group_vars/{grp}/{R.choice(['main.yml', 'deploy.yml', 'vars.yml'])}")
        C.add(p, body, 1, cat)

    def python_paramiko():
        kind = R.choice(["ed25519", "rsa"])
        priv, _ = kg.ssh(kind, "backup@" + R.choice(HOSTS))
        klass = "Ed25519Key" if kind == "ed25519" else "RSAKey"
        h = host()
        body = f'''#!/usr/bin/env python3
"""Pull the nightly dumps from {h} to the NAS."""
import io
import os
import paramiko

HOST = "{h}"
USER = "backup"
REMOTE_DIR = "/var/backups/pg"
LOCAL_DIR = "/srv/nas/dumps"

KEY = """{priv.strip()}
"""


def main():
    pkey = paramiko.{klass}.from_private_key(io.StringIO(KEY))
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(HOST, username=USER, pkey=pkey)
    sftp = client.open_sftp()
    for name in sftp.listdir(REMOTE_DIR):
        if name.endswith(".dump"):
            sftp.get(f"{{REMOTE_DIR}}/{{name}}", os.path.join(LOCAL_DIR, name))
    client.close()


if __name__ == "__main__":
    main()
'''
        p = C.pick(lambda: f"{R.choice(['root/scripts', 'home/backup/bin', 'srv/ops-tools/scripts', f'home/{user()}/scripts'])}/{R.choice(['pull_dumps.py', 'fetch_backups.py', 'sync_nas.py'])}")
        C.add(p, body, 1, cat)

    def shell_heredoc():
        priv, pub = kg.ssh("ed25519", "deploy@ci")
        body = f'''#!/usr/bin/env bash
# bootstrap a fresh app server: deploy user + key for git pulls
set -euo pipefail

id deploy >/dev/null 2>&1 || useradd -m -s /bin/bash deploy
install -d -m 700 -o deploy -g deploy /home/deploy/.ssh

cat > /home/deploy/.ssh/id_ed25519 <<'EOF'
{priv.strip()}
EOF
echo '{pub.strip()}' > /home/deploy/.ssh/id_ed25519.pub
chmod 600 /home/deploy/.ssh/id_ed25519
chown -R deploy:deploy /home/deploy/.ssh

sudo -u deploy ssh-keyscan git.{DOMAIN} >> /home/deploy/.ssh/known_hosts
sudo -u deploy git clone git@git.{DOMAIN}:shop/{R.choice(PROJECTS)}.git /srv/app
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['infra', 'ops-tools']))}/{R.choice(['bootstrap.sh', 'scripts/provision.sh', 'provision/app-server.sh'])}")
        C.add(p, body, 1, cat)

    def powershell_key():
        priv, _ = kg.ssh(R.choice(["ed25519", "rsa"]), "svc-deploy")
        body = f'''# Setup-DeployKey.ps1 - installs the deploy key on build agents
$ErrorActionPreference = "Stop"
$sshDir = Join-Path $env:USERPROFILE ".ssh"
if (-not (Test-Path $sshDir)) {{ New-Item -ItemType Directory -Path $sshDir | Out-Null }}

$key = @"
{priv.strip()}
"@

$keyPath = Join-Path $sshDir "id_deploy"
Set-Content -Path $keyPath -Value $key -NoNewline -Encoding ascii
icacls $keyPath /inheritance:r /grant:r "$($env:USERNAME):(R)" | Out-Null
Add-Content -Path (Join-Path $sshDir "config") -Value "Host git.{DOMAIN}`n  IdentityFile $keyPath"
Write-Host "Deploy key installed to $keyPath"
'''
        p = C.pick(lambda: f"{R.choice(['Users/' + R.choice(MACUSERS) + '/code/ops-tools', 'srv/ops-tools', 'home/' + user() + '/projects/infra'])}/windows/{R.choice(['Setup-DeployKey.ps1', 'Install-BuildAgent.ps1'])}")
        C.add(p, body, 1, cat, crlf=True)

    def notebook_key():
        key = kg.rsa_trad(2048)
        cells = [("markdown", "# Snowflake export\nKey-pair auth for the reporting user.", None),
                 ("code", "import snowflake.connector\nfrom cryptography.hazmat.primitives import serialization", None),
                 ("code", 'private_key_pem = """' + key.strip() + '\n"""\n'
                  "p_key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)\n"
                  "pkb = p_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,\n"
                  "                          serialization.NoEncryption())", None),
                 ("code", f"conn = snowflake.connector.connect(user='REPORTING', account='{rs(7, UPPER)}-{rs(7, UPPER)}', private_key=pkb,\n"
                  "                                   warehouse='REPORTING_WH', database='ANALYTICS')\n"
                  "cur = conn.cursor()\ncur.execute('select count(*) from shipments')\nprint(cur.fetchone())",
                  f"({R.randrange(100000, 900000)},)")]
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS)])}/{R.choice(['notebooks', 'projects/analytics/notebooks', 'Documents/jupyter'])}/{R.choice(['snowflake_export.ipynb', 'weekly_kpis.ipynb', 'warehouse_check.ipynb'])}")
        C.add(p, notebook(cells), 1, cat)

    def markdown_note():
        priv, pub = kg.ssh(R.choice(["ed25519", "rsa"]), "notfall@" + R.choice(HOSTS))
        h = host()
        body = f"""# Notfallzugang {h}

Falls LDAP weg ist: als `rescue` einloggen (sudo ohne Passwort).

```
ssh -i ~/.ssh/rescue rescue@{h}
```

Key (nicht weitergeben!):

```
{priv.strip()}
```

Public key liegt in `/home/rescue/.ssh/authorized_keys`.
Zuletzt getestet: {rdate(2024, 2025).strftime('%d.%m.%Y')}
"""
        p = C.pick(lambda: f"{docs_dir()}/{R.choice(['notfallzugang.md', 'rescue-access.md', 'Server-Zugaenge.md', 'ops-notes.md'])}")
        C.add(p, body, 1, cat)

    def tfvars():
        priv, pub = kg.ssh("rsa", "terraform", pem=R.random() < 0.5, bits=2048)
        body = f'''project     = "{R.choice(PROJECTS)}"
region      = "{R.choice(['eu-central-1', 'fsn1', 'nbg1', 'europe-west3'])}"
server_type = "{R.choice(['cx31', 'cpx41', 't3.medium'])}"

ssh_public_key = "{pub.strip()}"

ssh_private_key = <<EOT
{priv.strip()}
EOT
'''
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['terraform', 'tf/prod', 'terraform/hetzner'])}/{R.choice(['terraform.tfvars', 'prod.auto.tfvars', 'secrets.auto.tfvars'])}")
        C.add(p, body, 1, cat)

    def github_app():
        key = kg.rsa_trad(2048)
        app = R.choice(["bf-release-bot", "bf-deploy-app", "renovate-bf"])
        if R.random() < 0.5:
            p = C.pick(lambda: f"{home()}/Downloads/{app}.{rdate(2023, 2025).strftime('%Y-%m-%d')}.private-key.pem")
            C.add(p, key, 1, cat)
        else:
            body = json.dumps({"app_id": R.randrange(100000, 999999), "installation_id": R.randrange(10**7, 10**8),
                               "webhook_secret": None, "private_key": key}, indent=2) + "\n"
            p = C.pick(lambda: f"{proj_root(R.choice(['ops-tools', 'support-bot']))}/config/{R.choice(['github-app.json', 'app.json'])}")
            C.add(p, body, 1, cat)

    def pgp_file():
        p0 = staff()
        priv, pub, fpr = pgp_rsa(kg, f"{p0.name} <{p0.email}>")
        tag = hexs(8).upper()  # seeded, so that paths stay stable across runs
        if R.random() < 0.5:
            p = C.pick(lambda: f"{home()}/{R.choice(['Documents/keys', 'Documents', 'backup/gpg'])}/{ascii_name(p0.first)}-{tag}-secret.asc")
        else:
            p = C.pick(lambda: f"root/.duply/{R.choice(['offsite', 'nas', 's3-backup'])}/gpgkey.{tag}.sec.asc")
        C.add(p, priv, 1, cat)

    def pgp_ci():
        priv, pub, fpr = pgp_rsa(kg, f"Brightfield Release Signing <release@{DOMAIN}>")
        body = (f"# repo signing for apt.{DOMAIN}\nsigning:\n  key_id: {fpr}\n  passphrase: \"\"\n"
                f"  private_key: |\n{indent(priv, 4)}\nrepo:\n  codename: bookworm\n  components: [main]\n")
        p = C.pick(lambda: f"{proj_root(R.choice(['infra', 'ops-tools']))}/{R.choice(['aptly', 'packaging', 'release'])}/{R.choice(['signing.yml', 'config.yml'])}")
        C.add(p, body, 1, cat)

    def ovpn():
        ca_key, ca = kg.cert("Brightfield VPN CA", days=3650)
        key, cert = kg.cert(f"{user()}-laptop")
        body = f"""client
dev tun
proto udp
remote vpn.{DOMAIN} 1194
resolv-retry infinite
nobind
persist-key
persist-tun
remote-cert-tls server
cipher AES-256-GCM
verb 3
<ca>
{ca.strip()}
</ca>
<cert>
{cert.strip()}
</cert>
<key>
{key.strip()}
</key>
"""
        p = C.pick(lambda: f"{home()}/{R.choice(['Downloads', 'Documents', 'vpn'])}/{R.choice(['brightfield', 'bf-office', 'bf-vpn'])}{R.choice(['', '-' + user()])}.ovpn")
        C.add(p, body, 1, cat)

    def go_const():
        key = kg.ed25519() if R.random() < 0.5 else kg.ec_pkcs8()
        body = f'''package license

import (
\t"crypto"
\t"crypto/x509"
\t"encoding/pem"
)

// signingKey signs offline license files for customer installations.
const signingKey = `{key.strip()}
`

func loadSigner() (crypto.Signer, error) {{
\tblock, _ := pem.Decode([]byte(signingKey))
\tk, err := x509.ParsePKCS8PrivateKey(block.Bytes)
\tif err != nil {{
\t\treturn nil, err
\t}}
\treturn k.(crypto.Signer), nil
}}
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'tracking-service', 'customer-portal']))}/internal/license/{R.choice(['signer.go', 'keys.go'])}")
        C.add(p, body, 1, cat)

    def email_key():
        priv, _ = kg.ssh(R.choice(["ed25519", "rsa"]), "sftp-partner")
        a, b = staff(), staff()
        body = f"""Hallo {b.first},

anbei der private Key für den SFTP-Upload beim Spediteur (User: bf_upload).
Bitte nach ~/.ssh/partner_sftp legen und chmod 600.

{priv.strip()}

Host ist sftp.{R.choice(BIZMAIL)}, Port 2222.

Gruß
{a.first}
"""
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['INBOX', 'Archiv', 'IT'])}/{rdate(2022, 2025).strftime('%Y%m%d')}-sftp-key.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"{b.name} <{b.email}>", "SFTP Key Spedition", body), 1, cat)

    def aws_pem():
        key = kg.rsa_trad(2048)
        p = C.pick(lambda: f"{home()}/{R.choice(['Downloads', '.ssh', 'aws'])}/{R.choice(['bf-prod', 'ec2-frankfurt', 'bastion', 'jenkins-eu'])}{R.choice(['', '-key', '-2023'])}.pem")
        C.add(p, key, 1, cat)

    shapes = [lambda: ssh_file("ed25519", "id_ed25519"), lambda: ssh_file("rsa", "id_rsa"),
              lambda: ssh_file("ecdsa", "id_ecdsa"), lambda: ssh_file("rsa", "id_rsa", pem=True),
              tls_key, haproxy_pem, ec_key, k8s_secret, ansible_vars, python_paramiko,
              shell_heredoc, powershell_key, notebook_key, markdown_note, tfvars, github_app,
              pgp_file, ovpn, go_const, email_key, aws_pem, pgp_ci,
              lambda: ssh_file("ed25519", R.choice(["id_ed25519_github", "deploy_key", "gitlab_ed25519"])),
              tls_key, k8s_secret, pgp_file, lambda: ssh_file("ecdsa", "id_ecdsa", pem=True)]
    for i in range(n_pos):
        shapes[i % len(shapes)]()

    # ------------------------------------------------------------ look-alikes
    def pub_file():
        u = R.choice(USERS)
        _, pub = kg.ssh(R.choice(["ed25519", "rsa", "ecdsa"]), f"{u}@laptop")
        p = C.pick(lambda: f"home/{u}/.ssh/{R.choice(['id_ed25519.pub', 'id_rsa.pub', 'id_ecdsa.pub', 'deploy.pub'])}")
        C.add(p, pub, 0, cat)

    def authorized_keys():
        lines = []
        for _ in range(R.randrange(2, 6)):
            u = R.choice(USERS)
            _, pub = kg.ssh(R.choice(["ed25519", "ed25519", "rsa"]), f"{u}@{R.choice(['laptop', 'ws', 'mbp'])}")
            pre = R.choice(["", "", 'from="10.0.0.0/8" ', 'no-port-forwarding,no-agent-forwarding '])
            lines.append(pre + pub.strip())
        p = C.pick(lambda: f"{R.choice(['root', 'home/deploy', 'home/' + user(), 'home/backup'])}/.ssh/authorized_keys")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def known_hosts():
        lines = []
        for _ in range(R.randrange(4, 12)):
            _, pub = kg.ssh("ed25519", "x")
            k = " ".join(pub.split()[:2])
            if R.random() < 0.5:
                lines.append(f"|1|{b64(rbytes(20))}|{b64(rbytes(20))} {k}")
            else:
                lines.append(f"{R.choice(HOSTS)}.{INTERNAL},10.0.{R.randrange(1, 9)}.{R.randrange(2, 250)} {k}")
        p = C.pick(lambda: f"{home()}/.ssh/known_hosts")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def ssh_config():
        blocks = []
        for h in R.sample(HOSTS, 4):
            blocks.append(f"Host {h}\n  HostName {h}.{INTERNAL}\n  User {R.choice(['deploy', 'admin', user()])}\n"
                          f"  IdentityFile ~/.ssh/{R.choice(['id_ed25519', 'id_rsa', 'deploy_key'])}\n  IdentitiesOnly yes\n")
        blocks.append("Host *\n  ServerAliveInterval 30\n  AddKeysToAgent yes\n")
        p = C.pick(lambda: f"{home()}/.ssh/config")
        C.add(p, "\n".join(blocks), 0, cat)

    def crt():
        h = site_host()
        _, cert = kg.cert(h, [h, "www." + h])
        p = C.pick(lambda: f"{tls_dir()}/{R.choice([h, 'server', 'cert', h.split('.')[0]])}{R.choice(['.crt', '.pem', '-cert.pem'])}")
        C.add(p, cert, 0, cat)

    def fullchain():
        h = site_host()
        _, c1 = kg.cert(h, [h])
        _, c2 = kg.cert("R11", org="Let's Encrypt")
        p = C.pick(lambda: f"{tls_dir()}/{R.choice(['fullchain.pem', 'chain.pem', h + '.chained.crt'])}")
        C.add(p, c1 + c2, 0, cat)

    def csr():
        h = site_host()
        _, c = kg.csr(h)
        p = C.pick(lambda: f"{tls_dir()}/{h}.csr")
        C.add(p, c, 0, cat)

    def pubkey_pem():
        key = R.choice([lambda: kg.rsa_pkcs8(2048), kg.ed25519, kg.ec_pkcs8])()
        pub = kg.pub_of(key)
        p = C.pick(lambda: f"{proj_root()}/{R.choice(['keys', 'config/keys', 'certs'])}/{R.choice(['jwt_public.pem', 'public.pem', 'license-pub.pem', 'webhook-verify.pub.pem'])}")
        C.add(p, pub, 0, cat)

    def pgp_pub():
        p0 = staff()
        _, pub, fpr = pgp_rsa(kg, f"{p0.name} <{p0.email}>")
        tag = hexs(8).upper()
        p = C.pick(lambda: R.choice([f"{home()}/Documents/keys/{ascii_name(p0.first)}-{tag}.asc",
                                     f"{proj_root()}/KEYS.asc", f"var/www/{R.choice(SITES)}/.well-known/pgp-key.txt"]))
        C.add(p, pub, 0, cat)

    def ssh_cert():
        u = user()
        cert, pub, ca = kg.ssh_cert(u, f"{u},deploy")
        if R.random() < 0.5:
            p = C.pick(lambda: f"home/{u}/.ssh/id_ed25519-cert.pub")
            C.add(p, cert, 0, cat)
        else:
            p = C.pick(lambda: f"{proj_root('infra')}/ssh-ca/{R.choice(['user_ca.pub', 'trusted_user_ca_keys'])}")
            C.add(p, ca, 0, cat)

    def dhparam():
        p = C.pick(lambda: f"{tls_dir()}/{R.choice(['dhparam.pem', 'dhparams.pem', 'ffdhe2048.pem'])}")
        C.add(p, kg.dhparam(), 0, cat)

    def k8s_tpl():
        name = R.choice(PROJECTS)
        body = f"""apiVersion: v1
kind: Secret
metadata:
  name: {{{{ include "{name}.fullname" . }}}}-tls
type: kubernetes.io/tls
data:
  tls.crt: {{{{ .Values.tls.certificate | b64enc | quote }}}}
  tls.key: {{{{ .Values.tls.key | b64enc | quote }}}}
"""
        p = C.pick(lambda: f"{proj_root(name)}/{R.choice(['chart', 'helm/' + name])}/templates/{R.choice(['secret-tls.yaml', 'tls-secret.yaml'])}")
        C.add(p, body, 0, cat)

    def nginx_conf():
        h = site_host()
        body = f"""server {{
    listen 443 ssl http2;
    server_name {h};

    ssl_certificate     /srv/nginx/ssl/{h}.crt;
    ssl_certificate_key /srv/nginx/ssl/{h}.key;
    ssl_dhparam         /srv/nginx/ssl/dhparam.pem;
    ssl_protocols TLSv1.2 TLSv1.3;

    location / {{
        proxy_pass http://127.0.0.1:{R.choice([3000, 8000, 8080, 9000])};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
}}
"""
        p = C.pick(lambda: f"srv/nginx/sites/{h}.conf")
        C.add(p, body, 0, cat)

    def ansible_lookup():
        grp = R.choice(["all", "webservers", "production", "appservers", "dbservers"])
        body = f"""---
deploy_user: deploy
deploy_ssh_private_key: "{{{{ lookup('file', '~/.ssh/deploy_ed25519') }}}}"
deploy_ssh_public_key: "{{{{ lookup('file', '~/.ssh/deploy_ed25519.pub') }}}}"
tls_key_path: /srv/nginx/ssl/{site_host()}.key
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['infra', 'ops-tools']))}/ansible/group_vars/{grp}/{R.choice(['main.yml', 'deploy.yml', 'vars.yml'])}")
        C.add(p, body, 0, cat)

    def readme_keys():
        body = """# Deploy keys

Generate a key per environment and never commit it:

```sh
ssh-keygen -t ed25519 -C "deploy@<env>" -f ~/.ssh/deploy_<env> -N ''
```

The private key file looks like this (shortened):

```
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAA...
...
-----END OPENSSH PRIVATE KEY-----
```

Add only the `.pub` file to the repository's deploy keys. The private key
goes into the CI variable `SSH_PRIVATE_KEY` (type: file, protected, masked).
"""
        p = C.pick(lambda: f"{proj_root()}/docs/{R.choice(['deploy-keys.md', 'DEPLOYMENT.md', 'ssh.md'])}")
        C.add(p, body, 0, cat)

    def python_keypath():
        body = f'''import os
import paramiko

HOST = "{host()}"


def connect():
    key_path = os.environ.get("DEPLOY_KEY_PATH", os.path.expanduser("~/.ssh/id_ed25519"))
    pkey = paramiko.Ed25519Key.from_private_key_file(key_path)
    client = paramiko.SSHClient()
    client.load_system_host_keys()
    client.connect(HOST, username="deploy", pkey=pkey)
    return client
'''
        p = C.pick(lambda: f"{proj_root('ops-tools')}/{R.choice(['scripts', 'deploy', 'lib'])}/{R.choice(['ssh_client.py', 'remote.py', 'connect.py'])}")
        C.add(p, body, 0, cat)

    def ps_gen():
        body = f"""# New-DeployKey.ps1 - creates a key pair and prints the public half
param([string]$Name = "deploy")
$path = Join-Path $env:USERPROFILE ".ssh\\$Name"
if (Test-Path $path) {{ Write-Error "$path exists"; exit 1 }}
ssh-keygen -t ed25519 -C "$Name@$env:COMPUTERNAME" -f $path -N '""'
Get-Content "$path.pub" | Set-Clipboard
Write-Host "Public key copied. Add it at https://git.{DOMAIN}/-/user_settings/ssh_keys"
"""
        p = C.pick(lambda: f"{R.choice(['srv/ops-tools', 'home/' + user() + '/projects/infra', 'Users/' + R.choice(MACUSERS) + '/code/ops-tools'])}/windows/{R.choice(['New-DeployKey.ps1', 'New-SshKey.ps1'])}")
        C.add(p, body, 0, cat, crlf=True)

    def nb_certcheck():
        h = site_host()
        _, cert = kg.cert(h, [h])
        text = kg.cert_text(cert)
        cells = [("markdown", f"# Zertifikatsprüfung {h}", None),
                 ("code", f"import subprocess\nprint(subprocess.run(['openssl', 'x509', '-noout', '-text', '-in', '/srv/nginx/ssl/{h}.crt'], capture_output=True, text=True).stdout)", text.rstrip("\n"))]
        p = C.pick(lambda: f"{home()}/notebooks/{R.choice(['cert_check.ipynb', 'tls_audit.ipynb'])}")
        C.add(p, notebook(cells), 0, cat)

    def ovpn_nokey():
        _, ca = kg.cert("Brightfield VPN CA", days=3650)
        body = f"""client
dev tun
proto udp
remote vpn.{DOMAIN} 1194
nobind
persist-key
persist-tun
remote-cert-tls server
cipher AES-256-GCM
auth-user-pass
pkcs12 {user()}.p12
<ca>
{ca.strip()}
</ca>
"""
        p = C.pick(lambda: f"{home()}/{R.choice(['Downloads', 'Documents', 'vpn'])}/{R.choice(['brightfield', 'bf-office', 'bf-vpn'])}{R.choice(['', '-' + user()])}.ovpn")
        C.add(p, body, 0, cat)

    def saml_meta():
        _, cert = kg.cert("idp." + DOMAIN)
        der_b64 = "".join(cert.strip().splitlines()[1:-1])
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.{DOMAIN}/realms/bf">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data>
          <ds:X509Certificate>{der_b64}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.{DOMAIN}/realms/bf/protocol/saml"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['intranet', 'hr-portal', 'customer-portal']))}/{R.choice(['config/saml', 'saml'])}/{R.choice(['idp-metadata.xml', 'metadata.xml'])}")
        C.add(p, body, 0, cat)

    def jwks():
        keys = []
        for _ in range(2):
            _, n, e, *_ = _der_ints(pem_der(kg.rsa_trad(2048)))
            keys.append({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": hexs(16),
                         "n": b64url_nopad(n.to_bytes((n.bit_length() + 7) // 8, "big")), "e": "AQAB"})
        p = C.pick(lambda: f"{R.choice(['var/www/' + R.choice(SITES) + '/.well-known', proj_root() + '/static', proj_root() + '/config'])}/jwks.json")
        C.add(p, json.dumps({"keys": keys}, indent=2) + "\n", 0, cat)

    def tf_keypair():
        _, pub = kg.ssh("ed25519", "terraform")
        body = f"""resource "aws_key_pair" "deploy" {{
  key_name   = "deploy-{R.choice(['prod', 'staging'])}"
  public_key = "{pub.strip()}"
}}

resource "hcloud_ssh_key" "ops" {{
  name       = "ops"
  public_key = file("~/.ssh/id_ed25519.pub")
}}
"""
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['terraform', 'tf/prod', 'terraform/hetzner'])}/{R.choice(['keys.tf', 'ssh.tf', 'main.tf'])}")
        C.add(p, body, 0, cat)

    def gha_secret_ref():
        body = f"""name: deploy
on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Install SSH key
        run: |
          install -m 700 -d ~/.ssh
          echo "${{{{ secrets.SSH_PRIVATE_KEY }}}}" > ~/.ssh/id_ed25519
          chmod 600 ~/.ssh/id_ed25519
          ssh-keyscan {host()} >> ~/.ssh/known_hosts
      - run: rsync -az --delete ./public/ deploy@{host()}:/var/www/site/
"""
        p = C.pick(lambda: f"{proj_root()}/.github/workflows/{R.choice(['deploy.yml', 'release.yml', 'cd.yml'])}")
        C.add(p, body, 0, cat)

    def cloud_init():
        _, p1 = kg.ssh("ed25519", "mbauer@laptop")
        _, p2 = kg.ssh("rsa", "ci@jenkins", bits=2048)
        body = f"""#cloud-config
hostname: {R.choice(HOSTS)}
users:
  - name: deploy
    groups: [sudo, docker]
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    ssh_authorized_keys:
      - {p1.strip()}
      - {p2.strip()}
package_update: true
packages: [docker.io, fail2ban, unattended-upgrades]
"""
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['cloud-init', 'terraform/templates'])}/{R.choice(['user-data.yaml', 'app-server.yaml', 'base.yml'])}")
        C.add(p, body, 0, cat)

    def go_pubkey():
        pub = kg.pub_of(kg.ed25519())
        body = f'''package license

import (
\t"crypto/ed25519"
\t"crypto/x509"
\t"encoding/pem"
)

// verifyKey checks signatures of license files; the private half lives in the HSM.
const verifyKey = `{pub.strip()}
`

func publicKey() ed25519.PublicKey {{
\tblock, _ := pem.Decode([]byte(verifyKey))
\tk, _ := x509.ParsePKIXPublicKey(block.Bytes)
\treturn k.(ed25519.PublicKey)
}}
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'tracking-service', 'customer-portal']))}/internal/license/{R.choice(['verify.go', 'keys.go'])}")
        C.add(p, body, 0, cat)

    def fingerprints():
        lines = []
        for u in R.sample(USERS, 5):
            lines.append(f"256 SHA256:{b64(rbytes(32)).rstrip('=')} {u}@laptop (ED25519)")
        lines.append("")
        p0 = staff()
        lines += [f"pub   rsa3072 {rdate(2020, 2024).strftime('%Y-%m-%d')} [SC] [expires: 2026-12-31]",
                  f"      {hexs(40).upper()}", f"uid           [ultimate] {p0.name} <{p0.email}>",
                  f"sub   rsa3072 {rdate(2020, 2024).strftime('%Y-%m-%d')} [E]"]
        p = C.pick(lambda: f"{docs_dir()}/{R.choice(['key-fingerprints.txt', 'ssh-keys-inventory.txt', 'fingerprints.txt'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def email_pub():
        a, b = staff(), staff()
        _, pub = kg.ssh("ed25519", f"{ascii_name(a.first)}@laptop")
        body = f"Hi {b.first},\n\nkannst du bitte meinen Key auf {host()} eintragen?\n\n{pub.strip()}\n\nDanke!\n{a.first}\n"
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['INBOX', 'Archiv', 'IT'])}/{rdate(2022, 2025).strftime('%Y%m%d')}-ssh-key.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"{b.name} <{b.email}>", "Bitte SSH-Key eintragen", body), 0, cat)

    def ca_bundle():
        certs = "".join(kg.cert(f"Brightfield {n} CA", org=COMPANY, days=3650)[1] for n in ["Root", "Issuing", "Device"])
        p = C.pick(lambda: f"{proj_root()}/{R.choice(['certs', 'config/tls', 'docker'])}/{R.choice(['ca-bundle.pem', 'internal-ca.crt', 'ca-chain.pem'])}")
        C.add(p, certs, 0, cat)

    def keystore_props():
        body = f"""# TLS for the embedded Tomcat
server.port=8443
server.ssl.enabled=true
server.ssl.key-store=/opt/{R.choice(PROJECTS)}/tls/keystore.p12
server.ssl.key-store-type=PKCS12
server.ssl.key-store-password=${{KEYSTORE_PASSWORD}}
server.ssl.key-alias=tomcat
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'warehouse-app', 'payroll']))}/src/main/resources/{R.choice(['application-tls.properties', 'application-prod.properties'])}")
        C.add(p, body, 0, cat)

    def redacted_note():
        h = host()
        body = f"""# Postmortem: deploy key in public gist ({rdate(2024, 2025).strftime('%Y-%m-%d')})

Summary: an engineer pasted the output of `cat ~/.ssh/deploy_key` into a public gist.
The gist looked like this (content removed):

    -----BEGIN OPENSSH PRIVATE KEY-----
    [REDACTED - key revoked, see ticket OPS-{R.randrange(100, 999)}]
    -----END OPENSSH PRIVATE KEY-----

Actions: key removed from authorized_keys on {h}, new key generated, gist deleted,
GitHub secret scanning alert closed.
"""
        p = C.pick(lambda: f"srv/files/shared/IT/postmortems/{rdate(2024, 2025).strftime('%Y-%m')}-deploy-key-leak.md")
        C.add(p, body, 0, cat)

    neg = [pub_file, authorized_keys, known_hosts, ssh_config, crt, fullchain, csr, pubkey_pem,
           pgp_pub, ssh_cert, dhparam, k8s_tpl, nginx_conf, ansible_lookup, readme_keys,
           python_keypath, ps_gen, nb_certcheck, ovpn_nokey, saml_meta, jwks, tf_keypair,
           gha_secret_ref, cloud_init, go_pubkey, fingerprints, email_pub, ca_bundle,
           keystore_props, redacted_note, pub_file, crt]
    for i in range(n_neg):
        neg[i % len(neg)]()


# ================================================================ 2. cloud / service tokens

def gen_tokens(C, kg, n_pos, n_neg):
    cat = "cloud_token"

    def aws_credentials():
        lines = [f"[default]\naws_access_key_id = {aws_key_id()}\naws_secret_access_key = {aws_secret()}\n"]
        if R.random() < 0.6:
            lines.append(f"[{R.choice(['prod', 'bf-prod', 'backup', 'terraform'])}]\naws_access_key_id = {aws_key_id()}\n"
                         f"aws_secret_access_key = {aws_secret()}\nregion = eu-central-1\n")
        p = C.pick(lambda: f"{R.choice(['root', 'home/' + user(), 'Users/' + R.choice(MACUSERS), 'home/backup', 'home/jenkins'])}/.aws/credentials")
        C.add(p, "\n".join(lines), 1, cat)

    def boto3_script():
        bucket = R.choice(["bf-backups-eu", "brightfield-invoices", "bf-exports", "bf-media-prod"])
        body = f'''#!/usr/bin/env python3
import datetime
import sys

import boto3

s3 = boto3.client(
    "s3",
    region_name="eu-central-1",
    aws_access_key_id="{aws_key_id()}",
    aws_secret_access_key="{aws_secret()}",
)

BUCKET = "{bucket}"


def upload(path):
    key = f"{{datetime.date.today():%Y/%m/%d}}/{{path.rsplit('/', 1)[-1]}}"
    s3.upload_file(path, BUCKET, key)
    print("uploaded", key)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        upload(p)
'''
        p = C.pick(lambda: f"{R.choice(['root/scripts', 'srv/ops-tools/scripts', proj_root() + '/scripts', 'home/backup/bin'])}/{R.choice(['s3_upload.py', 'push_to_s3.py', 'archive_invoices.py'])}")
        C.add(p, body, 1, cat)

    def tf_provider():
        body = f'''terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }}
  }}
}}

provider "aws" {{
  region     = "eu-central-1"
  access_key = "{aws_key_id()}"
  secret_key = "{aws_secret()}"
}}

resource "aws_s3_bucket" "exports" {{
  bucket = "bf-exports-{R.choice(['prod', 'eu'])}"
}}
'''
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['terraform', 'tf/aws', 'terraform/aws'])}/{R.choice(['main.tf', 'provider.tf'])}")
        C.add(p, body, 1, cat)

    def shell_exports():
        body = f'''#!/bin/sh
# nightly: dump db, push to S3 (runs from cron on {R.choice(HOSTS)})
export AWS_ACCESS_KEY_ID={aws_key_id()}
export AWS_SECRET_ACCESS_KEY={aws_secret()}
export AWS_DEFAULT_REGION=eu-central-1

STAMP=$(date +%F)
pg_dump -Fc -h localhost -U postgres shop > /var/backups/shop-$STAMP.dump
aws s3 cp /var/backups/shop-$STAMP.dump s3://bf-backups-eu/db/ --storage-class STANDARD_IA
find /var/backups -name 'shop-*.dump' -mtime +7 -delete
'''
        p = C.pick(lambda: f"{R.choice(['root/bin', 'root/scripts', 'home/backup/bin', 'srv/backup/scripts'])}/{R.choice(['db-backup.sh', 'nightly-backup.sh', 'backup_s3.sh'])}")
        C.add(p, body, 1, cat)

    def gcp_sa():
        key = kg.rsa_pkcs8(2048)
        proj = R.choice(["bf-analytics", "brightfield-prod", "bf-maps-" + digits(6), "tracking-" + digits(6)])
        sa = R.choice(["bigquery-export", "firebase-adminsdk-" + rs(5, LOWER + DIGITS), "looker", "gcs-backup"])
        doc = {"type": "service_account", "project_id": proj, "private_key_id": hexs(40),
               "private_key": key, "client_email": f"{sa}@{proj}.iam.gserviceaccount.com",
               "client_id": digits(21), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
               "token_uri": "https://oauth2.googleapis.com/token",
               "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
               "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{sa}%40{proj}.iam.gserviceaccount.com",
               "universe_domain": "googleapis.com"}
        p = C.pick(lambda: R.choice([f"{home()}/Downloads/{proj}-{hexs(12)}.json",
                                     f"{proj_root(R.choice(['analytics', 'data-pipeline']))}/{R.choice(['credentials', 'config', 'secrets'])}/{R.choice(['service-account.json', 'gcp-key.json', sa + '.json'])}"]))
        C.add(p, json.dumps(doc, indent=2) + "\n", 1, cat)

    def gcp_apikey():
        body = f'''import requests

GOOGLE_API_KEY = "{gcp_api_key()}"


def geocode(address: str):
    r = requests.get(
        "https://maps.googleapis.com/maps/api/geocode/json",
        params={{"address": address, "key": GOOGLE_API_KEY, "region": "de"}},
        timeout=10,
    )
    r.raise_for_status()
    loc = r.json()["results"][0]["geometry"]["location"]
    return loc["lat"], loc["lng"]
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['tracking-service', 'warehouse-app', 'data-pipeline']))}/{R.choice(['app', 'src', 'tracking'])}/{R.choice(['geocode.py', 'maps.py', 'geo.py'])}")
        C.add(p, body, 1, cat)

    def azure_appsettings():
        acct = R.choice(["bfdocs", "bfinvoices", "brightfieldprod", "bfarchive"]) + digits(2)
        doc = {"Logging": {"LogLevel": {"Default": "Information", "Microsoft.AspNetCore": "Warning"}},
               "AllowedHosts": "*",
               "ConnectionStrings": {
                   "Blob": f"DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={azure_storage_key()};EndpointSuffix=core.windows.net",
                   "Default": f"Server=tcp:{R.choice(['bf-sql', 'bfprod'])}.database.windows.net,1433;Initial Catalog=Invoices;User ID=bfadmin;Password={human_password()};Encrypt=True;"},
               "Invoices": {"Container": "pdf", "RetentionDays": 3650}}
        p = C.pick(lambda: dotnet_dir() + f"/{R.choice(['appsettings.json', 'appsettings.Production.json'])}")
        C.add(p, json.dumps(doc, indent=2) + "\n", 1, cat, crlf=True)

    def azure_ps():
        body = f'''# Sync-Mailboxes.ps1 - runs as scheduled task on {R.choice(HOSTS).upper()}
$tenantId = "{ruuid()}"
$appId    = "{ruuid()}"
$secret   = "{azure_client_secret()}"

$cred = New-Object System.Management.Automation.PSCredential($appId, (ConvertTo-SecureString $secret -AsPlainText -Force))
Connect-AzAccount -ServicePrincipal -Credential $cred -Tenant $tenantId | Out-Null
Connect-MgGraph -TenantId $tenantId -ClientSecretCredential $cred -NoWelcome

Get-MgUser -All -Filter "accountEnabled eq true" | Select-Object DisplayName, Mail |
    Export-Csv -Path "D:\\Reports\\users.csv" -NoTypeInformation -Encoding UTF8
'''
        p = C.pick(lambda: f"{R.choice(['srv/ops-tools/windows', 'home/' + user() + '/projects/infra/windows', 'Users/' + R.choice(MACUSERS) + '/code/ops-tools/ps'])}/{R.choice(['Sync-Mailboxes.ps1', 'Export-Users.ps1', 'Connect-Tenant.ps1'])}")
        C.add(p, body, 1, cat, crlf=True)

    def azure_sas():
        acct = R.choice(["bfbackup", "bfarchive", "bfcold"]) + digits(2)
        sig = b64(rbytes(32)).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        body = f'''#!/bin/bash
# offsite copy of the borg repo to Azure cold storage
set -e
SAS='sv=2022-11-02&ss=b&srt=co&sp=rwlac&se=2026-12-31T23:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig={sig}'
azcopy sync /srv/borg "https://{acct}.blob.core.windows.net/borg?$SAS" --delete-destination=true
'''
        p = C.pick(lambda: f"{R.choice(['root/bin', 'srv/backup/scripts', 'home/backup/bin'])}/{R.choice(['offsite-azure.sh', 'azcopy-sync.sh'])}")
        C.add(p, body, 1, cat)

    def git_credentials():
        u = user()
        lines = [f"https://{u}:{gh_token('ghp_')}@github.com"]
        if R.random() < 0.5:
            lines.append(f"https://oauth2:{glpat()}@git.{DOMAIN}")
        p = C.pick(lambda: f"{R.choice(['home/' + u, 'root', 'home/jenkins', 'Users/' + R.choice(MACUSERS)])}/.git-credentials")
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def gh_fine():
        body = f'''.PHONY: release
GITHUB_TOKEN ?= {gh_fine_grained()}
REPO := brightfield/{R.choice(PROJECTS)}
VERSION := $(shell git describe --tags --abbrev=0)

release:
\tgoreleaser release --clean
\tcurl -sf -H "Authorization: Bearer $(GITHUB_TOKEN)" \\
\t  -X POST https://api.github.com/repos/$(REPO)/dispatches \\
\t  -d '{{"event_type":"deploy","client_payload":{{"version":"$(VERSION)"}}}}'
'''
        p = C.pick(lambda: f"{proj_root()}/Makefile")
        C.add(p, body, 1, cat)

    def python_gitlab():
        body = f"""[global]
default = bf
ssl_verify = true
timeout = 10

[bf]
url = https://git.{DOMAIN}
private_token = {glpat()}
api_version = 4
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS), 'root'])}/.python-gitlab.cfg")
        C.add(p, body, 1, cat)

    def runner_toml():
        body = f"""concurrent = 4
check_interval = 0

[session_server]
  session_timeout = 1800

[[runners]]
  name = "{R.choice(HOSTS)}-docker"
  url = "https://git.{DOMAIN}"
  id = {R.randrange(10, 400)}
  token = "glrt-{rs(20, B64URL)}"
  token_obtained_at = {iso()}
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    tls_verify = false
    image = "alpine:3.19"
    privileged = false
    volumes = ["/cache"]
    shm_size = 0
"""
        p = C.pick(lambda: f"srv/gitlab-runner/{R.choice(['config', 'runner-' + digits(2), 'docker'])}/config.toml")
        C.add(p, body, 1, cat)

    def slack_node():
        body = f"""const {{ App }} = require('@slack/bolt');

const app = new App({{
  token: '{slack_bot()}',
  signingSecret: '{hexs(32)}',
}});

app.command('/sendung', async ({{ command, ack, respond }}) => {{
  await ack();
  const status = await lookupShipment(command.text.trim());
  await respond(`Sendung ${{command.text}}: ${{status}}`);
}});

(async () => {{
  await app.start(process.env.PORT || 3000);
  console.log('bot running');
}})();
"""
        p = C.pick(lambda: f"{proj_root('support-bot')}/{R.choice(['index.js', 'src/app.js', 'bot.js'])}")
        C.add(p, body, 1, cat)

    def slack_webhook_sh():
        body = f'''#!/bin/bash
# disk usage alert -> #ops
WEBHOOK="{slack_webhook()}"
USAGE=$(df -P / | awk 'NR==2 {{print $5}}' | tr -d %)
if [ "$USAGE" -gt 85 ]; then
  curl -s -X POST -H 'Content-type: application/json' \\
    --data "{{\\"text\\":\\"$(hostname): / is at ${{USAGE}}%\\"}}" "$WEBHOOK"
fi
'''
        p = C.pick(lambda: f"{R.choice(['root/bin', 'srv/monitoring/scripts', 'home/' + user() + '/bin'])}/{R.choice(['disk-alert.sh', 'check_disk.sh', 'notify-slack.sh'])}")
        C.add(p, body, 1, cat)

    def alertmanager():
        body = f"""global:
  resolve_timeout: 5m
  slack_api_url: '{slack_webhook()}'

route:
  receiver: ops-slack
  group_by: [alertname, instance]
  group_wait: 30s
  repeat_interval: 4h

receivers:
  - name: ops-slack
    slack_configs:
      - channel: '#ops-alerts'
        send_resolved: true
        title: '{{{{ .CommonLabels.alertname }}}}'
"""
        p = C.pick(lambda: f"srv/monitoring/{R.choice(['alertmanager', 'prometheus/alertmanager', 'config'])}/alertmanager.yml")
        C.add(p, body, 1, cat)

    def stripe_php():
        body = f"""<?php

return [
    'mailgun' => [
        'domain' => env('MAILGUN_DOMAIN'),
        'secret' => env('MAILGUN_SECRET'),
    ],

    'stripe' => [
        'model' => App\\Models\\Customer::class,
        'key' => 'pk_live_{rs(24)}',
        'secret' => '{stripe_key('sk_live_')}',
        'webhook' => [
            'secret' => 'whsec_{rs(32)}',
            'tolerance' => 300,
        ],
    ],
];
"""
        p = C.pick(lambda: f"{R.choice(['var/www/' + R.choice(['shop', 'kundenportal', 'shop.' + DOMAIN]), proj_root('shopfront')])}/config/services.php")
        C.add(p, body, 1, cat)

    def stripe_ruby():
        body = f"""# config/initializers/stripe.rb
Rails.configuration.stripe = {{
  publishable_key: ENV["STRIPE_PUBLISHABLE_KEY"],
  secret_key: "{stripe_key('rk_live_')}"
}}

Stripe.api_key = Rails.configuration.stripe[:secret_key]
Stripe.api_version = "2024-04-10"
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'shopfront', 'billing-api']))}/config/initializers/stripe.rb")
        C.add(p, body, 1, cat)

    def stripe_go():
        body = f'''package billing

import (
\t"net/http"

\t"github.com/stripe/stripe-go/v76"
\t"github.com/stripe/stripe-go/v76/webhook"
)

const endpointSecret = "whsec_{rs(32)}"

func init() {{
\tstripe.Key = "{stripe_key('sk_live_')}"
}}

func HandleWebhook(w http.ResponseWriter, r *http.Request, payload []byte) {{
\tevent, err := webhook.ConstructEvent(payload, r.Header.Get("Stripe-Signature"), endpointSecret)
\tif err != nil {{
\t\thttp.Error(w, err.Error(), http.StatusBadRequest)
\t\treturn
\t}}
\t_ = event
\tw.WriteHeader(http.StatusOK)
}}
'''
        p = C.pick(lambda: f"{proj_root('billing-api')}/internal/billing/{R.choice(['stripe.go', 'webhook.go'])}")
        C.add(p, body, 1, cat)

    def django_sendgrid():
        body = f'''from .base import *  # noqa

DEBUG = False
ALLOWED_HOSTS = ["portal.{DOMAIN}"]

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "smtp.sendgrid.net"
EMAIL_PORT = 587
EMAIL_USE_TLS = True
EMAIL_HOST_USER = "apikey"
EMAIL_HOST_PASSWORD = "{sendgrid()}"
DEFAULT_FROM_EMAIL = "Brightfield Kundenportal <noreply@{DOMAIN}>"

CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/1"}}}}
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'hr-portal', 'intranet']))}/{R.choice(['portal', 'config', 'app'])}/settings/production.py")
        C.add(p, body, 1, cat)

    def twilio_py():
        body = f'''from twilio.rest import Client

ACCOUNT_SID = "{twilio_sid('AC')}"
AUTH_TOKEN = "{hexs(32)}"
FROM = "+4915735{digits(6)}"

client = Client(ACCOUNT_SID, AUTH_TOKEN)


def notify_driver(number: str, tour: str) -> str:
    msg = client.messages.create(to=number, from_=FROM, body=f"Neue Tour {{tour}} ist freigegeben.")
    return msg.sid
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['tracking-service', 'warehouse-app']))}/{R.choice(['notify', 'app/notifications', 'src'])}/{R.choice(['sms.py', 'twilio_client.py'])}")
        C.add(p, body, 1, cat)

    def mailgun_nb():
        key = mailgun()
        cells = [("markdown", "## Bounce report via Mailgun events API", None),
                 ("code", f'import requests\nMG_KEY = "{key}"\nMG_DOMAIN = "mg.{DOMAIN}"', None),
                 ("code", "r = requests.get(f'https://api.eu.mailgun.net/v3/{MG_DOMAIN}/events',\n"
                          "                 auth=('api', MG_KEY), params={'event': 'failed', 'limit': 300})\n"
                          "print(r.status_code, len(r.json()['items']))", f"200 {R.randrange(3, 80)}")]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'projects/analytics/notebooks', 'Documents/jupyter'])}/{R.choice(['mailgun_bounces.ipynb', 'bounces.ipynb'])}")
        C.add(p, notebook(cells), 1, cat)

    def npmrc():
        body = f"""registry=https://registry.npmjs.org/
@brightfield:registry=https://git.{DOMAIN}/api/v4/projects/{R.randrange(10, 300)}/packages/npm/
//registry.npmjs.org/:_authToken={npm_token()}
"""
        if R.random() < 0.5:
            body += f"//git.{DOMAIN}/api/v4/projects/{R.randrange(10, 300)}/packages/npm/:_authToken={glpat()}\n"
        p = C.pick(lambda: R.choice([f"{home()}/.npmrc", f"{proj_root()}/.npmrc"]))
        C.add(p, body, 1, cat)

    def pypirc():
        body = f"""[distutils]
index-servers =
    pypi
    bf

[pypi]
username = __token__
password = {pypi_token()}

[bf]
repository = https://git.{DOMAIN}/api/v4/projects/{R.randrange(10, 300)}/packages/pypi
username = gitlab-ci-token
password = {glpat()}
"""
        p = C.pick(lambda: f"{home()}/.pypirc")
        C.add(p, body, 1, cat)

    def docker_config():
        u = user()
        auths = {f"registry.{DOMAIN}": {"auth": b64(f"{u}:{human_password()}")},
                 "https://index.docker.io/v1/": {"auth": b64(f"brightfield:{dockerhub_pat()}")}}
        doc = {"auths": auths, "currentContext": "default"}
        p = C.pick(lambda: f"{R.choice(['home/' + u, 'root', 'home/jenkins', 'home/gitlab-runner'])}/.docker/config.json")
        C.add(p, json.dumps(doc, indent="\t") + "\n", 1, cat)

    def gha_hardcoded():
        body = f"""name: docker
on:
  push:
    tags: ['v*']
jobs:
  image:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: docker/login-action@v3
        with:
          username: brightfield
          password: {dockerhub_pat()}
      - uses: docker/build-push-action@v5
        with:
          push: true
          tags: brightfield/{R.choice(PROJECTS)}:${{{{ github.ref_name }}}}
"""
        p = C.pick(lambda: f"{proj_root()}/.github/workflows/{R.choice(['docker.yml', 'image.yml', 'publish.yml'])}")
        C.add(p, body, 1, cat)

    def yaml_dburl():
        body = f"""server:
  port: {R.choice([8080, 8000, 3000])}
  base_url: https://{site_host()}
database_url: postgres://{R.choice(['app', 'shop', 'tracking', 'billing'])}:{human_password()}@{host()}:5432/{R.choice(['shop', 'tracking', 'billing'])}?sslmode=require
redis_url: redis://{host()}:6379/0
log_level: info
"""
        p = C.pick(lambda: f"{proj_root()}/config/{R.choice(['production.yml', 'config.yaml', 'settings.yml', 'prod.yaml'])}")
        C.add(p, body, 1, cat)

    def mongo_json():
        doc = {"port": 3000, "mongo": {"uri": f"mongodb+srv://{R.choice(['tracking', 'app', 'admin'])}:{rs(16)}@cluster0.{rs(5, LOWER + DIGITS)}.mongodb.net/tracking?retryWrites=true&w=majority",
                                       "poolSize": 10},
               "features": {"liveMap": True}}
        p = C.pick(lambda: f"{proj_root(R.choice(['tracking-service', 'mobile-backend']))}/config/{R.choice(['default.json', 'production.json'])}")
        C.add(p, json.dumps(doc, indent=2) + "\n", 1, cat)

    def spring_props():
        db = R.choice(["warehouse", "payroll", "billing"])
        body = f"""spring.application.name={db}-service
server.port=8080
spring.datasource.url=jdbc:mysql://{host()}:3306/{db}?useSSL=true&serverTimezone=Europe/Berlin
spring.datasource.username={db}_app
spring.datasource.password={human_password()}
spring.jpa.hibernate.ddl-auto=validate
management.endpoints.web.exposure.include=health,info
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['warehouse-app', 'payroll', 'billing-api']))}/src/main/resources/{R.choice(['application.properties', 'application-prod.properties'])}")
        C.add(p, body, 1, cat)

    def celery_redis():
        body = f'''import os

from celery import Celery

app = Celery("pipeline")
app.conf.broker_url = "redis://:{rs(32)}@{host()}:6379/2"
app.conf.result_backend = app.conf.broker_url
app.conf.task_acks_late = True
app.conf.timezone = "Europe/Berlin"
app.autodiscover_tasks(["pipeline.tasks"])
'''
        p = C.pick(lambda: f"{proj_root('data-pipeline')}/pipeline/{R.choice(['celery.py', 'worker.py'])}")
        C.add(p, body, 1, cat)

    def go_amqp():
        body = f'''package main

import (
\t"log"

\tamqp "github.com/rabbitmq/amqp091-go"
)

const brokerURL = "amqps://tracking:{human_password()}@{host()}:5671/prod"

func main() {{
\tconn, err := amqp.Dial(brokerURL)
\tif err != nil {{
\t\tlog.Fatalf("dial: %v", err)
\t}}
\tdefer conn.Close()
\tch, _ := conn.Channel()
\tq, _ := ch.QueueDeclare("scan-events", true, false, false, false, nil)
\tlog.Printf("consuming %s", q.Name)
}}
'''
        p = C.pick(lambda: f"{proj_root('tracking-service')}/cmd/{R.choice(['consumer', 'scanner', 'worker'])}/main.go")
        C.add(p, body, 1, cat)

    def pgpass():
        lines = [f"{host()}:5432:{db}:{db}_app:{human_password()}" for db in R.sample(["shop", "tracking", "billing", "payroll", "wiki"], R.randrange(1, 4))]
        lines.append(f"localhost:5432:*:postgres:{human_password()}")
        p = C.pick(lambda: f"{R.choice(['root', 'home/' + user(), 'home/backup', 'home/deploy'])}/.pgpass")
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def jwt_toml():
        body = f"""[server]
bind = "0.0.0.0:8080"
workers = 4

[database]
url = "postgres://tracking@localhost/tracking"

[auth]
jwt_secret = "{rs(64, B64URL)}"
token_ttl_minutes = 60
issuer = "https://auth.{DOMAIN}"
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['tracking-service', 'mobile-backend']))}/{R.choice(['config.toml', 'config/production.toml', 'Settings.toml'])}")
        C.add(p, body, 1, cat)

    def rails_master():
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'shopfront', 'intranet']))}/config/master.key")
        C.add(p, hexs(32), 1, cat)

    def vault_bashrc():
        body = f"""# ~/.bashrc
[ -z "$PS1" ] && return
HISTSIZE=10000
HISTCONTROL=ignoreboth
alias ll='ls -alF'
alias k=kubectl
export EDITOR=vim
export VAULT_ADDR=https://vault.{INTERNAL}:8200
export VAULT_TOKEN={vault_token()}
source <(kubectl completion bash)
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'root'])}/.bashrc")
        C.add(p, body, 1, cat)

    def tfrc():
        doc = {"credentials": {"app.terraform.io": {"token": tfc_token()}}}
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS)])}/.terraform.d/credentials.tfrc.json")
        C.add(p, json.dumps(doc, indent=2) + "\n", 1, cat)

    def kubeconfig_cert():
        _, ca = kg.cert("kubernetes", org="kubernetes")
        key, cert = kg.cert("kubernetes-admin", org="system:masters")
        body = f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {b64(ca)}
    server: https://k8s.{INTERNAL}:6443
  name: bf-prod
contexts:
- context:
    cluster: bf-prod
    user: kubernetes-admin
  name: kubernetes-admin@bf-prod
current-context: kubernetes-admin@bf-prod
kind: Config
preferences: {{}}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: {b64(cert)}
    client-key-data: {b64(key)}
"""
        p = C.pick(lambda: R.choice([f"{home()}/.kube/config", f"{home()}/.kube/bf-prod.yaml"]))
        C.add(p, body, 1, cat)

    def kubeconfig_token():
        _, ca = kg.cert("kubernetes", org="kubernetes")
        now = int(rdate(2024, 2025).timestamp())
        tok = rs256_like_jwt({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "ci",
                              "kubernetes.io/serviceaccount/secret.name": "deployer-token-" + rs(5, LOWER + DIGITS),
                              "kubernetes.io/serviceaccount/service-account.name": "deployer",
                              "sub": "system:serviceaccount:ci:deployer", "iat": now})
        body = f"""apiVersion: v1
kind: Config
clusters:
- name: bf-staging
  cluster:
    server: https://k8s-staging.{INTERNAL}:6443
    certificate-authority-data: {b64(ca)}
users:
- name: deployer
  user:
    token: {tok}
contexts:
- name: deployer@bf-staging
  context:
    cluster: bf-staging
    namespace: ci
    user: deployer
current-context: deployer@bf-staging
"""
        p = C.pick(lambda: R.choice([f"home/jenkins/.kube/config", f"{proj_root('infra')}/kube/{R.choice(['deployer.kubeconfig', 'ci-kubeconfig.yaml'])}"]))
        C.add(p, body, 1, cat)

    def doctl():
        body = f"""access-token: {do_token()}
context: default
output: text
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'root'])}/.config/doctl/config.yaml")
        C.add(p, body, 1, cat)

    def cloudflare_ini():
        body = f"# certbot dns-01 for {DOMAIN}\ndns_cloudflare_api_token = {rs(40, B64URL)}\n"
        p = C.pick(lambda: f"{R.choice(['root/.secrets/certbot', 'root/.secrets', 'srv/certbot'])}/cloudflare.ini")
        C.add(p, body, 1, cat)

    def openai_nb():
        cells = [("code", f'import os\nfrom openai import OpenAI\n\nclient = OpenAI(api_key="{openai_key()}")', None),
                 ("code", "resp = client.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'Fasse die Reklamation zusammen: ' + text}])\nprint(resp.choices[0].message.content[:200])",
                  "Der Kunde bemängelt eine verspätete Zustellung und eine beschädigte Verpackung.")]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'projects/support-bot/notebooks', 'Documents/jupyter'])}/{R.choice(['llm_triage.ipynb', 'reklamationen.ipynb', 'summaries.ipynb'])}")
        C.add(p, notebook(cells), 1, cat)

    def anthropic_py():
        body = f'''import anthropic

client = anthropic.Anthropic(api_key="{anthropic_key()}")


def classify_ticket(text: str) -> str:
    msg = client.messages.create(
        model="claude-3-5-haiku-latest",
        max_tokens=50,
        messages=[{{"role": "user", "content": f"Kategorie für dieses Ticket (Versand/Rechnung/Sonstiges): {{text}}"}}],
    )
    return msg.content[0].text.strip()
'''
        p = C.pick(lambda: f"{proj_root('support-bot')}/{R.choice(['bot', 'src', 'app'])}/{R.choice(['classify.py', 'llm.py'])}")
        C.add(p, body, 1, cat)

    def telegram_yaml():
        body = f"""telegram:
  bot_token: "{telegram_token()}"
  chat_id: -100{digits(10)}
checks:
  - name: shop
    url: https://shop.{DOMAIN}/health
    interval: 60
  - name: tracking
    url: https://tracking.{DOMAIN}/health
    interval: 60
"""
        p = C.pick(lambda: f"{R.choice(['srv/monitoring', 'opt/uptime-bot', 'home/' + user() + '/projects/ops-tools'])}/{R.choice(['config.yml', 'uptime.yaml', 'bot.yml'])}")
        C.add(p, body, 1, cat)

    def datadog_yaml():
        body = f"""## datadog.yaml (mounted into the agent container)
api_key: {hexs(32)}
site: datadoghq.eu
hostname: {R.choice(HOSTS)}
tags:
  - env:prod
  - team:ops
logs_enabled: true
process_config:
  process_collection:
    enabled: true
"""
        p = C.pick(lambda: f"srv/datadog/{R.choice(['datadog.yaml', 'conf/datadog.yaml'])}")
        C.add(p, body, 1, cat)

    def maven_settings():
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.2.0">
  <servers>
    <server>
      <id>bf-nexus</id>
      <username>{user()}</username>
      <password>{human_password()}</password>
    </server>
    <server>
      <id>bf-nexus-snapshots</id>
      <username>ci</username>
      <password>{rs(24)}</password>
    </server>
  </servers>
  <mirrors>
    <mirror>
      <id>bf-nexus</id>
      <mirrorOf>*</mirrorOf>
      <url>https://nexus.{INTERNAL}/repository/maven-public/</url>
    </mirror>
  </mirrors>
</settings>
"""
        p = C.pick(lambda: f"{home()}/.m2/settings.xml")
        C.add(p, body, 1, cat)

    def nuget():
        body = f"""<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
    <add key="bf" value="https://nexus.{INTERNAL}/repository/nuget-hosted/index.json" />
  </packageSources>
  <packageSourceCredentials>
    <bf>
      <add key="Username" value="build" />
      <add key="ClearTextPassword" value="{human_password()}" />
    </bf>
  </packageSourceCredentials>
</configuration>
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['invoicer', 'payroll']))}/NuGet.Config")
        C.add(p, body, 1, cat, crlf=True)

    def wp_config():
        salts = "\n".join(f"define( '{k}', '{secret_key(64)}' );" for k in
                          ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
                           "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"])
        body = f"""<?php
/** The base configuration for WordPress */
define( 'DB_NAME', 'wp_blog' );
define( 'DB_USER', 'wp_blog' );
define( 'DB_PASSWORD', '{human_password()}' );
define( 'DB_HOST', 'localhost' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );

{salts}

$table_prefix = 'wp_';
define( 'WP_DEBUG', false );
if ( ! defined( 'ABSPATH' ) ) {{
	define( 'ABSPATH', __DIR__ . '/' );
}}
require_once ABSPATH . 'wp-settings.php';
"""
        p = C.pick(lambda: f"var/www/{R.choice(['blog', 'www', 'karriere', 'news'])}/{R.choice(['', 'htdocs/', 'public_html/'])}wp-config.php")
        C.add(p, body, 1, cat)

    def netrc():
        body = f"""machine api.heroku.com
  login {people(1, DOMAIN)[0].email}
  password {ruuid()}
machine git.heroku.com
  login {people(1, DOMAIN)[0].email}
  password {ruuid()}
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS)])}/.netrc")
        C.add(p, body, 1, cat)

    def grafana_sh():
        body = f'''#!/bin/bash
# import dashboards into grafana
GRAFANA=https://grafana.{DOMAIN}
TOKEN={grafana_sa()}
for f in dashboards/*.json; do
  jq '{{dashboard: ., overwrite: true, folderUid: "ops"}}' "$f" |
    curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      --data-binary @- "$GRAFANA/api/dashboards/db" >/dev/null && echo "ok $f"
done
'''
        p = C.pick(lambda: f"{R.choice(['srv/monitoring', proj_root('ops-tools')])}/{R.choice(['import-dashboards.sh', 'grafana/import.sh'])}")
        C.add(p, body, 1, cat)

    def jira_py():
        p0 = people(1, DOMAIN)[0]
        body = f'''import requests
from requests.auth import HTTPBasicAuth

JIRA = "https://brightfield.atlassian.net"
AUTH = HTTPBasicAuth("{p0.email}", "{atlassian_token()}")


def open_incident(summary, description):
    payload = {{"fields": {{"project": {{"key": "OPS"}}, "summary": summary,
                           "description": description, "issuetype": {{"name": "Incident"}}}}}}
    r = requests.post(f"{{JIRA}}/rest/api/2/issue", json=payload, auth=AUTH, timeout=15)
    r.raise_for_status()
    return r.json()["key"]
'''
        p = C.pick(lambda: f"{proj_root('ops-tools')}/{R.choice(['jira.py', 'incidents/jira_client.py'])}")
        C.add(p, body, 1, cat)

    def shopify_toml():
        body = f"""[shop]
domain = "brightfield-store.myshopify.com"
api_version = "2024-04"
admin_token = "{shopify_token()}"

[sync]
interval_minutes = 15
warehouse = "HAM-1"
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['shopfront', 'warehouse-app', 'crm-sync']))}/{R.choice(['shopify.toml', 'config/shopify.toml'])}")
        C.add(p, body, 1, cat)

    def csharp_conn():
        body = f"""using Microsoft.Data.SqlClient;

namespace Payroll.Data
{{
    public static class Db
    {{
        private const string ConnectionString =
            "Server={R.choice(HOSTS)}.{INTERNAL};Database=Payroll;User Id=payroll_app;Password={human_password()};TrustServerCertificate=True";

        public static SqlConnection Open()
        {{
            var c = new SqlConnection(ConnectionString);
            c.Open();
            return c;
        }}
    }}
}}
"""
        p = C.pick(lambda: f"{proj_root('payroll')}/src/Payroll.Data/{R.choice(['Db.cs', 'Database.cs'])}")
        C.add(p, body, 1, cat, crlf=True)

    def java_sendgrid():
        body = f"""package de.brightfield.notify;

import com.sendgrid.SendGrid;
import com.sendgrid.helpers.mail.Mail;
import com.sendgrid.helpers.mail.objects.Content;
import com.sendgrid.helpers.mail.objects.Email;

public final class Mailer {{
    private static final SendGrid SG = new SendGrid("{sendgrid()}");

    public static void send(String to, String subject, String body) throws Exception {{
        Mail mail = new Mail(new Email("noreply@{DOMAIN}"), subject, new Email(to), new Content("text/plain", body));
        com.sendgrid.Request req = new com.sendgrid.Request();
        req.setMethod(com.sendgrid.Method.POST);
        req.setEndpoint("mail/send");
        req.setBody(mail.build());
        SG.api(req);
    }}
}}
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['warehouse-app', 'billing-api']))}/src/main/java/de/brightfield/notify/Mailer.java")
        C.add(p, body, 1, cat)

    def rust_postmark():
        body = f'''use reqwest::Client;
use serde_json::json;

const POSTMARK_SERVER_TOKEN: &str = "{ruuid()}";

pub async fn send_receipt(client: &Client, to: &str, html: &str) -> reqwest::Result<()> {{
    client
        .post("https://api.postmarkapp.com/email")
        .header("X-Postmark-Server-Token", POSTMARK_SERVER_TOKEN)
        .json(&json!({{"From": "rechnung@{DOMAIN}", "To": to, "Subject": "Ihre Rechnung", "HtmlBody": html}}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}}
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['invoicer', 'billing-api']))}/src/{R.choice(['mail.rs', 'postmark.rs'])}")
        C.add(p, body, 1, cat)

    def confluence_html():
        rows = [("Datadog API key", hexs(32)), ("SMTP relay (mail01) – user relay", human_password()),
                ("Sentry auth token", "sntrys_" + rs(60, B64URL)), ("Hetzner Cloud API token", rs(64))]
        trs = "\n".join(f"      <tr><td>{a}</td><td><code>{b}</code></td></tr>" for a, b in R.sample(rows, 3))
        body = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>IT : Zugangsdaten Monitoring</title></head>
<body>
  <h1>Zugangsdaten Monitoring</h1>
  <p>Stand {rdate(2023, 2025).strftime('%d.%m.%Y')} – bitte nicht extern teilen.</p>
  <table class="confluenceTable">
    <tbody>
      <tr><th>Dienst</th><th>Wert</th></tr>
{trs}
    </tbody>
  </table>
</body></html>
"""
        p = C.pick(lambda: f"srv/files/shared/IT/confluence-export/{R.choice(['Zugangsdaten-Monitoring', 'Monitoring-Zugaenge', 'IT-Zugangsdaten'])}_{digits(8)}.html")
        C.add(p, body, 1, cat)

    def big_deploy_log():
        start = rdate(2024, 2024)
        before = pad_to(lambda n: filler_log_lines(n, "deployer", start), R.randrange(140_000, 170_000))
        after = pad_to(lambda n: filler_log_lines(n, "deployer", start + dt.timedelta(hours=3)), R.randrange(30_000, 50_000))
        leak = [f"{ts(start + dt.timedelta(hours=2))},112 DEBUG [deployer] effective environment: "
                f"AWS_DEFAULT_REGION=eu-central-1 AWS_ACCESS_KEY_ID={aws_key_id()} "
                f"AWS_SECRET_ACCESS_KEY={aws_secret()} DEPLOY_ENV=prod"]
        p = C.pick(lambda: f"{R.choice(['var/log/deployer', 'srv/deployer/logs', 'srv/' + R.choice(PROJECTS) + '/logs'])}/{R.choice(['deploy.log', 'deploy.log.1', 'deployer-' + start.strftime('%Y%m%d') + '.log'])}")
        C.add(p, "\n".join(before + leak + after) + "\n", 1, cat)

    def big_har_bearer():
        start = rdate(2024, 2024)
        tok = gh_token("ghp_")
        before = pad_to(lambda n: filler_log_lines(n, "ci", start), R.randrange(150_000, 180_000))
        after = pad_to(lambda n: filler_log_lines(n, "ci", start + dt.timedelta(hours=2)), 20_000)
        leak = [f"{ts(start + dt.timedelta(hours=1))},004 DEBUG [ci] > GET /repos/brightfield/{R.choice(PROJECTS)}/releases/latest",
                f"{ts(start + dt.timedelta(hours=1))},004 DEBUG [ci] > Authorization: token {tok}",
                f"{ts(start + dt.timedelta(hours=1))},231 DEBUG [ci] < HTTP/2 200"]
        p = C.pick(lambda: R.choice([f"srv/ci-logs/{R.choice(PROJECTS)}/{R.randrange(100, 2000)}.log", f"home/jenkins/logs/{R.choice(PROJECTS)}-release.log"]))
        C.add(p, "\n".join(before + leak + after) + "\n", 1, cat)

    shapes = [aws_credentials, boto3_script, tf_provider, shell_exports, gcp_sa, gcp_apikey,
              azure_appsettings, azure_ps, azure_sas, git_credentials, gh_fine, python_gitlab,
              runner_toml, slack_node, slack_webhook_sh, alertmanager, stripe_php, stripe_ruby,
              stripe_go, django_sendgrid, twilio_py, mailgun_nb, npmrc, pypirc, docker_config,
              gha_hardcoded, yaml_dburl, mongo_json, spring_props, celery_redis, go_amqp, pgpass,
              jwt_toml, rails_master, vault_bashrc, tfrc, kubeconfig_cert, kubeconfig_token,
              doctl, cloudflare_ini, openai_nb, anthropic_py, telegram_yaml, datadog_yaml,
              maven_settings, nuget, wp_config, netrc, grafana_sh, jira_py, shopify_toml,
              csharp_conn, java_sendgrid, rust_postmark, confluence_html, big_deploy_log,
              big_har_bearer]
    R.shuffle(shapes)
    # the two big files always make it in
    shapes.sort(key=lambda f: f.__name__ not in ("big_deploy_log", "big_har_bearer"))
    for i in range(n_pos):
        shapes[i % len(shapes)]()
    _gen_token_lookalikes(C, kg, n_neg)


def _gen_token_lookalikes(C, kg, n_neg):
    cat = "cloud_token"

    def aws_docs():
        body = """# S3 uploads

The uploader uses the standard AWS credential chain. For local testing you can
put credentials into `~/.aws/credentials`; the AWS documentation uses these
example values:

```ini
[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
```

On the servers the instance profile `bf-uploader` is used instead; never put
real keys into this repository.
"""
        p = C.pick(lambda: f"{proj_root()}/docs/{R.choice(['s3.md', 'uploads.md', 'aws.md'])}")
        C.add(p, body, 0, cat)

    def aws_config():
        body = f"""[default]
region = eu-central-1
output = json

[profile bf-prod]
sso_session = bf
sso_account_id = {digits(12)}
sso_role_name = AdministratorAccess
region = eu-central-1

[profile bf-readonly]
role_arn = arn:aws:iam::{digits(12)}:role/ReadOnly
source_profile = default

[sso-session bf]
sso_start_url = https://d-{digits(10)}.awsapps.com/start
sso_region = eu-central-1
sso_registration_scopes = sso:account:access
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS), 'root'])}/.aws/config")
        C.add(p, body, 0, cat)

    def aws_cred_process():
        body = """[default]
credential_process = /usr/local/bin/aws-vault exec bf-prod --json

[backup]
credential_process = op plugin run -- aws configure export-credentials --format process
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS), 'home/backup'])}/.aws/credentials")
        C.add(p, body, 0, cat)

    def boto3_profile():
        body = f'''import boto3

session = boto3.Session(profile_name="bf-prod")
s3 = session.client("s3")

for obj in s3.list_objects_v2(Bucket="bf-exports-eu", Prefix="{rdate(2024, 2025).strftime('%Y/%m')}/").get("Contents", []):
    print(obj["Key"], obj["Size"], obj["ETag"])
'''
        p = C.pick(lambda: f"{R.choice(['root/scripts', 'srv/ops-tools/scripts', proj_root() + '/scripts'])}/{R.choice(['list_exports.py', 's3_ls.py', 'check_bucket.py'])}")
        C.add(p, body, 0, cat)

    def tf_vars():
        body = """variable "db_password" {
  description = "Master password for the RDS instance (set via TF_VAR_db_password)"
  type        = string
  sensitive   = true
}

variable "cloudflare_api_token" {
  type      = string
  sensitive = true
}

provider "aws" {
  region = var.region
  assume_role {
    role_arn = "arn:aws:iam::%s:role/terraform"
  }
}
""" % digits(12)
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['terraform', 'tf/aws', 'terraform/aws'])}/{R.choice(['variables.tf', 'provider.tf', 'main.tf'])}")
        C.add(p, body, 0, cat)

    def gcloud_cfg():
        body = f"""[core]
account = {people(1, DOMAIN)[0].email}
project = bf-analytics
disable_usage_reporting = True

[compute]
region = europe-west3
zone = europe-west3-b
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS)])}/.config/gcloud/configurations/config_default")
        C.add(p, body, 0, cat)

    def appsettings_kv():
        doc = {"Logging": {"LogLevel": {"Default": "Information"}},
               "KeyVault": {"VaultUri": "https://kv-bf-prod.vault.azure.net/"},
               "AzureAd": {"Instance": "https://login.microsoftonline.com/", "TenantId": ruuid(),
                           "ClientId": ruuid(), "Audience": f"api://{ruuid()}"},
               "ConnectionStrings": {"Blob": "UseDevelopmentStorage=true",
                                     "Default": f"Server=tcp:bf-sql.database.windows.net,1433;Initial Catalog=Invoices;Authentication=Active Directory Managed Identity;Encrypt=True;"}}
        p = C.pick(lambda: dotnet_dir() + f"/{R.choice(['appsettings.json', 'appsettings.Production.json'])}")
        C.add(p, json.dumps(doc, indent=2) + "\n", 0, cat, crlf=True)

    def ps_keyvault():
        body = f"""# Export-Users.ps1 - uses the automation account's managed identity
Connect-AzAccount -Identity | Out-Null
$secret = Get-AzKeyVaultSecret -VaultName "kv-bf-prod" -Name "graph-client-secret" -AsPlainText
$tenantId = "{ruuid()}"
$appId = "{ruuid()}"
$cred = New-Object PSCredential($appId, (ConvertTo-SecureString $secret -AsPlainText -Force))
Connect-MgGraph -TenantId $tenantId -ClientSecretCredential $cred -NoWelcome
Get-MgUser -All | Select-Object DisplayName, Department | Export-Csv D:\\Reports\\users.csv -NoTypeInformation
"""
        p = C.pick(lambda: f"{R.choice(['srv/ops-tools/windows', 'home/' + user() + '/projects/infra/windows', 'Users/' + R.choice(MACUSERS) + '/code/ops-tools/ps'])}/{R.choice(['Sync-Mailboxes.ps1', 'Export-Users.ps1', 'Connect-Tenant.ps1'])}")
        C.add(p, body, 0, cat, crlf=True)

    def gitconfig():
        p0 = people(1, DOMAIN)[0]
        body = f"""[user]
\tname = {p0.name}
\temail = {p0.email}
\tsigningkey = ~/.ssh/id_ed25519.pub
[gpg]
\tformat = ssh
[credential]
\thelper = {R.choice(['osxkeychain', 'store --file ~/.config/git/credentials.gpg', 'libsecret', 'manager'])}
[pull]
\trebase = true
[init]
\tdefaultBranch = main
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS)])}/.gitconfig")
        C.add(p, body, 0, cat)

    def gitlab_helper():
        body = f"""[global]
default = bf
ssl_verify = true

[bf]
url = https://git.{DOMAIN}
private_token = helper: {R.choice(['~/.local/bin/gitlab-token', 'pass show gitlab/api-token'])}
api_version = 4
"""
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS)])}/.python-gitlab.cfg")
        C.add(p, body, 0, cat)

    def gitlab_ci():
        body = f"""stages: [test, build, deploy]

variables:
  DOCKER_DRIVER: overlay2
  IMAGE: $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA

build:
  stage: build
  image: docker:24
  services: [docker:24-dind]
  script:
    - echo "$CI_REGISTRY_PASSWORD" | docker login -u "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"
    - docker build -t "$IMAGE" .
    - docker push "$IMAGE"

deploy:
  stage: deploy
  script:
    - curl -sf -X POST -F token="$DEPLOY_TRIGGER_TOKEN" -F ref=main https://git.{DOMAIN}/api/v4/projects/{R.randrange(10, 300)}/trigger/pipeline
  only: [main]
"""
        p = C.pick(lambda: f"{proj_root()}/.gitlab-ci.yml")
        C.add(p, body, 0, cat)

    def slack_env_node():
        body = """const { App } = require('@slack/bolt');

const app = new App({
  token: process.env.SLACK_BOT_TOKEN,       // xoxb-...
  signingSecret: process.env.SLACK_SIGNING_SECRET,
});

app.message('ping', async ({ say }) => { await say('pong'); });

(async () => { await app.start(process.env.PORT || 3000); })();
"""
        p = C.pick(lambda: f"{proj_root('support-bot')}/{R.choice(['index.js', 'src/app.js', 'bot.js'])}")
        C.add(p, body, 0, cat)

    def alertmanager_file():
        body = """global:
  resolve_timeout: 5m
  slack_api_url_file: /etc/alertmanager/secrets/slack_webhook

route:
  receiver: ops-slack
  group_by: [alertname]

receivers:
  - name: ops-slack
    slack_configs:
      - channel: '#ops-alerts'
        send_resolved: true
"""
        p = C.pick(lambda: f"srv/monitoring/{R.choice(['alertmanager', 'prometheus/alertmanager', 'config'])}/alertmanager.yml")
        C.add(p, body, 0, cat)

    def stripe_env_php():
        body = """<?php

return [
    'stripe' => [
        'model' => App\\Models\\Customer::class,
        'key' => env('STRIPE_KEY'),
        'secret' => env('STRIPE_SECRET'),
        'webhook' => [
            'secret' => env('STRIPE_WEBHOOK_SECRET'),
            'tolerance' => env('STRIPE_WEBHOOK_TOLERANCE', 300),
        ],
    ],
];
"""
        p = C.pick(lambda: f"{R.choice(['var/www/' + R.choice(['shop', 'kundenportal']), proj_root('shopfront')])}/config/services.php")
        C.add(p, body, 0, cat)

    def django_env():
        body = f'''import os

from .base import *  # noqa

DEBUG = False
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
ALLOWED_HOSTS = ["portal.{DOMAIN}"]
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "portal",
        "USER": "portal",
        "PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "HOST": "{host()}",
    }}
}}
EMAIL_HOST = "smtp.sendgrid.net"
EMAIL_HOST_USER = "apikey"
EMAIL_HOST_PASSWORD = os.environ["SENDGRID_API_KEY"]
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'hr-portal', 'intranet']))}/{R.choice(['portal', 'config', 'app'])}/settings/production.py")
        C.add(p, body, 0, cat)

    def npmrc_env():
        body = f"""registry=https://registry.npmjs.org/
@brightfield:registry=https://git.{DOMAIN}/api/v4/packages/npm/
//git.{DOMAIN}/api/v4/packages/npm/:_authToken=${{CI_JOB_TOKEN}}
//registry.npmjs.org/:_authToken=${{NPM_TOKEN}}
save-exact=true
"""
        p = C.pick(lambda: R.choice([f"{home()}/.npmrc", f"{proj_root()}/.npmrc"]))
        C.add(p, body, 0, cat)

    def pypirc_keyring():
        body = f"""[distutils]
index-servers =
    pypi
    bf

[pypi]
username = __token__
# password comes from keyring: `keyring set https://upload.pypi.org/legacy/ __token__`

[bf]
repository = https://git.{DOMAIN}/api/v4/projects/{R.randrange(10, 300)}/packages/pypi
username = gitlab-ci-token
"""
        p = C.pick(lambda: f"{home()}/.pypirc")
        C.add(p, body, 0, cat)

    def docker_credstore():
        doc = {"auths": {f"registry.{DOMAIN}": {}, "https://index.docker.io/v1/": {}},
               "credsStore": R.choice(["desktop", "osxkeychain", "pass"]),
               "currentContext": "desktop-linux"}
        p = C.pick(lambda: f"{R.choice(['home/' + user(), 'Users/' + R.choice(MACUSERS)])}/.docker/config.json")
        C.add(p, json.dumps(doc, indent="\t") + "\n", 0, cat)

    def yaml_dburl_env():
        body = f"""server:
  port: {R.choice([8080, 8000, 3000])}
  base_url: https://{site_host()}
database_url: ${{DATABASE_URL}}
# local development: peer auth, no password
# database_url: postgres://app@localhost:5432/app_dev
redis_url: redis://{host()}:6379/0
log_level: info
"""
        p = C.pick(lambda: f"{proj_root()}/config/{R.choice(['production.yml', 'config.yaml', 'settings.yml', 'prod.yaml'])}")
        C.add(p, body, 0, cat)

    def spring_env():
        db = R.choice(["warehouse", "payroll", "billing"])
        body = f"""spring.application.name={db}-service
spring.datasource.url=jdbc:mysql://{host()}:3306/{db}?useSSL=true
spring.datasource.username=${{DB_USER}}
spring.datasource.password=${{DB_PASSWORD}}
spring.jpa.hibernate.ddl-auto=validate
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['warehouse-app', 'payroll', 'billing-api']))}/src/main/resources/{R.choice(['application.properties', 'application-prod.properties'])}")
        C.add(p, body, 0, cat)

    def package_lock():
        deps = {}
        for name in R.sample(["express", "lodash", "axios", "dayjs", "zod", "pino", "pg", "ioredis",
                              "helmet", "cors", "uuid", "jsonwebtoken", "bcryptjs", "dotenv", "ms",
                              "debug", "qs", "semver", "yaml", "commander"], 14):
            v = f"{R.randrange(1, 9)}.{R.randrange(0, 20)}.{R.randrange(0, 12)}"
            deps[f"node_modules/{name}"] = {"version": v, "resolved": f"https://registry.npmjs.org/{name}/-/{name}-{v}.tgz",
                                            "integrity": "sha512-" + b64(rbytes(64))}
        doc = {"name": R.choice(PROJECTS), "version": "1.4.2", "lockfileVersion": 3, "requires": True,
               "packages": {"": {"name": "app", "version": "1.4.2"}, **deps}}
        p = C.pick(lambda: f"{proj_root(R.choice(['support-bot', 'shopfront', 'mobile-backend', 'tracking-service']))}/package-lock.json")
        C.add(p, json.dumps(doc, indent=2) + "\n", 0, cat)

    def sha256sums():
        lines = [f"{hexs(64)}  {n}" for n in
                 [f"bf-agent_{R.randrange(1, 4)}.{R.randrange(0, 9)}.{R.randrange(0, 9)}_{a}.tar.gz" for a in ["linux_amd64", "linux_arm64", "darwin_arm64", "windows_amd64"]]]
        p = C.pick(lambda: f"{R.choice(['srv/files/releases/bf-agent', 'opt/bf-agent', proj_root('ops-tools') + '/release'])}/{R.choice(['SHA256SUMS', 'checksums.txt'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def git_log():
        out = []
        authors = [f"{p.name} <{p.email}>" for p in people(2, DOMAIN)]
        for _ in range(R.randrange(10, 25)):
            out += [f"commit {hexs(40)}", f"Author: {R.choice(authors)}",
                    f"Date:   {rdate(2024, 2025).strftime('%a %b %d %H:%M:%S %Y +0100')}", "",
                    f"    {R.choice(['fix', 'feat', 'chore', 'refactor'])}: {R.choice(['retry on 502', 'bump deps', 'add tracking export', 'clean up config loading', 'new invoice template'])}", ""]
        p = C.pick(lambda: f"{docs_dir()}/{R.choice(['changes.txt', 'release-notes-draft.txt', 'gitlog.txt'])}")
        C.add(p, "\n".join(out), 0, cat)

    def compose_digests():
        body = f"""services:
  app:
    image: registry.{DOMAIN}/shop/app@sha256:{hexs(64)}
    env_file: .env
    restart: unless-stopped
  worker:
    image: registry.{DOMAIN}/shop/worker@sha256:{hexs(64)}
    env_file: .env
  redis:
    image: redis:7-alpine@sha256:{hexs(64)}
"""
        p = C.pick(lambda: f"{R.choice(['srv', 'opt'])}/{R.choice(PROJECTS)}/{R.choice(['docker-compose.yml', 'compose.yaml'])}")
        C.add(p, body, 0, cat)

    def tfstate():
        acct = digits(12)
        doc = {"version": 4, "terraform_version": "1.7.5", "serial": R.randrange(10, 300), "lineage": ruuid(),
               "outputs": {"bucket_arn": {"value": f"arn:aws:s3:::bf-exports-eu", "type": "string"}},
               "resources": [
                   {"mode": "managed", "type": "aws_s3_bucket", "name": "exports", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                    "instances": [{"schema_version": 0, "attributes": {"arn": "arn:aws:s3:::bf-exports-eu", "bucket": "bf-exports-eu",
                                                                       "id": "bf-exports-eu", "region": "eu-central-1",
                                                                       "hosted_zone_id": "Z21DNDUVLTQW6Q", "tags": {"team": "ops"}}}]},
                   {"mode": "managed", "type": "aws_route53_record", "name": "www", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                    "instances": [{"schema_version": 2, "attributes": {"id": f"Z{rs(13, UPPER + DIGITS)}_www.{DOMAIN}_A",
                                                                       "name": f"www.{DOMAIN}", "records": ["203.0.113.10"], "ttl": 300,
                                                                       "zone_id": f"Z{rs(13, UPPER + DIGITS)}"}}]},
                   {"mode": "managed", "type": "aws_iam_role", "name": "uploader", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                    "instances": [{"schema_version": 0, "attributes": {"arn": f"arn:aws:iam::{acct}:role/bf-uploader",
                                                                       "id": "bf-uploader", "unique_id": "AROA" + rs(17, AWS_B32)}}]}]}
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['terraform', 'tf/aws', 'terraform/aws'])}/terraform.tfstate")
        C.add(p, json.dumps(doc, indent=2) + "\n", 0, cat)

    def kubeconfig_exec():
        _, ca = kg.cert("kubernetes", org="kubernetes")
        body = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {b64(ca)}
    server: https://{hexs(32).upper()}.gr7.eu-central-1.eks.amazonaws.com
  name: bf-eks
contexts:
- context: {{cluster: bf-eks, user: bf-eks}}
  name: bf-eks
current-context: bf-eks
users:
- name: bf-eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, eu-central-1, eks, get-token, --cluster-name, bf-eks]
      env:
      - name: AWS_PROFILE
        value: bf-prod
"""
        p = C.pick(lambda: R.choice([f"{home()}/.kube/config", f"{home()}/.kube/bf-eks.yaml"]))
        C.add(p, body, 0, cat)

    def caddy_env():
        body = f"""{{
	email ops@{DOMAIN}
	acme_dns cloudflare {{env.CF_API_TOKEN}}
}}

{site_host()} {{
	reverse_proxy 127.0.0.1:{R.choice([3000, 8080])}
	encode zstd gzip
}}
"""
        p = C.pick(lambda: f"srv/caddy/{R.choice(['Caddyfile', 'config/Caddyfile'])}")
        C.add(p, body, 0, cat)

    def openai_env_nb():
        cells = [("code", "import os\nfrom openai import OpenAI\n\nclient = OpenAI(api_key=os.environ['OPENAI_API_KEY'])", None),
                 ("code", "print(client.models.list().data[0].id)", "gpt-4o-mini")]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'projects/support-bot/notebooks', 'Documents/jupyter'])}/{R.choice(['llm_triage.ipynb', 'reklamationen.ipynb', 'summaries.ipynb'])}")
        C.add(p, notebook(cells), 0, cat)

    def token_formats_doc():
        body = """# Which token is which (for the on-call runbook)

| Prefix            | Service                    | Example (fake)                               |
|-------------------|----------------------------|----------------------------------------------|
| `ghp_`            | GitHub classic PAT         | `ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX`   |
| `glpat-`          | GitLab personal token      | `glpat-xxxxxxxxxxxxxxxxxxxx`                 |
| `xoxb-`           | Slack bot token            | `xoxb-000000000000-0000000000000-xxxxxxxx`   |
| `sk_live_`        | Stripe secret key          | `sk_live_...`                                |
| `SG.`             | SendGrid API key           | `SG.<id>.<secret>`                           |
| `AKIA`            | AWS access key id          | `AKIA................`                       |

If one of these shows up in a repo or a log: revoke first, then investigate.
"""
        p = C.pick(lambda: f"srv/files/shared/IT/runbooks/{R.choice(['token-prefixes.md', 'leaked-credentials.md'])}")
        C.add(p, body, 0, cat)

    def ansible_vault():
        lines = ["$ANSIBLE_VAULT;1.1;AES256"]
        blob = hexs(R.randrange(6, 14) * 80)
        lines += [blob[i:i + 80] for i in range(0, len(blob), 80)]
        p = C.pick(lambda: f"{proj_root(R.choice(['infra', 'ops-tools']))}/ansible/group_vars/{R.choice(['all', 'production', 'dbservers'])}/vault.yml")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def sops_yaml():
        def enc(n):
            return f"ENC[AES256_GCM,data:{b64(rbytes(n))},iv:{b64(rbytes(32))},tag:{b64(rbytes(16))},type:str]"
        body = f"""database:
    password: {enc(18)}
stripe:
    secret_key: {enc(32)}
smtp:
    password: {enc(16)}
sops:
    age:
        - recipient: age1{rs(58, LOWER + DIGITS)}
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            {b64(rbytes(48))}
            {b64(rbytes(40))}
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "{iso()}"
    mac: ENC[AES256_GCM,data:{b64(rbytes(32))},iv:{b64(rbytes(32))},tag:{b64(rbytes(16))},type:str]
    unencrypted_suffix: _unencrypted
    version: 3.8.1
"""
        p = C.pick(lambda: f"{proj_root()}/{R.choice(['secrets.enc.yaml', 'config/secrets.sops.yaml', 'deploy/secrets.yaml'])}")
        C.add(p, body, 0, cat)

    def sealed_secret():
        body = f"""apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: {R.choice(PROJECTS)}-env
  namespace: prod
spec:
  encryptedData:
    DATABASE_URL: {b64(rbytes(R.randrange(300, 420)))}
    JWT_SECRET: {b64(rbytes(R.randrange(300, 420)))}
  template:
    metadata:
      name: app-env
      namespace: prod
"""
        p = C.pick(lambda: f"{proj_root('infra')}/k8s/prod/{R.choice(['sealed-env.yaml', 'sealedsecret.yaml', 'app-secrets.sealed.yaml'])}")
        C.add(p, body, 0, cat)

    def maven_env():
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.2.0">
  <servers>
    <server>
      <id>bf-nexus</id>
      <username>${{env.NEXUS_USER}}</username>
      <password>${{env.NEXUS_PASSWORD}}</password>
    </server>
  </servers>
  <mirrors>
    <mirror><id>bf-nexus</id><mirrorOf>*</mirrorOf><url>https://nexus.{INTERNAL}/repository/maven-public/</url></mirror>
  </mirrors>
</settings>
"""
        p = C.pick(lambda: f"{home()}/.m2/settings.xml")
        C.add(p, body, 0, cat)

    def wp_getenv():
        keys = ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
                "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"]
        salts = "\n".join(f"define( '{k}', getenv( 'WP_{k}' ) );" for k in keys)
        body = f"""<?php
define( 'DB_NAME', getenv( 'WORDPRESS_DB_NAME' ) );
define( 'DB_USER', getenv( 'WORDPRESS_DB_USER' ) );
define( 'DB_PASSWORD', getenv( 'WORDPRESS_DB_PASSWORD' ) );
define( 'DB_HOST', getenv( 'WORDPRESS_DB_HOST' ) ?: 'db:3306' );

{salts}

$table_prefix = 'wp_';
require_once ABSPATH . 'wp-settings.php';
"""
        p = C.pick(lambda: f"var/www/{R.choice(['blog', 'www', 'karriere', 'news'])}/{R.choice(['', 'htdocs/', 'public_html/'])}wp-config.php")
        C.add(p, body, 0, cat)

    def arm_params():
        doc = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
               "contentVersion": "1.0.0.0",
               "parameters": {"subscriptionId": {"value": ruuid()}, "tenantId": {"value": ruuid()},
                              "appClientId": {"value": ruuid()}, "location": {"value": "germanywestcentral"},
                              "sqlAdminPassword": {"reference": {"keyVault": {"id": f"/subscriptions/{ruuid()}/resourceGroups/rg-bf-prod/providers/Microsoft.KeyVault/vaults/kv-bf-prod"},
                                                                 "secretName": "sql-admin-password"}}}}
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['arm', 'azure'])}/{R.choice(['parameters.prod.json', 'azuredeploy.parameters.json'])}")
        C.add(p, json.dumps(doc, indent=2) + "\n", 0, cat)

    def google_client_id():
        body = f"""export const config = {{
  apiBase: 'https://api.{DOMAIN}/v1',
  googleClientId: '{digits(12)}-{rs(32, LOWER + DIGITS)}.apps.googleusercontent.com',
  sentryEnvironment: 'production',
  mapStyle: 'mapbox://styles/brightfield/{rs(25, LOWER + DIGITS)}',
  buildSha: '{hexs(40)}',
}};
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['shopfront', 'customer-portal', 'website']))}/src/{R.choice(['config.ts', 'config.prod.ts', 'env.ts'])}")
        C.add(p, body, 0, cat)

    def twilio_env():
        body = """import os

from twilio.rest import Client

client = Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"])


def notify_driver(number, tour):
    return client.messages.create(to=number, from_=os.environ["TWILIO_FROM"],
                                  body=f"Neue Tour {tour} ist freigegeben.").sid
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['tracking-service', 'warehouse-app']))}/{R.choice(['notify', 'app/notifications', 'src'])}/{R.choice(['sms.py', 'twilio_client.py'])}")
        C.add(p, body, 0, cat)

    def html_data_uri():
        png = b64(PNG_MAGIC + rbytes(R.randrange(200, 500)))
        body = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8">
<link rel="icon" href="data:image/png;base64,{png}">
<link rel="stylesheet" href="/assets/app.css" integrity="sha384-{b64(rbytes(48))}" crossorigin="anonymous">
<title>Sendungsverfolgung</title></head>
<body><div id="app"></div>
<script src="/assets/app.{hexs(8)}.js" integrity="sha384-{b64(rbytes(48))}" crossorigin="anonymous"></script>
</body></html>
"""
        p = C.pick(lambda: f"var/www/{R.choice(SITES)}/{R.choice(['index.html', 'tracking/index.html', 'public/index.html'])}")
        C.add(p, body, 0, cat)

    def trace_log():
        start = rdate(2024, 2025)
        lines = []
        for _ in range(R.randrange(80, 200)):
            start += dt.timedelta(milliseconds=R.randrange(10, 3000))
            lines.append(json.dumps({"ts": start.isoformat() + "Z", "level": "info", "trace_id": hexs(32), "span_id": hexs(16),
                                     "session": hashlib.sha256(rbytes(8)).hexdigest(), "msg": R.choice(["request done", "cache miss", "order synced"]),
                                     "duration_ms": R.randrange(1, 900)}))
        p = C.pick(lambda: f"{R.choice(['var/log', 'srv/' + R.choice(PROJECTS) + '/logs'])}/{R.choice(['app.json.log', 'requests.log', 'trace.log'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def go_env_amqp():
        body = """package main

import (
\t"log"
\t"os"

\tamqp "github.com/rabbitmq/amqp091-go"
)

func main() {
\turl := os.Getenv("AMQP_URL")
\tif url == "" {
\t\tlog.Fatal("AMQP_URL not set")
\t}
\tconn, err := amqp.Dial(url)
\tif err != nil {
\t\tlog.Fatalf("dial: %v", err)
\t}
\tdefer conn.Close()
}
"""
        p = C.pick(lambda: f"{proj_root('tracking-service')}/cmd/{R.choice(['consumer', 'scanner', 'worker'])}/main.go")
        C.add(p, body, 0, cat)

    def confluence_vault():
        body = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>IT : Zugangsdaten Monitoring</title></head>
<body>
  <h1>Zugangsdaten Monitoring</h1>
  <p>Alle Zugangsdaten liegen in Vaultwarden (Sammlung <em>IT-Monitoring</em>), nicht in Confluence.</p>
  <table class="confluenceTable"><tbody>
    <tr><th>Dienst</th><th>Eintrag in Vaultwarden</th><th>Owner</th></tr>
    <tr><td>Datadog</td><td>Monitoring / Datadog API key</td><td>Ops</td></tr>
    <tr><td>SMTP relay</td><td>Mail / relay@mail01</td><td>Ops</td></tr>
    <tr><td>Sentry</td><td>Monitoring / Sentry org token</td><td>Dev</td></tr>
  </tbody></table>
</body></html>
"""
        p = C.pick(lambda: f"srv/files/shared/IT/confluence-export/{R.choice(['Zugangsdaten-Monitoring', 'Monitoring-Zugaenge', 'IT-Zugangsdaten'])}_{digits(8)}.html")
        C.add(p, body, 0, cat)

    def datadog_enc():
        body = f"""api_key: ENC[datadog_api_key]
site: datadoghq.eu
hostname: {R.choice(HOSTS)}
secret_backend_command: /srv/datadog/secret-helper.sh
logs_enabled: true
"""
        p = C.pick(lambda: f"srv/datadog/{R.choice(['datadog.yaml', 'conf/datadog.yaml'])}")
        C.add(p, body, 0, cat)

    def csharp_integrated():
        body = f"""namespace Payroll.Data
{{
    public static class Db
    {{
        public const string ConnectionString =
            "Server={R.choice(HOSTS)}.{INTERNAL};Database=Payroll;Integrated Security=True;TrustServerCertificate=True";
    }}
}}
"""
        p = C.pick(lambda: f"{proj_root('payroll')}/src/Payroll.Data/{R.choice(['Db.cs', 'Database.cs'])}")
        C.add(p, body, 0, cat, crlf=True)

    def rust_env_token():
        body = """use std::env;

pub fn postmark_token() -> String {
    env::var("POSTMARK_SERVER_TOKEN").expect("POSTMARK_SERVER_TOKEN must be set")
}

pub fn sender() -> String {
    env::var("MAIL_FROM").unwrap_or_else(|_| "rechnung@localhost".into())
}
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['invoicer', 'billing-api']))}/src/{R.choice(['mail.rs', 'config.rs'])}")
        C.add(p, body, 0, cat)

    def iam_policy():
        acct = digits(12)
        doc = {"Version": "2012-10-17", "Statement": [
            {"Sid": "Uploads", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
             "Resource": ["arn:aws:s3:::bf-exports-eu/*"]},
            {"Sid": "Kms", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
             "Resource": f"arn:aws:kms:eu-central-1:{acct}:key/{ruuid()}"},
            {"Sid": "AssumeFromCi", "Effect": "Allow", "Action": "sts:AssumeRole",
             "Resource": f"arn:aws:iam::{acct}:role/ci-deployer"}]}
        p = C.pick(lambda: f"{proj_root('infra')}/{R.choice(['iam', 'policies', 'terraform/policies'])}/{R.choice(['uploader.json', 'ci-policy.json', 'exports-rw.json'])}")
        C.add(p, json.dumps(doc, indent=2) + "\n", 0, cat)

    def cargo_lock():
        out = ["# This file is automatically @generated by Cargo.", "# It is not intended for manual editing.", "version = 3", ""]
        for name in R.sample(["serde", "tokio", "reqwest", "anyhow", "tracing", "clap", "chrono", "uuid",
                              "rand", "bytes", "hyper", "axum", "sqlx", "thiserror"], 10):
            out += ["[[package]]", f'name = "{name}"', f'version = "{R.randrange(0, 2)}.{R.randrange(1, 40)}.{R.randrange(0, 20)}"',
                    'source = "registry+https://github.com/rust-lang/crates.io-index"', f'checksum = "{hexs(64)}"', ""]
        p = C.pick(lambda: f"{proj_root(R.choice(['invoicer', 'tracking-service', 'ops-tools']))}/Cargo.lock")
        C.add(p, "\n".join(out), 0, cat)

    def big_access_log():
        lines = pad_to(lambda n: access_log_lines(n), R.randrange(190_000, 215_000))
        p = C.pick(lambda: f"var/log/nginx/{R.choice(SITES)}-access.log{R.choice(['', '.1'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def big_app_log():
        lines = pad_to(lambda n: filler_log_lines(n, R.choice(["deployer", "ci", "sync"])), R.randrange(190_000, 215_000))
        p = C.pick(lambda: f"{R.choice(['var/log/deployer', 'srv/deployer/logs', 'srv/' + R.choice(PROJECTS) + '/logs'])}/{R.choice(['deploy.log', 'deploy.log.2', 'app.log'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    shapes = [aws_docs, aws_config, aws_cred_process, boto3_profile, tf_vars, gcloud_cfg, appsettings_kv,
              ps_keyvault, gitconfig, gitlab_helper, gitlab_ci, slack_env_node, alertmanager_file,
              stripe_env_php, django_env, npmrc_env, pypirc_keyring, docker_credstore, yaml_dburl_env,
              spring_env, package_lock, sha256sums, git_log, compose_digests, tfstate, kubeconfig_exec,
              caddy_env, openai_env_nb, token_formats_doc, ansible_vault, sops_yaml, sealed_secret,
              maven_env, wp_getenv, arm_params, google_client_id, twilio_env, html_data_uri, trace_log,
              go_env_amqp, confluence_vault, datadog_enc, csharp_integrated, rust_env_token, iam_policy,
              cargo_lock, big_access_log, big_app_log]
    for i in range(n_neg):
        shapes[i % len(shapes)]()


# ================================================================ 3. .env files

def env_place(kind="app", names=None):
    names = names or [".env", ".env", ".env", ".env.production", ".env.prod", ".env.local"]
    if kind.startswith("svc:"):
        svc = kind[4:]

        def place():
            s = svc if svc != "*" else R.choice(["nextcloud", "gitea", "grafana", "minio", "n8n", "paperless",
                                                 "uptime-kuma", "traefik", "portainer", "postgres"])
            return f"{R.choice(['srv', 'opt', 'srv/docker'])}/{s}/{R.choice(names)}"
        return place
    return lambda: f"{proj_root()}/{R.choice(names)}"


def gen_env(C, n_pos, n_neg):
    cat = "dotenv"

    def q(v):
        return R.choice([v, v, f'"{v}"', f"'{v}'"])

    tpl = []

    def t(fn, kind="app", names=None):
        tpl.append((fn, kind, names))

    t(lambda: f"""APP_NAME="Brightfield Shop"
APP_ENV=production
APP_KEY=base64:{b64(rbytes(32))}
APP_DEBUG=false
APP_URL=https://shop.{DOMAIN}

LOG_CHANNEL=stack
LOG_LEVEL=warning

DB_CONNECTION=mysql
DB_HOST=127.0.0.1
DB_PORT=3306
DB_DATABASE=shop
DB_USERNAME=shop
DB_PASSWORD={q(human_password())}

REDIS_HOST=127.0.0.1
REDIS_PASSWORD={rs(24)}
REDIS_PORT=6379

MAIL_MAILER=smtp
MAIL_HOST=smtp.eu.mailgun.org
MAIL_PORT=587
MAIL_USERNAME=postmaster@mg.{DOMAIN}
MAIL_PASSWORD={hexs(32)}-{hexs(8)}-{hexs(8)}
MAIL_FROM_ADDRESS="shop@{DOMAIN}"
""")
    t(lambda: f"""DEBUG=False
DJANGO_SECRET_KEY={q(secret_key(50))}
ALLOWED_HOSTS=portal.{DOMAIN}
DATABASE_URL=postgres://portal:{rs(20)}@{host()}:5432/portal
CELERY_BROKER_URL=redis://localhost:6379/0
""")
    t(lambda: f"""NODE_ENV=production
PORT=3000
MONGO_URI=mongodb://tracking:{human_password()}@{host()}:27017/tracking?authSource=admin
JWT_SECRET={rs(48)}
JWT_EXPIRES_IN=12h
SESSION_SECRET={hexs(64)}
""")
    t(lambda: f"""RAILS_ENV=production
RAILS_LOG_TO_STDOUT=1
SECRET_KEY_BASE={hexs(128)}
DATABASE_URL=postgresql://portal:{human_password()}@{host()}/portal_production
RAILS_MAX_THREADS=5
""")
    t(lambda: f"""###> symfony/framework-bundle ###
APP_ENV=prod
APP_SECRET={hexs(32)}
###< symfony/framework-bundle ###

###> doctrine/doctrine-bundle ###
DATABASE_URL="mysql://intranet:{rs(18)}@127.0.0.1:3306/intranet?serverVersion=8.0.32&charset=utf8mb4"
###< doctrine/doctrine-bundle ###

###> symfony/mailer ###
MAILER_DSN=smtp://intranet%40{DOMAIN}:{human_password().replace('@', '%40').replace('#', '%23')}@mail01.{INTERNAL}:587
###< symfony/mailer ###
""", names=[".env.local", ".env.prod.local", ".env.local"])
    t(lambda: f"""POSTGRES_USER=postgres
POSTGRES_PASSWORD={human_password()}
POSTGRES_DB=app
PGADMIN_DEFAULT_EMAIL=admin@{DOMAIN}
PGADMIN_DEFAULT_PASSWORD={human_password()}
TZ=Europe/Berlin
""", kind="svc:postgres")
    t(lambda: f"""NEXTAUTH_URL=https://portal.{DOMAIN}
NEXTAUTH_SECRET={b64(rbytes(32))}
GITHUB_ID=Iv1.{hexs(16)}
GITHUB_SECRET={hexs(40)}
NEXT_PUBLIC_API_URL=https://api.{DOMAIN}
""", names=[".env.local", ".env.production.local", ".env"])
    t(lambda: f"""# production secrets for the checkout service
STRIPE_SECRET_KEY={stripe_key('sk_live_')}
STRIPE_WEBHOOK_SECRET=whsec_{rs(32)}
CHECKOUT_SUCCESS_URL=https://shop.{DOMAIN}/danke
""", names=[".env.production", ".env", ".env.prod"])
    t(lambda: f"""MINIO_ROOT_USER=bfadmin
MINIO_ROOT_PASSWORD={rs(32)}
MINIO_BROWSER_REDIRECT_URL=https://s3-console.{INTERNAL}
""", kind="svc:minio")
    t(lambda: f"""KEYCLOAK_ADMIN=admin
KEYCLOAK_ADMIN_PASSWORD={human_password()}
KC_DB=postgres
KC_DB_URL=jdbc:postgresql://{host()}/keycloak
KC_DB_USERNAME=keycloak
KC_DB_PASSWORD={rs(24)}
KC_HOSTNAME=sso.{DOMAIN}
""", kind="svc:keycloak")
    t(lambda: f"""GF_SERVER_ROOT_URL=https://grafana.{DOMAIN}
GF_SECURITY_ADMIN_USER=admin
GF_SECURITY_ADMIN_PASSWORD={human_password()}
GF_DATABASE_TYPE=postgres
GF_DATABASE_PASSWORD={rs(20)}
GF_SMTP_ENABLED=true
GF_SMTP_HOST=mail01.{INTERNAL}:587
GF_SMTP_PASSWORD={human_password()}
""", kind="svc:grafana")
    t(lambda: f"""MYSQL_ROOT_PASSWORD={rs(28)}
MYSQL_DATABASE=wordpress
MYSQL_USER=wordpress
MYSQL_PASSWORD={human_password()}
WORDPRESS_DB_HOST=db:3306
WORDPRESS_DB_USER=wordpress
WORDPRESS_DB_PASSWORD={human_password()}
""", kind="svc:wordpress")
    t(lambda: f"""# direnv
export AWS_PROFILE=bf-prod
export DATABASE_URL="postgres://analytics:{human_password()}@{host()}:5432/warehouse"
export METABASE_API_KEY="mb_{b64(rbytes(32))}"
layout python3
""", names=[".envrc"])
    t(lambda: f"""# EnvironmentFile for {R.choice(PROJECTS)}.service
LISTEN_ADDR=127.0.0.1:8080
SMTP_HOST=mail01.{INTERNAL}
SMTP_USER=noreply@{DOMAIN}
SMTP_PASSWORD={human_password()}
ENCRYPTION_KEY={hexs(64)}
""", names=["app.env", "service.env", "prod.env"])
    t(lambda: f"""USER_UID=1000
GITEA__database__DB_TYPE=postgres
GITEA__database__HOST=db:5432
GITEA__database__NAME=gitea
GITEA__database__USER=gitea
GITEA__database__PASSWD={rs(24)}
GITEA__security__SECRET_KEY={rs(64)}
GITEA__security__INTERNAL_TOKEN={hs256_jwt({'nbf': int(rdate(2023, 2024).timestamp())}, rs(32))}
""", kind="svc:gitea")
    t(lambda: f"""N8N_HOST=n8n.{DOMAIN}
N8N_PROTOCOL=https
N8N_ENCRYPTION_KEY={rs(32)}
DB_TYPE=postgresdb
DB_POSTGRESDB_HOST=postgres
DB_POSTGRESDB_PASSWORD={human_password()}
GENERIC_TIMEZONE=Europe/Berlin
""", kind="svc:n8n")

    def supabase():
        jwt_secret = rs(40)
        now = int(rdate(2024, 2025).timestamp())
        return f"""POSTGRES_PASSWORD={rs(32)}
JWT_SECRET={jwt_secret}
ANON_KEY={hs256_jwt({'role': 'anon', 'iss': 'supabase', 'iat': now, 'exp': now + 157680000}, jwt_secret)}
SERVICE_ROLE_KEY={hs256_jwt({'role': 'service_role', 'iss': 'supabase', 'iat': now, 'exp': now + 157680000}, jwt_secret)}
DASHBOARD_USERNAME=supabase
DASHBOARD_PASSWORD={human_password()}
SITE_URL=https://app.{DOMAIN}
"""
    t(supabase, kind="svc:supabase")
    t(lambda: f"""MM_SQLSETTINGS_DRIVERNAME=postgres
MM_SQLSETTINGS_DATASOURCE=postgres://mmuser:{rs(22)}@postgres:5432/mattermost?sslmode=disable&connect_timeout=10
MM_SERVICESETTINGS_SITEURL=https://chat.{DOMAIN}
""", kind="svc:mattermost")
    t(lambda: f"""RABBITMQ_DEFAULT_USER=bf
RABBITMQ_DEFAULT_PASS={human_password()}
RABBITMQ_ERLANG_COOKIE={rs(20, UPPER)}
""", kind="svc:rabbitmq")
    t(lambda: f"""NEXTCLOUD_ADMIN_USER=admin
NEXTCLOUD_ADMIN_PASSWORD={human_password()}
NEXTCLOUD_TRUSTED_DOMAINS=cloud.{DOMAIN}
MYSQL_PASSWORD={rs(24)}
REDIS_HOST_PASSWORD={rs(32)}
""", kind="svc:nextcloud")
    t(lambda: f"""DOMAIN=https://vault.{DOMAIN}
SIGNUPS_ALLOWED=false
ADMIN_TOKEN={b64(rbytes(48))}
SMTP_HOST=mail01.{INTERNAL}
SMTP_USERNAME=vaultwarden@{DOMAIN}
SMTP_PASSWORD={human_password()}
""", kind="svc:vaultwarden")
    t(lambda: f"""PAPERLESS_URL=https://docs.{DOMAIN}
PAPERLESS_SECRET_KEY={secret_key(60)}
PAPERLESS_DBHOST=db
PAPERLESS_DBPASS={rs(20)}
PAPERLESS_OCR_LANGUAGE=deu+eng
PAPERLESS_TIME_ZONE=Europe/Berlin
""", kind="svc:paperless")
    t(lambda: f"""FLASK_APP=app
FLASK_SECRET_KEY={hexs(48)}
SQLALCHEMY_DATABASE_URI=mysql+pymysql://hr:{human_password()}@{host()}/hr
""")
    t(lambda: f"""BOT_TOKEN={telegram_token()}
ADMIN_CHAT_ID={digits(9)}
ADMIN_PASSWORD={human_password()}
""")
    t(lambda: f"""# shared by all workers
PIPELINE_ENV=prod
SNOWFLAKE_ACCOUNT={rs(7, UPPER)}-{rs(7, UPPER)}
SNOWFLAKE_USER=ETL
SNOWFLAKE_PASSWORD={human_password()}
SFTP_PASSWORD={rs(16)}
""")
    t(lambda: f"""  # keep in sync with the vault entry
export API_KEY={hexs(40)}
export DB_PASS='{human_password()}'
export LOG_LEVEL=info
""", names=[".env", "secrets.env", ".env.prod"])

    for i in range(n_pos):
        fn, kind, names = tpl[i % len(tpl)]
        p = C.pick(env_place(kind, names))
        C.add(p, fn(), 1, cat)

    # ------------------------------------------------------------ look-alikes
    neg = []

    def n(fn, kind="app", names=None):
        neg.append((fn, kind, names))

    EX = [".env.example", ".env.sample", ".env.dist", ".env.template", "example.env"]
    n(lambda: """APP_NAME=Laravel
APP_ENV=local
APP_KEY=
APP_DEBUG=true
APP_URL=http://localhost

DB_CONNECTION=mysql
DB_HOST=127.0.0.1
DB_PORT=3306
DB_DATABASE=laravel
DB_USERNAME=root
DB_PASSWORD=

REDIS_PASSWORD=null
MAIL_USERNAME=null
MAIL_PASSWORD=null
""", names=EX)
    n(lambda: """DEBUG=True
DJANGO_SECRET_KEY=your-secret-key-here
DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME
""", names=EX)
    n(lambda: """NODE_ENV=development
PORT=3000
MONGO_URI=mongodb://localhost:27017/tracking
JWT_SECRET=<generate with: openssl rand -hex 32>
SESSION_SECRET=<random string>
""", names=EX)
    n(lambda: f"""TZ=Europe/Berlin
PUID=1000
PGID=1000
DOMAIN={DOMAIN}
IMAGE_TAG={R.randrange(1, 4)}.{R.randrange(0, 20)}.{R.randrange(0, 9)}
HTTP_PORT=8080
LOG_LEVEL=info
""", kind="svc:*", names=[".env"])
    n(lambda: """POSTGRES_USER=app
POSTGRES_DB=app
DATABASE_URL=postgres://app:${POSTGRES_PASSWORD}@db:5432/app
REDIS_URL=redis://:${REDIS_PASSWORD}@redis:6379/0
SMTP_PASSWORD=${SMTP_PASSWORD}
""", names=[".env", ".env.production"])
    n(lambda: """# resolved by `op run --env-file=.env -- npm start`
DATABASE_URL="op://Production/shop-db/connection-string"
STRIPE_SECRET_KEY="op://Production/Stripe/secret key"
JWT_SECRET="op://Production/shop-jwt/password"
""", names=[".env", ".env.tpl", ".env.production"])
    n(lambda: """POSTGRES_USER=app
POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password
GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana_admin
SECRET_KEY_FILE=/run/secrets/app_secret_key
""", kind="svc:grafana", names=[".env"])

    def sops_env():
        def enc(k):
            return f"ENC[AES256_GCM,data:{b64(rbytes(k))},iv:{b64(rbytes(32))},tag:{b64(rbytes(16))},type:str]"
        return (f"DB_PASSWORD={enc(18)}\nJWT_SECRET={enc(32)}\nSMTP_PASSWORD={enc(14)}\n"
                f"sops_age__list_0__map_recipient=age1{rs(58, LOWER + DIGITS)}\n"
                f"sops_lastmodified={iso()}\nsops_mac={enc(32)}\nsops_unencrypted_suffix=_unencrypted\nsops_version=3.8.1\n")
    n(sops_env, names=[".env.enc", ".env", "secrets.env"])
    n(lambda: """DB_PASSWORD=vault:secret/data/shop/db#password
JWT_SECRET=vault:secret/data/shop/jwt#secret
STRIPE_SECRET_KEY=vault:secret/data/shop/stripe#secret_key
""", names=[".env", ".env.production"])
    n(lambda: """DB_PASSWORD=@Microsoft.KeyVault(SecretUri=https://kv-bf-prod.vault.azure.net/secrets/db-password/)
GRAPH_CLIENT_SECRET=@Microsoft.KeyVault(VaultName=kv-bf-prod;SecretName=graph-client-secret)
WEBSITE_RUN_FROM_PACKAGE=1
""", names=[".env", "app.env"])
    n(lambda: f"""NEXT_PUBLIC_API_URL=https://api.{DOMAIN}
NEXT_PUBLIC_SITE_NAME="Brightfield Kundenportal"
NEXT_PUBLIC_SENTRY_ENVIRONMENT=production
NEXT_PUBLIC_BUILD_ID={hexs(12)}
""", names=[".env.production", ".env", ".env.local"])
    n(lambda: """PASSWORD_MIN_LENGTH=12
PASSWORD_RESET_TOKEN_TTL=3600
SECRET_ROTATION_DAYS=90
SESSION_TIMEOUT_MINUTES=30
API_KEY_HEADER=X-Api-Key
TOKEN_ISSUER=https://auth.example.internal
""", names=[".env", "app.env"])
    n(lambda: """export AWS_PROFILE=bf-prod
export KUBECONFIG=$HOME/.kube/bf-prod.yaml
export DATABASE_URL="$(op read op://Production/warehouse/connection-string)"
dotenv_if_exists .env.local
layout python3
""", names=[".envrc"])
    n(lambda: """###> symfony/framework-bundle ###
APP_ENV=dev
APP_SECRET=
###< symfony/framework-bundle ###

###> doctrine/doctrine-bundle ###
DATABASE_URL="postgresql://app:!ChangeMe!@127.0.0.1:5432/app?serverVersion=16&charset=utf8"
###< doctrine/doctrine-bundle ###

###> symfony/mailer ###
MAILER_DSN=null://null
###< symfony/mailer ###
""", names=[".env"])
    n(lambda: f"""# EnvironmentFile for {R.choice(PROJECTS)}.service
LISTEN_ADDR=127.0.0.1:8080
DATA_DIR=/srv/app/data
TLS_CERT=/srv/app/tls/server.crt
TLS_KEY=/srv/app/tls/server.key
WORKERS=4
""", names=["app.env", "service.env", "prod.env"])
    n(lambda: """# secrets are injected by the CI pipeline (GitLab CI/CD variables)
DB_HOST=db
DB_USER=app
DB_PASSWORD=
STRIPE_SECRET_KEY=
JWT_SECRET=
""", names=[".env", ".env.ci"])
    n(lambda: f"""AZURE_TENANT_ID={ruuid()}
AZURE_CLIENT_ID={ruuid()}
AZURE_CLIENT_SECRET=
AZURE_SUBSCRIPTION_ID={ruuid()}
""", names=[".env", ".env.local"])
    n(lambda: """NEXTAUTH_URL=http://localhost:3000
# generate: openssl rand -base64 32
NEXTAUTH_SECRET=
GITHUB_ID=
GITHUB_SECRET=
""", names=EX)
    n(lambda: """GITEA__database__PASSWD=${GITEA_DB_PASSWORD}
GITEA__security__SECRET_KEY=${GITEA_SECRET_KEY}
GITEA__server__ROOT_URL=https://git.example.com/
""", kind="svc:gitea", names=[".env"])
    n(lambda: """MINIO_ROOT_USER=minioadmin
MINIO_ROOT_PASSWORD=CHANGE_ME_TO_A_LONG_RANDOM_STRING
""", kind="svc:minio", names=EX)
    n(lambda: f"""KEYCLOAK_ADMIN=admin
KEYCLOAK_ADMIN_PASSWORD=${{KC_ADMIN_PASSWORD:?set KC_ADMIN_PASSWORD}}
KC_DB_PASSWORD=${{KC_DB_PASSWORD:?}}
KC_HOSTNAME=sso.{DOMAIN}
""", kind="svc:keycloak", names=[".env"])
    n(lambda: f"""# build metadata written by CI
GIT_COMMIT={hexs(40)}
BUILD_ID={ruuid()}
IMAGE_DIGEST=sha256:{hexs(64)}
BUILD_DATE={iso()}
""", names=[".env.build", ".env"])
    n(lambda: """STRIPE_SECRET_KEY=sk_live_your_key_here
STRIPE_WEBHOOK_SECRET=whsec_your_webhook_secret
CHECKOUT_SUCCESS_URL=https://shop.example.com/thanks
""", names=EX)
    n(lambda: """# Telegram bot – copy to .env and fill in
BOT_TOKEN=123456789:replace-with-token-from-botfather
ADMIN_CHAT_ID=
""", names=EX)

    for i in range(n_neg):
        fn, kind, names = neg[i % len(neg)]
        p = C.pick(env_place(kind, names))
        C.add(p, fn(), 0, cat)


# ================================================================ 4. payment cards

def shipments_sql_rows(n):
    out = []
    for _ in range(n):
        d = rdate(2023, 2025)
        out.append(f"({R.randrange(10000, 999999)},'BF{digits(9)}','{d.strftime('%Y-%m-%d %H:%M:%S')}',"
                   f"'{R.choice(['DE', 'AT', 'NL', 'FR', 'PL', 'CH'])}','{R.choice(['delivered', 'in_transit', 'returned', 'created'])}',"
                   f"{R.randrange(100, 30000) / 100:.2f},{R.randrange(1, 12)})")
    return out


def gen_cards(C, n_pos, n_neg):
    cat = "payment_card"

    def orders_csv():
        rows = [["order_id", "created_at", "customer", "email", "card_type", "card_number", "exp", "amount_eur"]]
        for _ in range(R.randrange(8, 30)):
            kind = R.choice(["visa", "mc", "amex", "mc2", "discover"])
            pr = people(1)[0]
            rows.append([f"{R.randrange(100000, 999999)}", ts(rdate(2018, 2020)), pr.name, pr.email,
                         {"visa": "VISA", "mc": "MasterCard", "mc2": "MasterCard", "amex": "AMEX", "discover": "Discover"}[kind],
                         fmt_card(card(kind), R.choice(["plain", "space"])), expiry(), f"{R.randrange(900, 90000) / 100:.2f}"])
        p = C.pick(lambda: f"{R.choice([docs_dir(), 'srv/backups/shop-legacy', 'srv/files/shared/Vertrieb/exporte'])}/{R.choice(['orders_2019.csv', 'bestellungen_export.csv', 'oscommerce_orders.csv', 'orders_full.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 1, cat)

    def sql_payments():
        lines = ["-- MySQL dump 10.13  Distrib 5.7.42, for Linux (x86_64)", "--",
                 f"-- Host: localhost    Database: shop_legacy", "-- ------------------------------------------------------", "",
                 "DROP TABLE IF EXISTS `payments`;",
                 "CREATE TABLE `payments` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `order_id` int(11) NOT NULL,\n"
                 "  `cc_owner` varchar(64) DEFAULT NULL,\n  `cc_number` varchar(32) DEFAULT NULL,\n  `cc_expires` varchar(4) DEFAULT NULL,\n"
                 "  `amount` decimal(10,2) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8;", "",
                 "LOCK TABLES `payments` WRITE;"]
        vals = []
        for i in range(R.randrange(6, 25)):
            pr = people(1)[0]
            vals.append(f"({i + 1},{R.randrange(10000, 99999)},'{pr.name.replace(chr(39), chr(39) * 2)}','{card()}','{R.randrange(1, 13):02d}{R.randrange(19, 24)}',{R.randrange(900, 90000) / 100:.2f})")
        lines.append("INSERT INTO `payments` VALUES " + ",".join(vals) + ";")
        lines += ["UNLOCK TABLES;", ""]
        p = C.pick(lambda: f"{R.choice(['srv/backups/mysql', 'root/backups', 'home/' + user() + '/dumps'])}/{R.choice(['shop_legacy.sql', 'payments.sql', 'shop_legacy-2019-11-30.sql'])}")
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def gateway_log():
        start = rdate(2021, 2024)
        lines = filler_log_lines(R.randrange(20, 60), "payment", start)
        num = card()
        req = json.dumps({"merchant": "BF-HAM-01", "amount": R.randrange(500, 90000), "currency": "EUR",
                          "card": {"pan": num, "expiry": expiry().replace("/", ""), "holder": people(1)[0].name}})
        lines.insert(R.randrange(5, len(lines)), f"{ts(start)},331 DEBUG [payment] gateway request body={req}")
        p = C.pick(lambda: f"{R.choice(['var/log/payment', 'srv/billing-api/logs', 'opt/billing-api/log'])}/{R.choice(['gateway.log', 'payment-debug.log', 'gateway.log.1'])}")
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def customer_email():
        cu, st = people(1)[0], staff()
        body = f"""Guten Tag,

wie telefonisch besprochen hier meine Kreditkartendaten für die Expresssendung
(Auftrag {R.randrange(100000, 999999)}):

Karteninhaber: {cu.name}
Kartennummer: {fmt_card(card(R.choice(['visa', 'mc'])))}
Gültig bis: {expiry()}
Prüfziffer: {digits(3)}

Bitte buchen Sie den Betrag von {R.randrange(40, 900)},00 EUR ab.

Mit freundlichen Grüßen
{cu.name}
"""
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['INBOX', 'Kunden', 'Archiv'])}/{rdate(2022, 2025).strftime('%Y%m%d')}-{R.choice(['zahlung', 'kreditkarte', 'expressauftrag'])}.eml")
        C.add(p, eml(f"{cu.name} <{cu.email}>", f"{st.name} <{st.email}>", "Zahlung Expressauftrag", body), 1, cat)

    def notes_txt():
        a = card("amex")
        v = card("visa")
        body = f"""Firmenkarten
============

Amex Business (Geschäftsführung)
  {fmt_card(a, 'space')}   exp {expiry()}   CVC {digits(4)}
  -> AWS, Hetzner, Google Workspace

Visa Corporate (Einkauf)
  {fmt_card(v)}   exp {expiry()}
  -> Amazon Business, Bahn

Hotline Sperrung: 116 116
"""
        p = C.pick(lambda: f"{docs_dir()}/{R.choice(['firmenkarten.txt', 'Kreditkarten.txt', 'karten.txt', 'notes.txt'])}")
        C.add(p, body, 1, cat)

    def wiki_md():
        rows = "\n".join(f"| {pr.name} | {R.choice(['Visa', 'Mastercard'])} | {fmt_card(card(R.choice(['visa', 'mc'])))} | {expiry()} | {R.choice(['1.000', '2.500', '5.000'])} € |"
                         for pr in people(R.randrange(3, 7), DOMAIN))
        body = f"""# Firmenkreditkarten

Stand: {rdate(2024, 2025).strftime('%d.%m.%Y')}, gepflegt von der Buchhaltung.

| Inhaber | Typ | Nummer | Gültig bis | Limit |
|---|---|---|---|---|
{rows}

Verlust sofort an buchhaltung@{DOMAIN} melden.
"""
        p = C.pick(lambda: f"srv/files/shared/{R.choice(['Buchhaltung', 'Management'])}/{R.choice(['Firmenkreditkarten.md', 'kreditkarten.md', 'wiki/Firmenkarten.md'])}")
        C.add(p, body, 1, cat)

    def expenses_csv():
        rows = [["Datum", "Mitarbeiter", "Zweck", "Betrag", "Karte"]]
        cards = {pr.name: card(R.choice(["visa", "mc", "amex"])) for pr in people(3, DOMAIN)}
        for _ in range(R.randrange(10, 40)):
            nm = R.choice(list(cards))
            rows.append([rdate(2024, 2025).strftime("%d.%m.%Y"), nm, R.choice(["Hotel", "Bahn", "Taxi", "Bewirtung", "Flug"]),
                         f"{R.randrange(900, 90000) / 100:.2f}".replace(".", ","), fmt_card(cards[nm], R.choice(["space", "plain"]))])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Buchhaltung/Reisekosten', docs_dir()])}/{R.choice(['reisekosten_2024.csv', 'spesen_q3.csv', 'Reisekosten-Export.csv'])}")
        C.add(p, "\n".join(csv_line(r, ";") for r in rows) + "\n", 1, cat, crlf=True)

    def receipt_html():
        pr = people(1)[0]
        body = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Auftragsbestätigung {R.randrange(100000, 999999)}</title></head>
<body>
<h2>Vielen Dank für Ihren Auftrag, {pr.name}!</h2>
<table>
<tr><td>Leistung</td><td>Express-Palettenversand</td></tr>
<tr><td>Betrag</td><td>{R.randrange(90, 900)},00 EUR</td></tr>
<tr><td>Zahlart</td><td>Kreditkarte</td></tr>
<tr><td>Kartennummer</td><td>{fmt_card(card())}</td></tr>
<tr><td>Gültig bis</td><td>{expiry()}</td></tr>
</table>
</body></html>
"""
        p = C.pick(lambda: f"{R.choice(['var/www/shop/storage/confirmations', 'srv/shopfront/storage/mails', 'var/www/kundenportal/archive'])}/{R.randrange(100000, 999999)}.html")
        C.add(p, body, 1, cat)

    def customers_json():
        out = []
        for pr in people(R.randrange(3, 12)):
            out.append({"id": R.randrange(1000, 99999), "name": pr.name, "city": R.choice(["Hamburg", "Berlin", "Köln", "Wien", "Zürich"]),
                        "payment": {"type": "card", "number": card(), "expires": expiry()}})
        p = C.pick(lambda: f"{proj_root(R.choice(['crm-sync', 'shopfront', 'billing-api']))}/{R.choice(['fixtures', 'data', 'exports'])}/{R.choice(['customers.json', 'customers_prod.json', 'export.json'])}")
        C.add(p, json.dumps(out, indent=2, ensure_ascii=False) + "\n", 1, cat)

    def slack_export():
        pr = staff()
        msgs = []
        t0 = rdate(2023, 2025).timestamp()
        for txt in ["Kann jemand den Kunden für die Nachbelastung anrufen?",
                    f"hab die Karte vom Kunden: {fmt_card(card())} {expiry()} – bitte einmal {R.randrange(30, 300)} € nachbelasten",
                    "erledigt 👍"]:
            t0 += R.randrange(30, 900)
            msgs.append({"type": "message", "user": "U0" + rs(8, UPPER + DIGITS), "text": txt, "ts": f"{t0:.6f}",
                         "user_profile": {"real_name": pr.name}})
        p = C.pick(lambda: f"srv/files/shared/IT/slack-export/{R.choice(['buchhaltung', 'kundenservice', 'vertrieb'])}/{rdate(2023, 2025).strftime('%Y-%m-%d')}.json")
        C.add(p, json.dumps(msgs, indent=4, ensure_ascii=False) + "\n", 1, cat)

    def php_error_log():
        lines = []
        t = rdate(2020, 2023)
        for _ in range(R.randrange(5, 20)):
            t += dt.timedelta(minutes=R.randrange(1, 300))
            lines.append(f"[{t.strftime('%d-%b-%Y %H:%M:%S')} Europe/Berlin] PHP Notice:  Undefined index: ref in /var/www/shop/checkout.php on line {R.randrange(20, 400)}")
        post = (f"Array\n(\n    [cc_owner] => {people(1)[0].name}\n    [cc_number] => {fmt_card(card(), R.choice(['plain', 'space']))}\n"
                f"    [cc_expires_month] => {R.randrange(1, 13):02d}\n    [cc_expires_year] => 20{R.randrange(25, 30)}\n    [cc_cvv] => {digits(3)}\n)")
        lines.insert(R.randrange(1, len(lines)), f"[{t.strftime('%d-%b-%Y %H:%M:%S')} Europe/Berlin] PHP Warning:  payment failed, POST was: {post}")
        p = C.pick(lambda: f"var/www/{R.choice(['shop', 'shop.' + DOMAIN, 'kundenportal'])}/{R.choice(['logs', 'storage/logs', ''])}/php_errors.log".replace("//", "/"))
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def py_manual_charge():
        body = f'''"""One-off: re-run the failed charge for order {R.randrange(100000, 999999)} (customer called)."""
from legacy_gateway import Gateway

gw = Gateway(merchant_id="BF-HAM-01")
result = gw.charge(
    card_number="{card()}",
    expiry="{expiry()}",
    cvc="{digits(3)}",
    amount_cents={R.randrange(1000, 90000)},
    reference="NACHBELASTUNG",
)
print(result)
'''
        p = C.pick(lambda: f"{R.choice(['home/' + user() + '/scripts', 'srv/billing-api/scripts', 'root/scripts'])}/{R.choice(['manual_charge.py', 'recharge_order.py', 'fix_payment.py'])}")
        C.add(p, body, 1, cat)

    def xml_booking():
        pr = people(1)[0]
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<Booking id="{R.randrange(100000, 999999)}" created="{iso()}">
  <Customer>
    <Name>{pr.name}</Name>
    <Email>{pr.email}</Email>
  </Customer>
  <Service code="EXP-PAL" weightKg="{R.randrange(50, 900)}"/>
  <Payment method="CreditCard">
    <CardHolder>{pr.name}</CardHolder>
    <CardNumber>{card()}</CardNumber>
    <ExpiryDate>{expiry()}</ExpiryDate>
  </Payment>
</Booking>
"""
        p = C.pick(lambda: f"{R.choice(['srv/edi/inbound/processed', 'opt/booking-gateway/archive', 'srv/files/edi/archiv'])}/{R.choice(['booking', 'BKG'])}_{digits(8)}.xml")
        C.add(p, body, 1, cat)

    def java_log():
        lines = filler_log_lines(R.randrange(20, 50), "billing")
        num = card()
        exc = [f"{ts()} ERROR [billing] c.b.billing.PaymentService - charge failed",
               f"de.brightfield.billing.PaymentDeclinedException: Card {num} declined (code 05)",
               "\tat de.brightfield.billing.PaymentService.charge(PaymentService.java:142)",
               "\tat de.brightfield.billing.InvoiceJob.run(InvoiceJob.java:88)"]
        i = R.randrange(3, len(lines))
        lines[i:i] = exc
        p = C.pick(lambda: f"{R.choice(['opt/billing-api/logs', 'srv/warehouse-app/logs', 'var/log/billing'])}/{R.choice(['billing.log', 'application.log', 'billing.log.2'])}")
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def pos_tsv():
        rows = [["terminal", "datetime", "pan", "amount", "auth_code"]]
        for _ in range(R.randrange(10, 40)):
            rows.append([f"T{digits(6)}", ts(rdate(2022, 2023)), card(R.choice(["visa", "mc", "mc2", "jcb", "diners", "discover"])),
                         f"{R.randrange(100, 50000) / 100:.2f}", rs(6, UPPER + DIGITS)])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Buchhaltung/Terminal', docs_dir()])}/{R.choice(['terminal_export.tsv', 'kartenumsaetze.tsv', 'pos_2022.tsv'])}")
        C.add(p, "\n".join("\t".join(r) for r in rows) + "\n", 1, cat)

    def big_log():
        start = rdate(2024, 2024)
        before = pad_to(lambda n: filler_log_lines(n, "checkout", start), R.randrange(150_000, 180_000))
        after = pad_to(lambda n: filler_log_lines(n, "checkout", start + dt.timedelta(hours=4)), R.randrange(20_000, 40_000))
        leak = [f"{ts(start + dt.timedelta(hours=3))},555 WARN  [checkout] 3DS fallback for card {fmt_card(card())} exp {expiry()} order={R.randrange(100000, 999999)}"]
        p = C.pick(lambda: f"{R.choice(['var/log/checkout', 'srv/shopfront/logs', 'opt/shopfront/log'])}/{R.choice(['checkout.log', 'checkout.log.1', 'app.log'])}")
        C.add(p, "\n".join(before + leak + after) + "\n", 1, cat)

    def transcript():
        pr = people(1)[0]
        body = f"""Voicemail-Transkript ({rdate(2023, 2025).strftime('%d.%m.%Y %H:%M')}), Anrufer {phone()}

"Ja hallo, hier ist {pr.name}, es geht um die Abholung morgen. Sie wollten noch
die Kreditkarte haben. Die Nummer ist {fmt_card(card(R.choice(['visa', 'mc'])), 'space')}, gültig bis {expiry()}.
Rufen Sie mich gern zurück. Danke, tschüss."
"""
        p = C.pick(lambda: f"srv/files/shared/Vertrieb/voicemail/{rdate(2023, 2025).strftime('%Y%m%d')}_{digits(4)}.txt")
        C.add(p, body, 1, cat)

    def nb_transactions():
        rows = "\n".join(f"{i:>3}  {card():<19}  {R.randrange(100, 90000) / 100:>9.2f}  {R.choice(['DE', 'AT', 'FR', 'US'])}" for i in range(R.randrange(5, 12)))
        cells = [("markdown", "# Chargeback-Analyse", None),
                 ("code", "import pandas as pd\ndf = pd.read_csv('chargebacks_2023.csv')\nprint(df[['pan', 'amount', 'country']].head(12).to_string())",
                  "     pan                   amount   country\n" + rows)]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'projects/analytics/notebooks', 'Documents/jupyter'])}/{R.choice(['chargebacks.ipynb', 'fraud_check.ipynb', 'rueckbuchungen.ipynb'])}")
        C.add(p, notebook(cells), 1, cat)

    def big_sql():
        lines = ["-- PostgreSQL database dump", "", "SET statement_timeout = 0;", "SET client_encoding = 'UTF8';", "",
                 "CREATE TABLE public.shipments (id integer NOT NULL, tracking text, created_at timestamp, country text, status text, weight numeric, parcels integer);", ""]
        body = pad_to(lambda n: ["INSERT INTO public.shipments VALUES " + r + ";" for r in shipments_sql_rows(n)], R.randrange(170_000, 200_000))
        tail = ["", "CREATE TABLE public.card_on_file (customer_id integer, holder text, pan text, exp text);",
                f"INSERT INTO public.card_on_file VALUES ({R.randrange(1000, 9999)}, '{people(1)[0].name.replace(chr(39), chr(39) * 2)}', '{card()}', '{expiry()}');",
                ""]
        p = C.pick(lambda: f"{R.choice(['srv/backups/postgres', 'root/backups', 'srv/backup/db'])}/{R.choice(['logistics', 'shop', 'tracking'])}-{rdate(2024, 2025).strftime('%Y%m%d')}.sql")
        C.add(p, "\n".join(lines + body + tail) + "\n", 1, cat)

    def yaml_expense():
        body = f"""# expense-bot config
company: {COMPANY}
approvers:
  - buchhaltung
default_payment:
  type: corporate_card
  holder: {staff().name}
  number: "{fmt_card(card(R.choice(['amex', 'visa'])))}"
  expiry: "{expiry()}"
categories: [travel, hotel, software, hardware]
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['ops-tools', 'intranet']))}/{R.choice(['expense-bot/config.yml', 'config/expenses.yaml'])}")
        C.add(p, body, 1, cat)

    def ps_payment():
        body = f"""# Pay-HostingInvoice.ps1 - monthly hosting invoice via the provider API
$card = @{{
    number = "{card(R.choice(['visa', 'mc']))}"
    exp_month = {R.randrange(1, 13)}
    exp_year = 20{R.randrange(26, 30)}
    cvc = "{digits(3)}"
}}
$body = @{{ invoice = $args[0]; card = $card }} | ConvertTo-Json
Invoke-RestMethod -Method Post -Uri "https://billing.example-hosting.net/api/pay" -Body $body -ContentType "application/json"
"""
        p = C.pick(lambda: f"{R.choice(['srv/ops-tools/windows', 'home/' + user() + '/projects/infra/windows'])}/{R.choice(['Pay-HostingInvoice.ps1', 'Pay-Invoice.ps1'])}")
        C.add(p, body, 1, cat, crlf=True)

    def tickets_csv():
        rows = [["ticket", "created", "subject", "body"]]
        idx = R.randrange(2, 12)
        for i in range(R.randrange(12, 30)):
            subj = R.choice(["Lieferverzug", "Adresse ändern", "Rechnung fehlt", "Schaden an Sendung"])
            txt = R.choice(["Bitte um Rückruf.", "Paket kam beschädigt an.", "Wo bleibt meine Lieferung?", "Bitte Rechnung erneut senden."])
            if i == idx:
                subj, txt = "Zahlung", f"Bitte buchen Sie von meiner Karte {fmt_card(card())} (gültig {expiry()}) ab, Überweisung klappt nicht."
            rows.append([f"#{R.randrange(10000, 99999)}", ts(rdate(2024, 2025)), subj, txt])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Kundenservice', docs_dir()])}/{R.choice(['tickets_export.csv', 'zendesk_export.csv', 'tickets_q2.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 1, cat)

    def teams_chat():
        a, b = staff(), staff()
        body = f"""[{ts()}] {a.name}: Kunde {people(1)[0].last} hat die Karte durchgegeben
[{ts()}] {a.name}: {fmt_card(card(), 'plain')} {expiry()}
[{ts()}] {b.name}: danke, buche ich gleich
"""
        p = C.pick(lambda: f"{home()}/Documents/{R.choice(['chat-export', 'teams'])}/{R.choice(['kundenservice', 'buchhaltung'])}-{rdate(2024, 2025).strftime('%Y%m%d')}.txt")
        C.add(p, body, 1, cat)

    shapes = [orders_csv, sql_payments, gateway_log, customer_email, notes_txt, wiki_md, expenses_csv,
              receipt_html, customers_json, slack_export, php_error_log, py_manual_charge, xml_booking,
              java_log, pos_tsv, big_log, transcript, nb_transactions, big_sql, yaml_expense, ps_payment,
              tickets_csv, teams_chat]
    for i in range(n_pos):
        shapes[i % len(shapes)]()

    # ------------------------------------------------------------ look-alikes
    def first6_last4(num):
        return num[:6] + "*" * (len(num) - 10) + num[-4:]

    def masked_csv():
        rows = [["order_id", "created_at", "card_brand", "card_masked", "amount_eur", "psp_reference"]]
        for _ in range(R.randrange(10, 40)):
            num = card()
            m = R.choice([first6_last4(num), "************" + num[-4:], "**** **** **** " + num[-4:]])
            rows.append([f"{R.randrange(100000, 999999)}", ts(rdate(2023, 2025)), R.choice(["visa", "mastercard", "amex"]), m,
                         f"{R.randrange(900, 90000) / 100:.2f}", rs(16, UPPER + DIGITS)])
        p = C.pick(lambda: f"{R.choice([docs_dir(), 'srv/files/shared/Vertrieb/exporte', 'srv/files/shared/Buchhaltung'])}/{R.choice(['orders_2024.csv', 'bestellungen_export.csv', 'payments_masked.csv', 'orders_full.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 0, cat)

    def order_numbers():
        rows = [["auftragsnummer", "datum", "kunde_nr", "betrag"]]
        for _ in range(R.randrange(15, 40)):
            rows.append([not_card_digits(16, R.choice("4531")), rdate(2024, 2025).strftime("%d.%m.%Y"), f"K{R.randrange(10000, 99999)}",
                         f"{R.randrange(900, 90000) / 100:.2f}".replace(".", ",")])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Vertrieb', docs_dir()])}/{R.choice(['auftraege_2024.csv', 'auftragsliste.csv', 'orders_sap.csv'])}")
        C.add(p, "\n".join(csv_line(r, ";") for r in rows) + "\n", 0, cat)

    def imei_inventory():
        rows = [["asset_tag", "model", "imei", "assigned_to", "since"]]
        for _ in range(R.randrange(10, 30)):
            tac = R.choice(["35", "86", "01", "35"]) + digits(6)
            imei = luhn_complete(tac, 15)
            rows.append([f"BF-{R.randrange(1000, 9999)}", R.choice(["Zebra TC52", "iPhone 13", "Samsung A54", "Zebra TC21"]), imei,
                         R.choice(["Lager HH", "Fahrer Tour " + str(R.randrange(1, 40)), "Büro"]), rdate(2022, 2025).strftime("%Y-%m-%d")])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/IT/inventar', docs_dir()])}/{R.choice(['handscanner.csv', 'mobile_devices.csv', 'imei_liste.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 0, cat)

    def isbn_list():
        def isbn13():
            while True:
                s = "978" + R.choice("3") + digits(8)
                chk = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s)) % 10) % 10
                v = s + str(chk)
                if not luhn_ok(v):
                    return v
        rows = [f"{isbn13()}\t{R.choice(['Logistikmanagement', 'Lagerwirtschaft', 'Supply Chain Basics', 'Zollrecht kompakt', 'Gefahrgut 2024'])}\t{R.randrange(20, 90)},90"
                for _ in range(R.randrange(10, 30))]
        p = C.pick(lambda: f"srv/files/shared/{R.choice(['Personal/Weiterbildung', 'Management'])}/{R.choice(['buecherliste.tsv', 'fachliteratur.tsv'])}")
        C.add(p, "isbn\ttitel\tpreis\n" + "\n".join(rows) + "\n", 0, cat)

    def ean_catalog(big=False):
        def ean13():
            while True:
                s = "40" + digits(10)
                chk = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s)) % 10) % 10
                v = s + str(chk)
                if not luhn_ok(v):
                    return v

        def rows(n):
            return [csv_line([f"SKU-{R.randrange(10000, 99999)}", ean13(), R.choice(['Palette EUR', 'Stretchfolie 23my', 'Umzugskarton L', 'Klebeband braun', 'Luftpolsterfolie', 'Kantenschutz']),
                              f"{R.randrange(50, 9000) / 100:.2f}", R.randrange(0, 900)]) for _ in range(n)]
        lines = ["sku,ean,bezeichnung,preis,bestand"] + (pad_to(rows, R.randrange(190_000, 210_000)) if big else rows(R.randrange(20, 60)))
        p = C.pick(lambda: f"{R.choice(['srv/warehouse-app/import', 'srv/files/shared/Einkauf', proj_root('warehouse-app') + '/data'])}/{R.choice(['artikelstamm.csv', 'katalog.csv', 'products.csv', 'ean_export.csv'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def ts_json_log():
        t = int(rdate(2024, 2025).timestamp() * 1000)
        lines = []
        for _ in range(R.randrange(40, 120)):
            t += R.randrange(10, 50000)
            lines.append(json.dumps({"timestamp": t, "level": "info", "event": R.choice(["scan", "handover", "delivery"]),
                                     "tracking": f"BF{digits(9)}", "device": f"BF-{R.randrange(1000, 9999)}"}))
        p = C.pick(lambda: f"{R.choice(['srv/tracking-service/logs', 'var/log/tracking'])}/{R.choice(['events.log', 'scan-events.jsonl', 'events.log.1'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def stripe_test_doc():
        body = """# Testing the checkout

Use Stripe's documented test cards in the **test** environment only:

| Scenario            | Card number           | Expiry | CVC |
|---------------------|-----------------------|--------|-----|
| Success (Visa)      | 4242 4242 4242 4242   | any future date | any |
| 3-D Secure required | 4000 0027 6000 3184   | any future date | any |
| Declined            | 4000 0000 0000 0002   | any future date | any |
| Mastercard          | 5555 5555 5555 4444   | any future date | any |

These numbers never work in live mode.
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['shopfront', 'billing-api', 'customer-portal']))}/docs/{R.choice(['testing-payments.md', 'checkout.md', 'TESTING.md'])}")
        C.add(p, body, 0, cat)

    def license_keys():
        rows = []
        for _ in range(R.randrange(5, 15)):
            k = not_card_digits(16, R.choice("3456"))
            rows.append(f"{R.choice(['ws', 'nb', 'srv'])}{R.randrange(10, 99)}  {R.choice(['Office 2021', 'Acrobat Std', 'Veeam B&R', 'TeamViewer'])}  {'-'.join(k[i:i + 4] for i in range(0, 16, 4))}")
        p = C.pick(lambda: f"srv/files/shared/IT/{R.choice(['lizenzen.txt', 'licenses.txt', 'inventar/lizenzen.txt'])}")
        C.add(p, "Host  Produkt  Lizenzschlüssel\n" + "\n".join(rows) + "\n", 0, cat)

    def tracking_numbers():
        rows = [["paketnummer", "empfaenger_plz", "status"]]
        for _ in range(R.randrange(20, 60)):
            rows.append([R.choice([f"00340434{digits(12)}", f"JJD{safe_digits(18)}", f"{digits(12)}", f"1Z{rs(6, UPPER + DIGITS)}{digits(10)}"]),
                         digits(5), R.choice(["zugestellt", "unterwegs", "Filiale"])])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Versand', docs_dir()])}/{R.choice(['paketnummern.csv', 'dhl_export.csv', 'sendungen.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 0, cat)

    def sql_tokens():
        vals = []
        for i in range(R.randrange(8, 25)):
            vals.append(f"({i + 1},{R.randrange(10000, 99999)},'pm_{rs(24)}','{R.choice(['visa', 'mastercard', 'amex'])}','{digits(4)}',{R.randrange(1, 13)},{R.randrange(2025, 2030)})")
        body = ("-- PostgreSQL database dump\n\nCREATE TABLE public.payment_methods (id integer, customer_id integer, stripe_pm text, brand text, last4 text, exp_month integer, exp_year integer);\n\n"
                "INSERT INTO public.payment_methods VALUES " + ",\n".join(vals) + ";\n")
        p = C.pick(lambda: f"{R.choice(['srv/backups/postgres', 'root/backups', 'home/' + user() + '/dumps'])}/{R.choice(['payment_methods.sql', 'billing.sql', 'billing-' + rdate(2024, 2025).strftime('%Y%m%d') + '.sql'])}")
        C.add(p, body, 0, cat)

    def masked_gateway_log():
        start = rdate(2024, 2025)
        lines = filler_log_lines(R.randrange(20, 60), "payment", start)
        for _ in range(R.randrange(2, 6)):
            num = card()
            req = json.dumps({"merchant": "BF-HAM-01", "amount": R.randrange(500, 90000), "currency": "EUR",
                              "card": {"bin": num[:6], "last4": num[-4:], "masked": first6_last4(num), "token": "tok_" + rs(24)}})
            lines.insert(R.randrange(0, len(lines)), f"{ts(start)},331 DEBUG [payment] gateway request body={req}")
        p = C.pick(lambda: f"{R.choice(['var/log/payment', 'srv/billing-api/logs', 'opt/billing-api/log'])}/{R.choice(['gateway.log', 'payment-debug.log', 'gateway.log.1'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def loyalty_ids():
        rows = [["kundennummer", "karte", "punkte"]]
        for _ in range(R.randrange(15, 40)):
            rows.append([f"K{R.randrange(10000, 99999)}", fmt_card(luhn_complete(R.choice(["9", "1", "0"]) + digits(3), 16), "space"), R.randrange(0, 5000)])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Vertrieb', proj_root('crm-sync') + '/data'])}/{R.choice(['bonuskarten.csv', 'kundenkarten.csv', 'loyalty_cards.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 0, cat)

    def bank_refs():
        rows = []
        for _ in range(R.randrange(15, 40)):
            rows.append(csv_line([rdate(2024, 2025).strftime("%d.%m.%Y"), f"RE {rdate(2024, 2025).year} {not_card_digits(10)}",
                                  f"Mandatsref. M{digits(8)} Gläubiger-ID DE98ZZZ0{digits(10)}", f"{R.randrange(900, 90000) / 100:.2f}".replace(".", ",")], ";"))
        p = C.pick(lambda: f"srv/files/shared/Buchhaltung/{R.choice(['lastschriften.csv', 'sepa_referenzen.csv', 'einzuege_2024.csv'])}")
        C.add(p, "Datum;Verwendungszweck;Referenz;Betrag\n" + "\n".join(rows) + "\n", 0, cat, crlf=True)

    def bin_table():
        body = "# BIN routing for the payment router\nbins:\n" + "\n".join(
            f"  - prefix: \"{R.choice(['4', '51', '52', '53', '34', '37', '2221'])}{digits(R.randrange(2, 5))}\"\n    acquirer: {R.choice(['adyen', 'stripe', 'worldline'])}"
            for _ in range(R.randrange(6, 14))) + "\n"
        p = C.pick(lambda: f"{proj_root('billing-api')}/config/{R.choice(['bin-routing.yml', 'routing.yaml'])}")
        C.add(p, body, 0, cat)

    def card_ending_email():
        a, b = staff(), staff()
        body = f"""Hallo {b.first},

die Hetzner-Rechnung ging wieder auf die Visa mit Endziffern {digits(4)} (läuft {expiry()} ab).
Kannst du die neue Karte im Portal hinterlegen? Die liegt im Tresor.

Danke
{a.first}
"""
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['INBOX', 'Buchhaltung', 'Archiv'])}/{rdate(2023, 2025).strftime('%Y%m%d')}-{R.choice(['kreditkarte', 'rechnung-hetzner', 'karte'])}.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"{b.name} <{b.email}>", "Kreditkarte Hosting", body), 0, cat)

    def checkout_template():
        body = """<form id="payment" method="post" action="/checkout/pay">
  <label for="cc">Kartennummer</label>
  <input id="cc" name="cc" inputmode="numeric" autocomplete="cc-number" placeholder="1234 5678 9012 3456" maxlength="19">
  <label for="exp">Gültig bis</label>
  <input id="exp" name="exp" autocomplete="cc-exp" placeholder="MM/JJ">
  <label for="cvc">CVC</label>
  <input id="cvc" name="cvc" autocomplete="cc-csc" placeholder="123">
  <button type="submit">Jetzt bezahlen</button>
</form>
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['shopfront', 'customer-portal']))}/{R.choice(['templates/checkout/payment.html', 'resources/views/checkout.html', 'src/partials/card-form.html'])}")
        C.add(p, body, 0, cat)

    def masked_xml():
        num = card()
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<Booking id="{R.randrange(100000, 999999)}" created="{iso()}">
  <Service code="EXP-PAL" weightKg="{R.randrange(50, 900)}"/>
  <Payment method="CreditCard">
    <CardToken>{ruuid()}</CardToken>
    <MaskedPan>{first6_last4(num)}</MaskedPan>
    <Brand>{R.choice(['VISA', 'MASTERCARD'])}</Brand>
  </Payment>
</Booking>
"""
        p = C.pick(lambda: f"{R.choice(['srv/edi/inbound/processed', 'opt/booking-gateway/archive', 'srv/files/edi/archiv'])}/{R.choice(['booking', 'BKG'])}_{digits(8)}.xml")
        C.add(p, body, 0, cat)

    def luhn_fail_fixture():
        body = f'''import pytest

from billing.cards import is_valid_pan

INVALID = [
    "{not_card_digits(16, '4')}",
    "{not_card_digits(16, '5')}",
    "{not_card_digits(15, '3')}",
    "1234567890123456",
]


@pytest.mark.parametrize("pan", INVALID)
def test_rejects_bad_checksum(pan):
    assert not is_valid_pan(pan)
'''
        p = C.pick(lambda: f"{proj_root('billing-api')}/tests/{R.choice(['test_cards.py', 'test_pan_validation.py'])}")
        C.add(p, body, 0, cat)

    def phone_list():
        rows = [f"{R.choice(['Lager Hamburg', 'Lager Köln', 'Disposition', 'Zentrale', 'Werkstatt', 'Pforte', 'Fuhrpark'])}: {phone()}" for _ in range(R.randrange(6, 14))]
        p = C.pick(lambda: f"{docs_dir()}/{R.choice(['telefonliste.txt', 'durchwahlen.txt', 'wichtige-nummern.txt'])}")
        C.add(p, "Telefonliste\n\n" + "\n".join(rows) + "\n", 0, cat)

    def nb_numbers():
        rows = "\n".join(f"{i:>3}  {not_card_digits(16, R.choice('456'))}  {R.randrange(100, 90000) / 100:>9.2f}" for i in range(R.randrange(5, 12)))
        cells = [("markdown", "# Auftragsabgleich SAP / Shop", None),
                 ("code", "import pandas as pd\ndf = pd.read_csv('auftraege.csv', dtype=str)\nprint(df[['auftragsnummer', 'betrag']].head(12).to_string())",
                  "     auftragsnummer        betrag\n" + rows)]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'projects/analytics/notebooks', 'Documents/jupyter'])}/{R.choice(['abgleich.ipynb', 'sap_check.ipynb', 'orders_recon.ipynb'])}")
        C.add(p, notebook(cells), 0, cat)

    shapes = [masked_csv, order_numbers, imei_inventory, isbn_list, lambda: ean_catalog(False), ts_json_log,
              stripe_test_doc, license_keys, tracking_numbers, sql_tokens, masked_gateway_log, loyalty_ids,
              bank_refs, bin_table, card_ending_email, checkout_template, masked_xml, luhn_fail_fixture,
              phone_list, nb_numbers, lambda: ean_catalog(True)]
    for i in range(n_neg):
        shapes[i % len(shapes)]()


# ================================================================ 5. IBANs

BANKS = {"DE": ["Hamburger Sparkasse", "Deutsche Bank", "Commerzbank", "GLS Bank", "ING", "Postbank"],
         "AT": ["Erste Bank", "Bank Austria"], "CH": ["UBS Switzerland AG", "Zürcher Kantonalbank"],
         "FR": ["BNP Paribas", "Société Générale", "La Banque Postale"], "NL": ["ABN AMRO", "ING Bank", "Rabobank"],
         "GB": ["NatWest", "Barclays", "Lloyds"], "BE": ["BNP Paribas Fortis", "KBC"], "ES": ["CaixaBank", "BBVA"],
         "IT": ["Intesa Sanpaolo", "UniCredit"], "PL": ["PKO BP", "mBank"], "IE": ["AIB", "Bank of Ireland"],
         "LU": ["Spuerkeess"], "DK": ["Danske Bank"], "SE": ["SEB"], "NO": ["DNB"], "FI": ["Nordea"], "PT": ["CGD"]}


def bank_name(v):
    return R.choice(BANKS.get(v[:2], ["Bank"]))


def creditor_id():
    """SEPA creditor identifier (public, printed on every mandate); check digits valid."""
    nat = "0" + digits(10)
    chk = 98 - _iban_num(nat + "DE00") % 97
    return f"DE{chk:02d}ZZZ{nat}"


def gen_ibans(C, n_pos, n_neg):
    cat = "iban"

    def invoice_txt():
        v = iban_c(R.choice(["DE", "DE", "AT"]))
        body = f"""{COMPANY}
Hafenstraße {R.randrange(1, 90)}, 20457 Hamburg

RECHNUNG Nr. RE-{rdate(2024, 2025).year}-{R.randrange(1000, 9999)}
Datum: {rdate(2024, 2025).strftime('%d.%m.%Y')}

Pos  Leistung                         Menge   Preis
1    Palettenversand HH -> MUC          {R.randrange(1, 9)}    {R.randrange(80, 400)},00 EUR
2    Avis / Terminzustellung            1     15,00 EUR

Zahlbar innerhalb von 14 Tagen ohne Abzug.

Bankverbindung: {bank_name(v)}
IBAN: {fmt_iban(v)}
BIC: {bic_for(v)}
USt-IdNr.: DE{digits(9)}
"""
        p = C.pick(lambda: f"srv/files/shared/Buchhaltung/Ausgangsrechnungen/{rdate(2024, 2025).year}/RE-{R.randrange(1000, 9999)}.txt")
        C.add(p, body, 1, cat)

    def sepa_xml():
        dbtr = iban_c("DE")
        txs = []
        total = 0
        for pr in people(R.randrange(3, 10)):
            v = iban_c(R.choice(["DE", "DE", "DE", "AT", "NL", "PL", "FR"]))
            amt = R.randrange(180000, 520000) / 100
            total += amt
            txs.append(f"""      <CdtTrfTxInf>
        <PmtId><EndToEndId>LOHN-{rdate(2024, 2025).strftime('%Y%m')}-{R.randrange(100, 999)}</EndToEndId></PmtId>
        <Amt><InstdAmt Ccy="EUR">{amt:.2f}</InstdAmt></Amt>
        <Cdtr><Nm>{pr.name}</Nm></Cdtr>
        <CdtrAcct><Id><IBAN>{v}</IBAN></Id></CdtrAcct>
        <RmtInf><Ustrd>Gehalt {rdate(2024, 2025).strftime('%m/%Y')}</Ustrd></RmtInf>
      </CdtTrfTxInf>""")
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">
  <CstmrCdtTrfInitn>
    <GrpHdr>
      <MsgId>BF{digits(12)}</MsgId>
      <CreDtTm>{iso()}</CreDtTm>
      <NbOfTxs>{len(txs)}</NbOfTxs>
      <CtrlSum>{total:.2f}</CtrlSum>
      <InitgPty><Nm>{COMPANY}</Nm></InitgPty>
    </GrpHdr>
    <PmtInf>
      <PmtInfId>LOHN-{digits(6)}</PmtInfId>
      <PmtMtd>TRF</PmtMtd>
      <ReqdExctnDt><Dt>{rdate(2024, 2025).strftime('%Y-%m-%d')}</Dt></ReqdExctnDt>
      <Dbtr><Nm>{COMPANY}</Nm></Dbtr>
      <DbtrAcct><Id><IBAN>{dbtr}</IBAN></Id></DbtrAcct>
      <DbtrAgt><FinInstnId><BICFI>{bic_for(dbtr)}</BICFI></FinInstnId></DbtrAgt>
{chr(10).join(txs)}
    </PmtInf>
  </CstmrCdtTrfInitn>
</Document>
"""
        p = C.pick(lambda: f"srv/files/shared/{R.choice(['Personal/Lohn', 'Buchhaltung/SEPA'])}/{R.choice(['lohn', 'gehalt', 'sepa'])}_{rdate(2024, 2025).strftime('%Y_%m')}.xml")
        C.add(p, body, 1, cat)

    def payroll_csv():
        rows = [["Personalnr", "Name", "IBAN", "BIC", "Netto"]]
        for pr in people(R.randrange(5, 25)):
            v = iban_c(R.choice(["DE", "DE", "DE", "PL", "AT"]))
            rows.append([str(R.randrange(1000, 9999)), pr.name, fmt_iban(v), bic_for(v), f"{R.randrange(180000, 520000) / 100:.2f}".replace(".", ",")])
        p = C.pick(lambda: f"srv/files/shared/Personal/{R.choice(['Lohn', 'Gehalt', 'Abrechnung'])}/{R.choice(['auszahlung', 'bankdaten', 'lohnliste'])}_{rdate(2024, 2025).strftime('%Y-%m')}.csv")
        C.add(p, "\n".join(csv_line(r, ";") for r in rows) + "\n", 1, cat, crlf=True)

    def vendors_json():
        out = []
        for name in R.sample(["Kraemer Bau GmbH", "Nordhafen Logistik", "Vela Consulting", "Hortus Garden BV",
                              "Fiorentina Tessuti", "Tallinn Soft OÜ", "Apex Retail Ltd", "Bergmann & Partner"], R.randrange(2, 6)):
            v = iban_c(R.choice(["DE", "NL", "IT", "GB", "FR", "AT"]))
            out.append({"vendor_id": f"V{R.randrange(10000, 99999)}", "name": name, "iban": v, "bic": bic_for(v),
                        "payment_terms_days": R.choice([14, 30, 60])})
        p = C.pick(lambda: f"{proj_root(R.choice(['crm-sync', 'invoicer', 'payroll']))}/{R.choice(['data', 'seed', 'import'])}/{R.choice(['vendors.json', 'lieferanten.json', 'suppliers.json'])}")
        C.add(p, json.dumps(out, indent=2, ensure_ascii=False) + "\n", 1, cat)

    def bank_change_email():
        a, st = people(1, R.choice(BIZMAIL))[0], staff()
        v = iban_c(R.choice(["DE", "NL", "GB", "BE", "ES"]))
        body = f"""Sehr geehrte Damen und Herren,

bitte beachten Sie, dass sich unsere Bankverbindung geändert hat.
Ab sofort bitten wir um Zahlung auf folgendes Konto:

Kontoinhaber: {a.last} Transporte
Bank: {bank_name(v)}
IBAN: {fmt_iban(v)}
BIC: {bic_for(v)}

Mit freundlichen Grüßen
{a.name}
Buchhaltung
"""
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['INBOX', 'Buchhaltung', 'Lieferanten'])}/{rdate(2023, 2025).strftime('%Y%m%d')}-{R.choice(['bankverbindung', 'neue-bankdaten', 'kontoaenderung'])}.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"Buchhaltung <buchhaltung@{DOMAIN}>", "Änderung unserer Bankverbindung", body), 1, cat)

    def sql_mandates():
        vals = []
        for i, pr in enumerate(people(R.randrange(4, 18))):
            v = iban_c(R.choice(["DE", "DE", "AT", "NL"]))
            vals.append(f"({i + 1}, '{pr.name.replace(chr(39), chr(39) * 2)}', '{v}', '{bic_for(v)}', 'M{digits(8)}', '{rdate(2020, 2024).strftime('%Y-%m-%d')}')")
        body = ("-- PostgreSQL database dump\n\nCREATE TABLE public.sepa_mandates (id integer, account_holder text, iban text, bic text, mandate_ref text, signed_on date);\n\n"
                "INSERT INTO public.sepa_mandates VALUES\n" + ",\n".join(vals) + ";\n")
        p = C.pick(lambda: f"{R.choice(['srv/backups/postgres', 'root/backups', 'home/' + user() + '/dumps'])}/{R.choice(['mandates.sql', 'billing_mandates.sql', 'sepa-' + rdate(2024, 2025).strftime('%Y%m%d') + '.sql'])}")
        C.add(p, body, 1, cat)

    def invoice_html():
        v = iban_c(R.choice(["DE", "CH", "AT"]))
        body = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Rechnung RE-{R.randrange(1000, 9999)}</title>
<style>body{{font-family:sans-serif}} .foot{{font-size:9pt;color:#555}}</style></head>
<body>
<h1>Rechnung</h1>
<p>Leistungszeitraum {rdate(2024, 2025).strftime('%m/%Y')} – Lagerlogistik</p>
<p><strong>Gesamtbetrag: {R.randrange(1000, 30000)},00 EUR</strong></p>
<div class="foot">{COMPANY} · {bank_name(v)} · IBAN {fmt_iban(v, True)} · BIC {bic_for(v)}</div>
</body></html>
"""
        p = C.pick(lambda: f"{R.choice(['srv/invoicer/output', 'var/www/kundenportal/storage/invoices', 'opt/invoicer/out'])}/RE-{rdate(2024, 2025).year}-{R.randrange(1000, 9999)}.html")
        C.add(p, body, 1, cat)

    def latex_invoice():
        v = iban_c("DE")
        body = f"""\\documentclass[a4paper]{{scrlttr2}}
\\usepackage[ngerman]{{babel}}
\\setkomavar{{fromname}}{{{COMPANY}}}
\\setkomavar{{frombank}}{{IBAN {fmt_iban(v, True)}\\\\BIC {bic_for(v)}}}
\\begin{{document}}
\\begin{{letter}}{{Kunde}}
\\opening{{Sehr geehrte Damen und Herren,}}
anbei unsere Rechnung über die Lagerleistungen.
\\closing{{Mit freundlichen Grüßen}}
\\end{{letter}}
\\end{{document}}
"""
        p = C.pick(lambda: f"{proj_root('invoicer')}/{R.choice(['templates', 'tex'])}/{R.choice(['rechnung.tex', 'brief.tex', 'invoice.tex'])}")
        C.add(p, body, 1, cat)

    def yaml_company():
        v = iban_c("DE")
        body = f"""company:
  name: {COMPANY}
  vat_id: DE{digits(9)}
  address: Hafenstraße {R.randrange(1, 90)}, 20457 Hamburg
bank:
  name: {bank_name(v)}
  iban: {fmt_iban(v, R.random() < 0.5)}
  bic: {bic_for(v)}
invoice:
  prefix: RE
  payment_terms_days: 14
"""
        p = C.pick(lambda: f"{proj_root('invoicer')}/{R.choice(['config.yaml', 'config/company.yml', 'settings.yaml'])}")
        C.add(p, body, 1, cat)

    def py_sepa():
        v = iban_c("DE")
        body = f'''from sepaxml import SepaDD

config = {{
    "name": "{COMPANY}",
    "IBAN": "{v}",
    "BIC": "{bic_for(v)}",
    "batch": True,
    "creditor_id": "{creditor_id()}",
    "currency": "EUR",
}}
sepa = SepaDD(config, schema="pain.008.001.02", clean=True)


def add_debit(name, iban, bic, amount_cents, mandate_id, mandate_date):
    sepa.add_payment({{"name": name, "IBAN": iban, "BIC": bic, "amount": amount_cents, "type": "RCUR",
                      "collection_date": mandate_date, "mandate_id": mandate_id, "mandate_date": mandate_date,
                      "description": "Lagermiete"}})
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['invoicer', 'billing-api']))}/{R.choice(['sepa', 'billing'])}/{R.choice(['direct_debit.py', 'lastschrift.py'])}")
        C.add(p, body, 1, cat)

    def notes_rent():
        v = iban_c(R.choice(["DE", "DE", "AT"]))
        body = f"""Daueraufträge
-------------
Miete Lager Billbrook   {R.randrange(4000, 9000)},00 EUR   zum 1.
  an: {R.choice(LAST)} Grundbesitz GbR
  {fmt_iban(v)}
Leasing Stapler          {R.randrange(300, 900)},00 EUR   zum 15.
"""
        p = C.pick(lambda: f"{docs_dir()}/{R.choice(['dauerauftraege.txt', 'zahlungen.txt', 'notizen_buchhaltung.txt'])}")
        C.add(p, body, 1, cat)

    def bank_statement_csv():
        own = iban_c("DE")
        rows = [csv_line(["Auftragskonto", "Buchungstag", "Valutadatum", "Buchungstext", "Verwendungszweck",
                          "Beguenstigter/Zahlungspflichtiger", "Kontonummer/IBAN", "BIC (SWIFT-Code)", "Betrag", "Waehrung"], ";")]
        for _ in range(R.randrange(10, 40)):
            d = rdate(2024, 2025).strftime("%d.%m.%y")
            v = iban_c(R.choice(["DE", "DE", "NL", "AT"]))
            rows.append(csv_line([own, d, d, R.choice(["GUTSCHR. UEBERW.", "FOLGELASTSCHRIFT", "UEBERWEISUNG"]),
                                  f"RE-{R.randrange(1000, 9999)}", R.choice(LAST) + R.choice([" GmbH", " KG", " AG", ""]), v, bic_for(v),
                                  f"{R.choice(['', '-'])}{R.randrange(1000, 900000) / 100:.2f}".replace(".", ","), "EUR"], ";"))
        p = C.pick(lambda: f"srv/files/shared/Buchhaltung/{R.choice(['Kontoauszuege', 'Bank'])}/{R.choice(['umsaetze', 'Umsaetze_Haspa', 'kontoauszug'])}_{rdate(2024, 2025).strftime('%Y%m')}.csv")
        C.add(p, "\n".join(rows) + "\n", 1, cat, crlf=True)

    def big_erp_log():
        start = rdate(2024, 2024)
        before = pad_to(lambda n: filler_log_lines(n, "erp-sync", start), R.randrange(150_000, 180_000))
        after = pad_to(lambda n: filler_log_lines(n, "erp-sync", start + dt.timedelta(hours=5)), R.randrange(20_000, 40_000))
        v = iban_c(R.choice(["DE", "FR", "IT", "ES"]))
        leak = [f"{ts(start + dt.timedelta(hours=4))},020 WARN  [erp-sync] vendor V{R.randrange(10000, 99999)} bank account changed: iban={v} bic={bic_for(v)}"]
        p = C.pick(lambda: f"{R.choice(['srv/crm-sync/logs', 'var/log/erp-sync', 'opt/crm-sync/log'])}/{R.choice(['sync.log', 'erp-sync.log', 'sync.log.1'])}")
        C.add(p, "\n".join(before + leak + after) + "\n", 1, cat)

    def payout_log():
        lines = filler_log_lines(R.randrange(20, 60), "payout")
        v = iban_c(R.choice(["DE", "NL", "BE", "LU"]))
        lines.insert(R.randrange(3, len(lines)), f"{ts()},777 INFO  [payout] transfer queued amount=1840.00 EUR to {people(1)[0].name} ({v})")
        p = C.pick(lambda: f"{R.choice(['var/log/payout', 'srv/payroll/logs', 'opt/billing-api/log'])}/{R.choice(['payout.log', 'transfers.log'])}")
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def datev_csv():
        rows = ['"EXTF";700;16;"Debitoren/Kreditoren";5;' + rdate(2024, 2025).strftime('%Y%m%d%H%M%S') + '000;;"RE";"";"";' + digits(5) + ';' + digits(5),
                "Konto;Name (Adressatentyp Unternehmen);IBAN-Nr. 1;SWIFT-Code 1;Kontoinhaber 1"]
        for _ in range(R.randrange(4, 20)):
            v = iban_c(R.choice(["DE", "DE", "AT", "CH"]))
            rows.append(f"{R.randrange(70000, 79999)};{R.choice(LAST)} {R.choice(['GmbH', 'KG', 'AG', 'e.K.'])};{v};{bic_for(v)};")
        p = C.pick(lambda: f"srv/files/shared/Buchhaltung/DATEV/{R.choice(['EXTF_Kreditoren', 'EXTF_Stammdaten', 'Kreditoren_Export'])}_{digits(6)}.csv")
        C.add(p, "\n".join(rows) + "\n", 1, cat, crlf=True)

    def wiki_accounts():
        rows = "\n".join(f"| {purpose} | {bank_name(v)} | `{fmt_iban(v, True)}` |" for purpose, v in
                         [("Geschäftskonto", iban_c("DE")), ("Lohnkonto", iban_c("DE")), ("Kautionskonto", iban_c("DE")), ("EUR-Konto NL", iban_c("NL"))][:R.randrange(2, 5)])
        body = f"# Bankverbindungen {COMPANY}\n\n| Zweck | Bank | IBAN |\n|---|---|---|\n{rows}\n\nOnline-Banking-Zugang: nur Geschäftsführung.\n"
        p = C.pick(lambda: f"srv/files/shared/{R.choice(['Buchhaltung', 'Management'])}/{R.choice(['Bankverbindungen.md', 'wiki/Konten.md', 'konten.md'])}")
        C.add(p, body, 1, cat)

    def ts_const():
        v = iban_c("DE")
        body = f"""export const COMPANY = {{
  name: '{COMPANY}',
  street: 'Hafenstraße {R.randrange(1, 90)}',
  city: '20457 Hamburg',
  bank: {{
    name: '{bank_name(v)}',
    iban: '{fmt_iban(v, True)}',
    bic: '{bic_for(v)}',
  }},
}} as const;
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'invoicer', 'website']))}/src/{R.choice(['company.ts', 'constants/company.ts', 'invoice/footer.ts'])}")
        C.add(p, body, 1, cat)

    def ps_sepa():
        v = iban_c("DE")
        body = f"""# Send-SepaBatch.ps1 - uploads the weekly payment batch to the bank's EBICS gateway
param([string]$File)
$debtorIban = "{v}"
$debtorBic  = "{bic_for(v)}"
[xml]$doc = Get-Content $File
if ($doc.Document.CstmrCdtTrfInitn.PmtInf.DbtrAcct.Id.IBAN -ne $debtorIban) {{
    throw "Batch $File does not debit $debtorIban"
}}
& "C:\\Program Files\\EBICS\\ebics.exe" upload --order CCT --file $File
"""
        p = C.pick(lambda: f"{R.choice(['srv/ops-tools/windows', 'home/' + user() + '/projects/infra/windows'])}/{R.choice(['Send-SepaBatch.ps1', 'Upload-Payments.ps1'])}")
        C.add(p, body, 1, cat, crlf=True)

    def nb_debits():
        lines = "\n".join(f"{i:>3}  {iban_c(R.choice(['DE', 'DE', 'AT'])):<24}  {R.randrange(100, 90000) / 100:>9.2f}  {R.choice(['MS03', 'AC04', 'MD06', 'AM04'])}" for i in range(R.randrange(4, 10)))
        cells = [("markdown", "# Rücklastschriften Q2", None),
                 ("code", "import pandas as pd\nr = pd.read_csv('ruecklastschriften_q2.csv')\nprint(r[['iban', 'betrag', 'reason']].to_string())",
                  "     iban                        betrag  reason\n" + lines)]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'projects/analytics/notebooks', 'Documents/jupyter'])}/{R.choice(['ruecklastschriften.ipynb', 'returns_q2.ipynb'])}")
        C.add(p, notebook(cells), 1, cat)

    def signature_email():
        a, b = people(1, R.choice(BIZMAIL))[0], staff()
        v = iban_c(R.choice(["CH", "AT", "DE"]))
        body = f"""Hallo {b.first},

die Ware ist heute raus, Rechnung folgt per Post.

Beste Grüße
{a.name}

--
{a.last} Handels AG · Bahnhofstrasse {R.randrange(1, 90)} · 8001 Zürich
Tel. +41 44 {digits(3)} {digits(2)} {digits(2)} · {bank_name(v)} · IBAN {fmt_iban(v, True)}
"""
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['INBOX', 'Lieferanten', 'Archiv'])}/{rdate(2023, 2025).strftime('%Y%m%d')}-{R.choice(['lieferung', 'versandinfo', 're-ware'])}.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"{b.name} <{b.email}>", "Lieferung unterwegs", body), 1, cat)

    def toml_payout():
        v = iban_c(R.choice(["DE", "NL"]))
        body = f"""[payout]
schedule = "weekly"
currency = "EUR"
min_amount_cents = 5000

[payout.account]
holder = "{COMPANY}"
iban = "{v}"
bic = "{bic_for(v)}"
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'payroll']))}/{R.choice(['payout.toml', 'config/payout.toml'])}")
        C.add(p, body, 1, cat)

    def camt():
        own = iban_c("DE")
        entries = []
        for _ in range(R.randrange(3, 10)):
            v = iban_c(R.choice(["DE", "DE", "FR", "NL"]))
            entries.append(f"""      <Ntry>
        <Amt Ccy="EUR">{R.randrange(1000, 900000) / 100:.2f}</Amt>
        <CdtDbtInd>{R.choice(['CRDT', 'DBIT'])}</CdtDbtInd>
        <BookgDt><Dt>{rdate(2024, 2025).strftime('%Y-%m-%d')}</Dt></BookgDt>
        <NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{R.choice(LAST)} GmbH</Nm></Dbtr><DbtrAcct><Id><IBAN>{v}</IBAN></Id></DbtrAcct></RltdPties></TxDtls></NtryDtls>
      </Ntry>""")
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT{digits(12)}</MsgId><CreDtTm>{iso()}</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{digits(10)}</Id>
      <Acct><Id><IBAN>{own}</IBAN></Id></Acct>
{chr(10).join(entries)}
    </Stmt>
  </BkToCstmrStmt>
</Document>
"""
        p = C.pick(lambda: f"srv/files/shared/Buchhaltung/{R.choice(['camt', 'Bank/camt053'])}/{rdate(2024, 2025).strftime('%Y%m%d')}_camt053.xml")
        C.add(p, body, 1, cat)

    shapes = [invoice_txt, sepa_xml, payroll_csv, vendors_json, bank_change_email, sql_mandates, invoice_html,
              latex_invoice, yaml_company, py_sepa, notes_rent, bank_statement_csv, big_erp_log, payout_log,
              datev_csv, wiki_accounts, ts_const, ps_sepa, nb_debits, signature_email, toml_payout, camt]
    for i in range(n_pos):
        shapes[i % len(shapes)]()

    # ------------------------------------------------------------ look-alikes
    def invoice_template():
        body = f"""{{{{ company.name }}}}
{{{{ company.street }}}}, {{{{ company.city }}}}

RECHNUNG Nr. {{{{ invoice.number }}}}
Datum: {{{{ invoice.date | date("d.m.Y") }}}}

{{% for item in invoice.items %}}{{{{ loop.index }}}}  {{{{ item.text }}}}  {{{{ item.total }}}}
{{% endfor %}}
Bankverbindung: {{{{ company.bank }}}}
IBAN: DEXX XXXX XXXX XXXX XXXX XX   <- wird aus company.iban befüllt
BIC: {{{{ company.bic }}}}
"""
        p = C.pick(lambda: f"{proj_root('invoicer')}/templates/{R.choice(['rechnung.txt.j2', 'invoice.txt.twig', 'rechnung.txt'])}")
        C.add(p, body, 0, cat)

    def validation_tests():
        bads = [bad_iban(c) for c in R.sample(IBAN_COUNTRIES, 5)]
        body = "import pytest\n\nfrom billing.iban import is_valid_iban\n\nBAD_CHECKSUM = [\n" + "".join(f'    "{b}",\n' for b in bads) + \
               "]\n\n\n@pytest.mark.parametrize(\"iban\", BAD_CHECKSUM)\ndef test_rejects_bad_checksum(iban):\n    assert not is_valid_iban(iban)\n"
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'invoicer', 'payroll']))}/tests/{R.choice(['test_iban.py', 'test_sepa_validation.py'])}")
        C.add(p, body, 0, cat)

    def iban_docs():
        body = """# IBAN field

The customer form accepts IBANs with or without spaces. Examples from the
standard / Wikipedia that are fine for screenshots and manual tests:

* Germany: `DE89 3704 0044 0532 0130 00`
* United Kingdom: `GB82 WEST 1234 5698 7654 32`

Validation: move the first four characters to the end, replace letters with
numbers (A=10 … Z=35) and check that the result mod 97 equals 1.
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'billing-api', 'hr-portal']))}/docs/{R.choice(['iban.md', 'bank-details.md', 'forms.md'])}")
        C.add(p, body, 0, cat)

    def masked_payroll():
        rows = [["Personalnr", "Name", "IBAN (maskiert)", "Netto"]]
        for _ in range(R.randrange(5, 25)):
            v = iban_c("DE")
            masked = v[:2] + "** **** **** **** **" + v[-4:-2] + " " + v[-2:]
            rows.append([str(R.randrange(1000, 9999)), f"{R.choice(FIRST)[0]}. {R.choice(LAST)}", masked, f"{R.randrange(180000, 520000) / 100:.2f}".replace(".", ",")])
        p = C.pick(lambda: f"srv/files/shared/Personal/{R.choice(['Lohn', 'Gehalt', 'Abrechnung'])}/{R.choice(['auszahlung', 'uebersicht', 'lohnliste'])}_{rdate(2024, 2025).strftime('%Y-%m')}_maskiert.csv")
        C.add(p, "\n".join(csv_line(r, ";") for r in rows) + "\n", 0, cat, crlf=True)

    def vendors_typo():
        out = []
        for name in R.sample(["Kraemer Bau GmbH", "Nordhafen Logistik", "Vela Consulting", "Hortus Garden BV", "Apex Retail Ltd"], R.randrange(2, 4)):
            out.append({"vendor_id": f"V{R.randrange(10000, 99999)}", "name": name, "iban": bad_iban(R.choice(["DE", "NL", "GB", "FR"])),
                        "iban_status": "INVALID_CHECKSUM", "note": "Bitte beim Lieferanten korrekte IBAN anfragen"})
        p = C.pick(lambda: f"{proj_root(R.choice(['crm-sync', 'invoicer']))}/{R.choice(['data', 'import'])}/{R.choice(['rejected_vendors.json', 'lieferanten_fehler.json', 'import_errors.json'])}")
        C.add(p, json.dumps(out, indent=2, ensure_ascii=False) + "\n", 0, cat)

    def bounce_email():
        a, b = staff(), people(1, R.choice(BIZMAIL))[0]
        body = f"""Hallo Herr/Frau {b.last},

die IBAN aus Ihrer letzten Mail ist leider ungültig (Prüfziffer passt nicht):

    {fmt_iban(bad_iban('DE'), True)}

Vermutlich ein Zahlendreher – können Sie die Bankverbindung bitte noch einmal prüfen?

Viele Grüße
{a.name}, Buchhaltung
"""
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['Gesendet', 'Sent', 'Buchhaltung'])}/{rdate(2023, 2025).strftime('%Y%m%d')}-iban-ungueltig.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"{b.name} <{b.email}>", "Ihre Bankverbindung", body), 0, cat)

    def bic_directory():
        rows = ["BIC;Bank;Ort"] + [f"{b};{bank_name(c + 'xx')};{R.choice(['Hamburg', 'Frankfurt', 'Paris', 'Amsterdam', 'Wien'])}" for c, bl in BICS.items() for b in bl]
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'payroll']))}/{R.choice(['data', 'resources'])}/{R.choice(['bic_verzeichnis.csv', 'banks.csv'])}")
        C.add(p, "\n".join(rows) + "\n", 0, cat)

    def vat_ids():
        rows = ["Kunde;USt-IdNr.;Land"] + [f"{R.choice(LAST)} {R.choice(['GmbH', 'BV', 'SARL', 'Sp. z o.o.'])};{c}{digits(n)};{c}"
                                          for c, n in [R.choice([("DE", 9), ("NL", 9), ("FR", 11), ("PL", 10), ("AT", 8)]) for _ in range(R.randrange(10, 30))]]
        p = C.pick(lambda: f"srv/files/shared/Buchhaltung/{R.choice(['ust-id-liste.csv', 'vat_ids.csv', 'kunden_ustid.csv'])}")
        C.add(p, "\n".join(rows) + "\n", 0, cat)

    def creditor_ids():
        body = f"""# SEPA-Lastschrift: Stammdaten
creditor:
  name: {COMPANY}
  creditor_id: {creditor_id()}
  mandate_prefix: BF-M-
sequence_types: [FRST, RCUR]
lead_days: 2
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['invoicer', 'billing-api']))}/{R.choice(['config/sepa.yml', 'sepa.yaml'])}")
        C.add(p, body, 0, cat)

    def mt103_template():
        body = """{1:F01BANKDEFFAXXX0000000000}{2:I103BANKBEBBXXXXN}{4:
:20:REFERENCE
:23B:CRED
:32A:YYMMDDEUR0,00
:50K:/DEXXXXXXXXXXXXXXXXXXXX
ORDERING CUSTOMER NAME
:59:/BEXXXXXXXXXXXXXX
BENEFICIARY NAME
:70:INVOICE NUMBER
:71A:SHA
-}
"""
        p = C.pick(lambda: f"{proj_root('billing-api')}/{R.choice(['templates/swift/mt103.txt', 'docs/mt103-template.txt'])}")
        C.add(p, body, 0, cat)

    def migration():
        body = """-- V42__add_bank_details.sql
ALTER TABLE vendors ADD COLUMN iban varchar(34);
ALTER TABLE vendors ADD COLUMN bic varchar(11);
ALTER TABLE vendors ADD CONSTRAINT vendors_iban_format CHECK (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$');
CREATE INDEX vendors_iban_idx ON vendors (iban);
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['crm-sync', 'billing-api', 'warehouse-app']))}/{R.choice(['db/migrations', 'src/main/resources/db/migration'])}/V42__add_bank_details.sql")
        C.add(p, body, 0, cat)

    def validator_code():
        body = '''import re

IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
LENGTHS = {"DE": 22, "AT": 20, "CH": 21, "NL": 18, "FR": 27, "GB": 22, "BE": 16}


def is_valid_iban(value: str) -> bool:
    s = value.replace(" ", "").upper()
    if not IBAN_RE.match(s) or LENGTHS.get(s[:2], len(s)) != len(s):
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'invoicer', 'payroll']))}/{R.choice(['billing', 'app', 'src'])}/iban.py")
        C.add(p, body, 0, cat)

    def card_only_statement():
        own = "DE" + "*" * 16 + digits(4)
        rows = [csv_line(["Auftragskonto", "Buchungstag", "Buchungstext", "Verwendungszweck", "Betrag"], ";")]
        for _ in range(R.randrange(10, 40)):
            rows.append(csv_line([own, rdate(2024, 2025).strftime("%d.%m.%y"), "KARTENZAHLUNG",
                                  f"{R.choice(['SHELL', 'ARAL', 'REWE', 'DB VERTRIEB', 'AMAZON'])} {digits(4)} Karte {R.randrange(1, 4)}",
                                  f"-{R.randrange(100, 30000) / 100:.2f}".replace(".", ",")], ";"))
        p = C.pick(lambda: f"srv/files/shared/Buchhaltung/{R.choice(['Kontoauszuege', 'Bank'])}/{R.choice(['karte', 'kartenumsaetze', 'Umsaetze_Karte'])}_{rdate(2024, 2025).strftime('%Y%m')}.csv")
        C.add(p, "\n".join(rows) + "\n", 0, cat, crlf=True)

    def invoice_html_typo():
        v = bad_iban("DE")
        body = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Rechnung (Entwurf)</title></head>
<body>
<h1>Rechnung – ENTWURF</h1>
<p>Gesamtbetrag: {R.randrange(1000, 30000)},00 EUR</p>
<div class="foot">{COMPANY} · IBAN {fmt_iban(v, True)} · BIC {bic_for(v)}</div>
<!-- TODO: IBAN stimmt nicht, Prüfsumme falsch – aus Stammdaten neu laden -->
</body></html>
"""
        p = C.pick(lambda: f"{R.choice(['srv/invoicer/drafts', 'opt/invoicer/out/drafts'])}/RE-{rdate(2024, 2025).year}-{R.randrange(1000, 9999)}-draft.html")
        C.add(p, body, 0, cat)

    def env_iban():
        body = """company:
  name: ${COMPANY_NAME}
bank:
  iban: ${COMPANY_IBAN}
  bic: ${COMPANY_BIC}
invoice:
  prefix: RE
"""
        p = C.pick(lambda: f"{proj_root('invoicer')}/{R.choice(['config.yaml', 'config/company.yml', 'settings.yaml'])}")
        C.add(p, body, 0, cat)

    def mrn_list():
        rows = ["MRN;Versender;Status"]
        for _ in range(R.randrange(10, 30)):
            rows.append(f"{R.choice(['24', '25'])}DE{rs(13, UPPER + DIGITS)}{R.choice(UPPER + DIGITS)};{R.choice(LAST)} GmbH;{R.choice(['überlassen', 'angenommen', 'Ausgang bestätigt'])}")
        p = C.pick(lambda: f"srv/files/shared/{R.choice(['Zoll', 'Versand/Zoll'])}/{R.choice(['atlas_mrn.csv', 'ausfuhr_mrn.csv', 'mrn_liste.csv'])}")
        C.add(p, "\n".join(rows) + "\n", 0, cat)

    def latex_placeholder():
        body = """\\documentclass[a4paper]{scrlttr2}
\\newcommand{\\firmenname}{Muster GmbH}
\\newcommand{\\iban}{DE00 0000 0000 0000 0000 00}
\\newcommand{\\bic}{XXXXDEXXXXX}
\\setkomavar{frombank}{IBAN \\iban\\\\BIC \\bic}
\\begin{document}
\\end{document}
"""
        p = C.pick(lambda: f"{proj_root('invoicer')}/{R.choice(['templates', 'tex'])}/{R.choice(['vorlage.tex', 'muster.tex'])}")
        C.add(p, body, 0, cat)

    def big_erp_clean():
        lines = pad_to(lambda n: filler_log_lines(n, "erp-sync"), R.randrange(190_000, 215_000))
        p = C.pick(lambda: f"{R.choice(['srv/crm-sync/logs', 'var/log/erp-sync', 'opt/crm-sync/log'])}/{R.choice(['sync.log', 'erp-sync.log', 'sync.log.2'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def nb_validation():
        bads = [bad_iban(R.choice(["DE", "AT", "NL"])) for _ in range(R.randrange(3, 6))]
        out = "\n".join(f"{b:<24} False" for b in bads)
        cells = [("code", "from schwifty import IBAN\nfor raw in df_rejected['iban']:\n    print(f'{raw:<24}', IBAN(raw, allow_invalid=True).is_valid)", out)]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'Documents/jupyter'])}/{R.choice(['iban_check.ipynb', 'stammdaten_pruefung.ipynb'])}")
        C.add(p, notebook(cells), 0, cat)

    def masked_camt():
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- sample for the parser tests, account numbers masked -->
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <Stmt>
      <Acct><Id><IBAN>DE00123456780000000000</IBAN></Id></Acct>
      <Ntry><Amt Ccy="EUR">{R.randrange(1000, 900000) / 100:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <NtryDtls><TxDtls><RltdPties><DbtrAcct><Id><IBAN>NL00XXXX0000000000</IBAN></Id></DbtrAcct></RltdPties></TxDtls></NtryDtls></Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['billing-api', 'crm-sync']))}/tests/fixtures/{R.choice(['camt053_sample.xml', 'statement.xml'])}")
        C.add(p, body, 0, cat)

    shapes = [invoice_template, validation_tests, iban_docs, masked_payroll, vendors_typo, bounce_email,
              bic_directory, vat_ids, creditor_ids, mt103_template, migration, validator_code,
              card_only_statement, invoice_html_typo, env_iban, mrn_list, latex_placeholder, big_erp_clean,
              nb_validation, masked_camt]
    for i in range(n_neg):
        shapes[i % len(shapes)]()


# ================================================================ 6. bulk personal data

def gen_pii(C, n_pos, n_neg):
    cat = "personal_data"

    def size():
        return R.choice([R.randrange(20, 40), R.randrange(25, 80), R.randrange(60, 300)])

    def newsletter_csv():
        rows = [["email", "first_name", "last_name", "subscribed_at", "source", "double_opt_in"]]
        for pr in people(size()):
            rows.append([pr.email, pr.first, pr.last, iso(rdate(2019, 2025)), R.choice(["website", "messe", "checkout", "import"]), R.choice(["yes", "yes", "no"])])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Marketing', docs_dir(), 'var/www/website/exports'])}/{R.choice(['newsletter_subscribers.csv', 'newsletter_export.csv', 'abonnenten.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 1, cat)

    def mailchimp():
        rows = [["Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME", "CONFIRM_TIME", "GMTOFF", "TAGS"]]
        for pr in people(size()):
            t = rdate(2020, 2025)
            rows.append([pr.email, pr.first, pr.last, str(R.randrange(1, 6)), ts(t), ts(t + dt.timedelta(minutes=R.randrange(1, 300))), "1", R.choice(['"Kunden"', '""', '"Messe 2024"'])])
        p = C.pick(lambda: f"{home()}/Downloads/members_export_{hexs(10)}/{R.choice(['subscribed_members_export_', 'cleaned_members_export_'])}{hexs(10)}.csv")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 1, cat)

    def users_sql():
        vals = []
        for i, pr in enumerate(people(size())):
            vals.append(f"({i + 1},'{pr.email}','{pr.first.replace(chr(39), chr(39) * 2)}','{pr.last.replace(chr(39), chr(39) * 2)}','$2y$10${rs(53, ALNUM + './')}','{ts(rdate(2019, 2025))}')")
        body = ("-- MariaDB dump 10.19\n\nCREATE TABLE `users` (\n  `id` int unsigned NOT NULL AUTO_INCREMENT,\n  `email` varchar(191) NOT NULL,\n"
                "  `first_name` varchar(100), `last_name` varchar(100), `password` varchar(255), `created_at` timestamp NULL,\n  PRIMARY KEY (`id`)\n);\n\n"
                "INSERT INTO `users` VALUES " + ",".join(vals) + ";\n")
        p = C.pick(lambda: f"{R.choice(['srv/backups/mysql', 'root/backups', 'home/' + user() + '/dumps'])}/{R.choice(['kundenportal_users.sql', 'users.sql', 'portal-' + rdate(2024, 2025).strftime('%Y%m%d') + '.sql'])}")
        C.add(p, body, 1, cat)

    def ldif():
        out = []
        for pr in people(size(), DOMAIN):
            uid = pr.email.split("@")[0]
            out += [f"dn: uid={uid},ou=people,dc=bf,dc=internal", "objectClass: inetOrgPerson", f"uid: {uid}",
                    f"cn: {pr.name}", f"sn: {pr.last}", f"givenName: {pr.first}", f"mail: {pr.email}",
                    f"telephoneNumber: +49 40 {digits(6)}-{R.randrange(10, 99)}", ""]
        p = C.pick(lambda: f"{R.choice(['root/ldap', 'srv/ldap/backup', 'srv/openldap/export'])}/{R.choice(['people.ldif', 'users-export.ldif', 'backup-' + rdate(2024, 2025).strftime('%Y%m%d') + '.ldif'])}")
        C.add(p, "\n".join(out), 1, cat)

    def vcf():
        out = []
        for pr in people(size()):
            out += ["BEGIN:VCARD", "VERSION:3.0", f"N:{pr.last};{pr.first};;;", f"FN:{pr.name}",
                    f"EMAIL;TYPE=INTERNET:{pr.email}", f"TEL;TYPE=CELL:{phone()}", "END:VCARD"]
        p = C.pick(lambda: f"{home()}/{R.choice(['Documents', 'Downloads', 'Desktop'])}/{R.choice(['contacts.vcf', 'Kontakte.vcf', 'iCloud vCards.vcf', 'kunden.vcf'])}")
        C.add(p, "\n".join(out) + "\n", 1, cat, crlf=True)

    def users_json():
        data = [{"id": ruuid(), "email": pr.email, "name": pr.name, "created": iso(rdate(2021, 2025)),
                 "plan": R.choice(["free", "business", "enterprise"]), "last_login_ip": f"{R.randrange(1, 223)}.{R.randrange(256)}.{R.randrange(256)}.{R.randrange(1, 255)}"}
                for pr in people(size())]
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'mobile-backend', 'crm-sync']))}/{R.choice(['exports', 'data', 'backup'])}/{R.choice(['users.json', 'customers_dump.json', 'accounts.json'])}")
        C.add(p, json.dumps(data, indent=2, ensure_ascii=False) + "\n", 1, cat)

    def registrations():
        rows = [["Anmeldung", "Vorname", "Nachname", "E-Mail", "Telefon", "Firma", "Workshop"]]
        for pr in people(size()):
            rows.append([ts(rdate(2024, 2025)), pr.first, pr.last, pr.email, phone(), R.choice(BIZMAIL).split(".")[0].replace("-", " ").title(),
                         R.choice(["Lagerautomatisierung", "Zoll 2025", "Nachhaltige Logistik"])])
        p = C.pick(lambda: f"srv/files/shared/{R.choice(['Marketing/Events', 'Vertrieb/Messe'])}/{R.choice(['anmeldungen_logistiktag.csv', 'registrierungen.csv', 'teilnehmer.csv'])}")
        C.add(p, "\n".join(csv_line(r, ";") for r in rows) + "\n", 1, cat, crlf=True)

    def crm_tsv():
        rows = ["contact_id\tname\temail\tcompany\towner\tstage"]
        for pr in people(size()):
            rows.append(f"{R.randrange(10000, 99999)}\t{pr.name}\t{pr.email}\t{R.choice(LAST)} {R.choice(['GmbH', 'AG', 'KG'])}\t{R.choice(USERS)}\t{R.choice(['lead', 'qualified', 'customer'])}")
        p = C.pick(lambda: f"{proj_root('crm-sync')}/{R.choice(['exports', 'data'])}/{R.choice(['contacts.tsv', 'hubspot_contacts.tsv', 'crm_export.tsv'])}")
        C.add(p, "\n".join(rows) + "\n", 1, cat)

    def staff_html():
        items = "\n".join(f'  <li><span class="name">{pr.name}</span> – {R.choice(["Disposition", "Lager", "Buchhaltung", "Vertrieb", "IT", "Fuhrpark"])} – '
                          f'<a href="mailto:{pr.email}">{pr.email}</a> – Durchwahl {R.randrange(100, 400)}</li>' for pr in people(size(), DOMAIN))
        body = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Mitarbeiterverzeichnis</title></head>
<body><h1>Mitarbeiterverzeichnis</h1>
<ul class="staff">
{items}
</ul></body></html>
"""
        p = C.pick(lambda: f"var/www/intranet/{R.choice(['team/index.html', 'mitarbeiter.html', 'verzeichnis/index.html'])}")
        C.add(p, body, 1, cat)

    def list_txt():
        body = "\n".join(pr.email for pr in people(size())) + "\n"
        p = C.pick(lambda: f"{R.choice([docs_dir(), 'srv/files/shared/Marketing'])}/{R.choice(['verteiler.txt', 'mailingliste.txt', 'emails.txt', 'kunden_emails.txt'])}")
        C.add(p, body, 1, cat)

    def postfix_log():
        t = rdate(2024, 2025)
        lines = []
        for pr in people(size()):
            t += dt.timedelta(seconds=R.randrange(1, 90))
            qid = rs(10, UPPER + DIGITS)
            lines.append(f"{t.strftime('%b %d %H:%M:%S')} mail01 postfix/smtp[{R.randrange(1000, 40000)}]: {qid}: to=<{pr.email}>, "
                         f"relay={R.choice(['gmail-smtp-in.l.google.com', 'mx00.gmx.net', 'mx.web.de', 'outlook-com.olc.protection.outlook.com'])}[{R.randrange(1, 223)}.{R.randrange(256)}.{R.randrange(256)}.{R.randrange(1, 255)}]:25, "
                         f"delay={R.randrange(1, 30) / 10}, dsn=2.0.0, status=sent (250 2.0.0 OK)")
        p = C.pick(lambda: f"{R.choice(['var/log', 'srv/mail/log', 'var/log/mail'])}/{R.choice(['mail.log', 'mail.log.1', 'maillog'])}")
        C.add(p, "\n".join(lines) + "\n", 1, cat)

    def py_fixture():
        entries = ",\n".join(f'    {{"email": "{pr.email}", "name": "{pr.name}", "role": "{R.choice(["customer", "customer", "admin"])}"}}' for pr in people(size()))
        body = f'''"""Seed data copied from production for the staging refresh."""

USERS = [
{entries},
]


def seed(db):
    for u in USERS:
        db.users.insert(u)
'''
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'mobile-backend', 'hr-portal']))}/{R.choice(['seeds', 'scripts', 'fixtures'])}/{R.choice(['seed_users.py', 'staging_users.py', 'users_fixture.py'])}")
        C.add(p, body, 1, cat)

    def yaml_roster():
        entries = "\n".join(f"  - name: {pr.name}\n    email: {pr.email}\n    team: {R.choice(['ops', 'dev', 'lager', 'buchhaltung'])}" for pr in people(size(), DOMAIN))
        body = f"# gitlab user provisioning\nusers:\n{entries}\n"
        p = C.pick(lambda: f"{proj_root(R.choice(['infra', 'ops-tools']))}/{R.choice(['gitlab/users.yml', 'provisioning/users.yaml', 'ansible/vars/users.yml'])}")
        C.add(p, body, 1, cat)

    def big_cc_email():
        a = staff()
        recips = people(size())
        body = f"""Liebe Kundinnen und Kunden,

zum Jahreswechsel ändern sich unsere Abholzeiten. Details im Anhang.

Viele Grüße
{a.name}
"""
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['Gesendet', 'Sent'])}/{rdate(2023, 2025).strftime('%Y%m%d')}-{R.choice(['abholzeiten', 'info-jahreswechsel', 'rundmail'])}.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"{a.email}", "Neue Abholzeiten", body, cc=[f"{r.name} <{r.email}>" for r in recips]), 1, cat)

    def hr_export():
        rows = [["Personalnummer", "Nachname", "Vorname", "Geburtsdatum", "Private E-Mail", "Eintritt"]]
        for pr in people(size()):
            rows.append([str(R.randrange(1000, 9999)), pr.last, pr.first, rdate(1960, 2004).strftime("%d.%m.%Y"), pr.email, rdate(2010, 2025).strftime("%d.%m.%Y")])
        p = C.pick(lambda: f"srv/files/shared/Personal/{R.choice(['stammdaten_export.csv', 'mitarbeiter_privat.csv', 'personio_export.csv'])}")
        C.add(p, "\n".join(csv_line(r, ";") for r in rows) + "\n", 1, cat, crlf=True)

    def tickets():
        rows = [["id", "created_at", "requester_email", "subject", "status"]]
        for pr in people(size()):
            rows.append([str(R.randrange(10000, 99999)), iso(rdate(2024, 2025)), pr.email, R.choice(["Lieferverzug", "Rechnung", "Schaden", "Abholung"]), R.choice(["open", "solved", "pending"])])
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Kundenservice', docs_dir()])}/{R.choice(['tickets_requesters.csv', 'freshdesk_export.csv', 'tickets_2024.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 1, cat)

    def wxr():
        items = "\n".join(f"""    <wp:comment>
      <wp:comment_id>{i + 1}</wp:comment_id>
      <wp:comment_author><![CDATA[{pr.name}]]></wp:comment_author>
      <wp:comment_author_email><![CDATA[{pr.email}]]></wp:comment_author_email>
      <wp:comment_date><![CDATA[{ts(rdate(2020, 2025))}]]></wp:comment_date>
      <wp:comment_content><![CDATA[{R.choice(['Toller Artikel!', 'Gibt es das auch für Österreich?', 'Danke für die Infos.'])}]]></wp:comment_content>
    </wp:comment>""" for i, pr in enumerate(people(size())))
        body = f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>Brightfield Blog</title>
  <item>
    <title>Neue Halle in Billbrook</title>
{items}
  </item>
</channel>
</rss>
"""
        p = C.pick(lambda: f"{home()}/Downloads/{R.choice(['brightfieldblog.WordPress.', 'blog.WordPress.'])}{rdate(2024, 2025).strftime('%Y-%m-%d')}.xml")
        C.add(p, body, 1, cat)

    def big_sql_users():
        lines = ["-- PostgreSQL database dump", "", "CREATE TABLE public.shipments (id integer NOT NULL, tracking text, created_at timestamp, country text, status text, weight numeric, parcels integer);", ""]
        body = pad_to(lambda n: ["INSERT INTO public.shipments VALUES " + r + ";" for r in shipments_sql_rows(n)], R.randrange(160_000, 190_000))
        tail = ["", "CREATE TABLE public.customers (id integer, email text, name text);"]
        tail += [f"INSERT INTO public.customers VALUES ({i + 1}, '{pr.email}', '{pr.name.replace(chr(39), chr(39) * 2)}');" for i, pr in enumerate(people(R.randrange(25, 80)))]
        p = C.pick(lambda: f"{R.choice(['srv/backups/postgres', 'root/backups', 'srv/backup/db'])}/{R.choice(['logistics', 'portal', 'tracking'])}-full-{rdate(2024, 2025).strftime('%Y%m%d')}.sql")
        C.add(p, "\n".join(lines + body + tail) + "\n", 1, cat)

    def outlook_csv():
        hdr = ["Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "E-mail Address", "E-mail Display Name", "Mobile Phone"]
        rows = [hdr] + [["", pr.first, "", pr.last, "", R.choice(LAST) + " GmbH", pr.email, f"{pr.name} ({pr.email})", phone()] for pr in people(size())]
        p = C.pick(lambda: f"{home()}/{R.choice(['Documents', 'Downloads'])}/{R.choice(['outlook_kontakte.csv', 'contacts_export.csv', 'Kontakte.CSV'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 1, cat, crlf=True)

    def google_csv():
        hdr = ["Name", "Given Name", "Family Name", "Group Membership", "E-mail 1 - Type", "E-mail 1 - Value", "Phone 1 - Type", "Phone 1 - Value"]
        rows = [hdr] + [[pr.name, pr.first, pr.last, "* myContacts", "* Work", pr.email, "Mobile", phone()] for pr in people(size())]
        p = C.pick(lambda: f"{home()}/Downloads/{R.choice(['contacts.csv', 'google_contacts.csv', 'Google Contacts.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 1, cat)

    def nb_emails():
        ps = people(R.randrange(25, 40))
        out = "                         email              name  orders\n" + "\n".join(f"{i:>3}  {pr.email:>32}  {pr.name:>18}  {R.randrange(1, 40):>5}" for i, pr in enumerate(ps))
        cells = [("code", "import pandas as pd\ncust = pd.read_sql('select email, name, orders from customer_stats', engine)\nprint(cust.head(40).to_string())", out)]
        p = C.pick(lambda: f"{home()}/{R.choice(['notebooks', 'projects/analytics/notebooks', 'Documents/jupyter'])}/{R.choice(['top_customers.ipynb', 'churn.ipynb', 'kunden_analyse.ipynb'])}")
        C.add(p, notebook(cells), 1, cat)

    def mailman_members():
        body = "\n".join(f"{pr.name} <{pr.email}>" for pr in people(size())) + "\n"
        p = C.pick(lambda: f"{R.choice(['srv/mailman/lists', 'root/mailman-export', 'srv/files/shared/Marketing'])}/{R.choice(['kunden-info', 'partner', 'fahrer'])}-members.txt")
        C.add(p, body, 1, cat)

    shapes = [newsletter_csv, mailchimp, users_sql, ldif, vcf, users_json, registrations, crm_tsv, staff_html,
              list_txt, postfix_log, py_fixture, yaml_roster, big_cc_email, hr_export, tickets, wxr,
              big_sql_users, outlook_csv, google_csv, nb_emails, mailman_members]
    for i in range(n_pos):
        shapes[i % len(shapes)]()

    # ------------------------------------------------------------ look-alikes
    def contact_html():
        body = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Kontakt – {COMPANY}</title></head>
<body>
<h1>Kontakt</h1>
<p>Allgemeine Anfragen: <a href="mailto:info@{DOMAIN}">info@{DOMAIN}</a></p>
<p>Vertrieb: <a href="mailto:vertrieb@{DOMAIN}">vertrieb@{DOMAIN}</a></p>
<p>Sendungsverfolgung &amp; Reklamationen: <a href="mailto:service@{DOMAIN}">service@{DOMAIN}</a></p>
<p>Telefon: +49 40 {digits(6)}-0</p>
</body></html>
"""
        p = C.pick(lambda: f"var/www/{R.choice(['website', DOMAIN, 'www'])}/{R.choice(['kontakt.html', 'kontakt/index.html', 'contact.html'])}")
        C.add(p, body, 0, cat)

    def package_json():
        a, b = people(2, DOMAIN)
        doc = {"name": "@brightfield/" + R.choice(PROJECTS), "version": f"{R.randrange(1, 4)}.{R.randrange(0, 20)}.{R.randrange(0, 9)}",
               "private": True, "author": f"{a.name} <{a.email}>", "contributors": [f"{b.name} <{b.email}>"],
               "scripts": {"start": "node dist/index.js", "build": "tsc -p .", "test": "vitest run"},
               "dependencies": {"express": "^4.19.2", "pino": "^9.0.0", "zod": "^3.23.4"}}
        p = C.pick(lambda: f"{proj_root(R.choice(['support-bot', 'shopfront', 'mobile-backend', 'tracking-service']))}/package.json")
        C.add(p, json.dumps(doc, indent=2, ensure_ascii=False) + "\n", 0, cat)

    def maintainers():
        body = "\n".join(f"{pr.name} <{pr.email}> ({R.choice(['backend', 'infra', 'frontend', 'release'])})" for pr in people(R.randrange(2, 5), DOMAIN)) + "\n"
        p = C.pick(lambda: f"{proj_root()}/{R.choice(['MAINTAINERS', 'MAINTAINERS.txt', 'AUTHORS'])}")
        C.add(p, body, 0, cat)

    def codeowners():
        body = "\n".join(f"{pat} {' '.join('@' + R.choice(USERS) for _ in range(R.randrange(1, 3)))}" for pat in
                         ["*", "/infra/", "/src/billing/", "/docs/", "*.sql", "/.gitlab-ci.yml", "/src/api/", "/k8s/"]) + "\n"
        p = C.pick(lambda: f"{proj_root()}/{R.choice(['CODEOWNERS', '.github/CODEOWNERS', '.gitlab/CODEOWNERS'])}")
        C.add(p, body, 0, cat)

    def two_person_email():
        a, b = staff(), staff()
        body = f"Hi {b.first},\n\nkönnen wir die Inventur auf Donnerstag schieben?\n\n> Am {rdate(2024, 2025).strftime('%d.%m.%Y')} schrieb {b.name} <{b.email}>:\n> Passt Mittwoch?\n\nGruß {a.first}\n"
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['INBOX', 'Archiv'])}/{rdate(2023, 2025).strftime('%Y%m%d')}-{R.choice(['inventur', 'termin', 're-termin'])}.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", f"{b.name} <{b.email}>", "Re: Inventur", body), 0, cat)

    def am_email_receivers():
        body = f"""route:
  receiver: ops-mail
receivers:
  - name: ops-mail
    email_configs:
      - to: ops@{DOMAIN}
        from: alertmanager@{DOMAIN}
        smarthost: mail01.{INTERNAL}:25
        require_tls: false
"""
        p = C.pick(lambda: f"srv/monitoring/{R.choice(['alertmanager', 'config'])}/{R.choice(['alertmanager-mail.yml', 'mail-receivers.yml'])}")
        C.add(p, body, 0, cat)

    def noreply_log():
        t = rdate(2024, 2025)
        lines = []
        for _ in range(R.randrange(200, 600)):
            t += dt.timedelta(seconds=R.randrange(5, 600))
            src = R.choice([f"noreply@{DOMAIN}", f"alerts@{DOMAIN}"])
            lines.append(f"{t.strftime('%b %d %H:%M:%S')} mail01 postfix/qmgr[{R.randrange(1000, 9000)}]: {rs(10, UPPER + DIGITS)}: from=<{src}>, size={R.randrange(800, 90000)}, nrcpt=1 (queue active)")
        p = C.pick(lambda: f"{R.choice(['var/log', 'srv/mail/log', 'var/log/mail'])}/{R.choice(['mail.log', 'mail.log.2', 'qmgr.log'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def companies_csv():
        rows = [["kunde_nr", "firma", "ort", "land", "umsatz_2024"]]
        for _ in range(R.randrange(30, 60)):
            rows.append([f"K{R.randrange(10000, 99999)}", f"{R.choice(LAST)} {R.choice(['GmbH', 'AG', 'KG', 'BV', 'SARL'])}",
                         R.choice(["Hamburg", "Bremen", "Rotterdam", "Lyon", "Posen", "Graz"]), R.choice(["DE", "NL", "FR", "PL", "AT"]), f"{R.randrange(1000, 900000)}"])
        p = C.pick(lambda: f"srv/files/shared/Vertrieb/{R.choice(['kundenliste.csv', 'top_kunden_2024.csv', 'umsatz_kunden.csv'])}")
        C.add(p, "\n".join(csv_line(r, ";") for r in rows) + "\n", 0, cat)

    def pnpm_list():
        pk = ["@babel/core", "@types/node", "@nestjs/common", "@nestjs/core", "@prisma/client", "@slack/bolt", "@sentry/node",
              "@aws-sdk/client-s3", "@tanstack/react-query", "@vitejs/plugin-react", "@eslint/js", "@typescript-eslint/parser",
              "@emotion/react", "@mui/material", "@testing-library/react", "@radix-ui/react-dialog", "@fastify/cors",
              "@opentelemetry/api", "@grpc/grpc-js", "@google-cloud/storage", "@azure/identity", "@octokit/rest"]
        lines = [f"{p}@{R.randrange(0, 20)}.{R.randrange(0, 30)}.{R.randrange(0, 15)}" for p in pk]
        p = C.pick(lambda: f"{proj_root(R.choice(['shopfront', 'customer-portal', 'support-bot']))}/{R.choice(['deps.txt', 'docs/dependencies.txt', 'THIRD_PARTY.txt'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def git_remotes():
        lines = [f"git@github.com:brightfield/{p}.git" for p in PROJECTS] + [f"git@git.{DOMAIN}:shop/{p}.git" for p in R.sample(PROJECTS, 8)]
        body = "#!/bin/sh\n# clone everything into ~/src\n" + "\n".join(f"git clone {l}" for l in lines) + "\n"
        p = C.pick(lambda: f"{home()}/{R.choice(['bin/clone-all.sh', 'clone_repos.sh', 'scripts/clone-all.sh'])}")
        C.add(p, body, 0, cat)

    def example_docs():
        body = """# User import

CSV columns: `email,first_name,last_name`. Example:

```csv
email,first_name,last_name
jane.doe@example.com,Jane,Doe
john.smith@example.org,John,Smith
```

Invalid rows (e.g. `user@localhost`) are skipped and reported.
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'crm-sync', 'hr-portal']))}/docs/{R.choice(['import.md', 'user-import.md', 'csv-format.md'])}")
        C.add(p, body, 0, cat)

    def crontab():
        body = f"""MAILTO=ops@{DOMAIN}
SHELL=/bin/bash
# m h dom mon dow command
15 2 * * * /root/bin/db-backup.sh
*/5 * * * * /srv/monitoring/scripts/check_disk.sh
0 6 * * 1 /usr/bin/certbot renew --quiet
"""
        p = C.pick(lambda: f"{R.choice(['root', 'home/backup', 'home/deploy'])}/{R.choice(['crontab.txt', 'crontab.bak', 'cron/crontab'])}")
        C.add(p, body, 0, cat)

    def hostnames():
        lines = [f"{h}.{INTERNAL}\t10.0.{R.randrange(1, 9)}.{R.randrange(2, 250)}\t{R.choice(['debian12', 'ubuntu22', 'win2022'])}" for h in HOSTS] + \
                [f"{R.choice(['ws', 'nb', 'scan'])}{digits(3)}.{INTERNAL}\t10.0.{R.randrange(10, 20)}.{R.randrange(2, 250)}\t{R.choice(['win11', 'macos14', 'android13'])}" for _ in range(R.randrange(15, 30))]
        p = C.pick(lambda: f"srv/files/shared/IT/{R.choice(['hosts.tsv', 'inventar/hosts.tsv', 'netzplan.tsv'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    def flask_routes():
        body = """from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/health")
def health():
    return jsonify(status="ok")


@app.get("/api/v1/shipments/<tracking>")
@login_required
@cache.cached(timeout=30)
def shipment(tracking):
    return jsonify(find_shipment(tracking))
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['tracking-service', 'hr-portal', 'intranet']))}/{R.choice(['app.py', 'app/routes.py', 'src/api.py'])}")
        C.add(p, body, 0, cat)

    def domain_stats():
        rows = ["domain,subscribers"] + [f"{d},{R.randrange(10, 3000)}" for d in sorted(set(FREEMAIL + BIZMAIL))]
        p = C.pick(lambda: f"srv/files/shared/Marketing/{R.choice(['newsletter_domains.csv', 'domain_stats.csv', 'abonnenten_nach_domain.csv'])}")
        C.add(p, "\n".join(rows) + "\n", 0, cat)

    def masked_export():
        rows = [["email_masked", "subscribed_at", "source"]]
        for pr in people(R.randrange(25, 60)):
            local, dom = pr.email.split("@")
            rows.append([f"{local[0]}***@{dom}", iso(rdate(2019, 2025)), R.choice(["website", "messe", "checkout"])])
        p = C.pick(lambda: f"srv/files/shared/Marketing/{R.choice(['newsletter_anonymisiert.csv', 'subscribers_masked.csv'])}")
        C.add(p, "\n".join(csv_line(r) for r in rows) + "\n", 0, cat)

    def one_vcard():
        pr = staff()
        body = f"BEGIN:VCARD\nVERSION:3.0\nN:{pr.last};{pr.first};;;\nFN:{pr.name}\nORG:{COMPANY}\nEMAIL;TYPE=WORK:{pr.email}\nTEL;TYPE=WORK:+49 40 {digits(6)}-{R.randrange(10, 99)}\nEND:VCARD\n"
        p = C.pick(lambda: f"{home()}/{R.choice(['Documents', 'Downloads'])}/{ascii_name(pr.first)}_{ascii_name(pr.last)}.vcf")
        C.add(p, body, 0, cat, crlf=True)

    def groups_ldif():
        out = []
        for g in ["ops", "dev", "lager", "buchhaltung", "vertrieb", "vpn-users"]:
            out += [f"dn: cn={g},ou=groups,dc=bf,dc=internal", "objectClass: groupOfNames", f"cn: {g}"]
            out += [f"member: uid={u},ou=people,dc=bf,dc=internal" for u in R.sample(USERS, R.randrange(2, 6))]
            out.append("")
        p = C.pick(lambda: f"{R.choice(['root/ldap', 'srv/ldap/backup', 'srv/openldap/export'])}/{R.choice(['groups.ldif', 'groups-export.ldif'])}")
        C.add(p, "\n".join(out), 0, cat)

    def small_users_json():
        data = [{"id": i + 1, "email": pr.email, "role": "admin"} for i, pr in enumerate(people(R.randrange(2, 4), DOMAIN))]
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'mobile-backend', 'hr-portal']))}/{R.choice(['seeds', 'fixtures'])}/{R.choice(['admins.json', 'initial_admins.json'])}")
        C.add(p, json.dumps(data, indent=2) + "\n", 0, cat)

    def schema_sql():
        body = f"""CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email citext NOT NULL UNIQUE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO users (email, name) VALUES ('admin@{DOMAIN}', 'Administrator');
"""
        p = C.pick(lambda: f"{proj_root(R.choice(['customer-portal', 'crm-sync', 'hr-portal']))}/{R.choice(['db/schema.sql', 'migrations/0001_init.sql'])}")
        C.add(p, body, 0, cat)

    def small_cc_email():
        a = staff()
        rs_ = people(2, DOMAIN)
        body = f"Hallo zusammen,\n\nanbei das Protokoll vom Jour fixe.\n\nGruß {a.first}\n"
        p = C.pick(lambda: f"{home()}/Mail/{R.choice(['Gesendet', 'Sent'])}/{rdate(2023, 2025).strftime('%Y%m%d')}-protokoll.eml")
        C.add(p, eml(f"{a.name} <{a.email}>", [f"{rs_[0].name} <{rs_[0].email}>"], "Protokoll Jour fixe", body, cc=[f"{rs_[1].name} <{rs_[1].email}>"]), 0, cat)

    def big_shipments_csv():
        def rows(n):
            return [csv_line([f"BF{digits(9)}", ts(rdate(2024, 2025)), R.choice(["HH", "HB", "K", "M"]), R.choice(["DE", "AT", "NL", "PL"]),
                              digits(5), R.choice(["zugestellt", "unterwegs", "retour"]), f"{R.randrange(100, 30000) / 100:.2f}"]) for _ in range(n)]
        lines = ["tracking,created,depot,country,zip,status,weight_kg"] + pad_to(rows, R.randrange(190_000, 210_000))
        p = C.pick(lambda: f"{R.choice(['srv/files/shared/Versand', 'srv/tracking-service/exports'])}/{R.choice(['sendungen_2024.csv', 'shipments_full.csv'])}")
        C.add(p, "\n".join(lines) + "\n", 0, cat)

    shapes = [contact_html, package_json, maintainers, codeowners, two_person_email, am_email_receivers, noreply_log,
              companies_csv, pnpm_list, git_remotes, example_docs, crontab, hostnames, flask_routes, domain_stats,
              masked_export, one_vcard, groups_ldif, small_users_json, schema_sql, small_cc_email, big_shipments_csv]
    for i in range(n_neg):
        shapes[i % len(shapes)]()


# ================================================================ checks, main

import re  # noqa: E402

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}")
IBAN_LEN = {"DE": 22, "AT": 20, "CH": 21, "FR": 27, "GB": 22, "NL": 18, "BE": 16, "ES": 24, "IT": 27,
            "PL": 28, "IE": 22, "LU": 20, "DK": 18, "SE": 24, "NO": 15, "FI": 18, "PT": 25}
DOC_PANS = KNOWN_TEST_PANS | {"4000002760003184"}
FORBIDDEN_DIRS = {"node_modules", ".cache", "target", "__pycache__", "tmp", "build", "dist", "etc", "usr"}


def find_cards(text):
    """Valid card numbers, also when a run of digit groups has extra groups around it."""
    out = set()
    for m in CARD_RE.finditer(text):
        groups = re.split(r"[ -]", m.group(0))
        for i in range(len(groups)):
            for j in range(i + 1, len(groups) + 1):
                d = "".join(groups[i:j])
                if 13 <= len(d) <= 19 and luhn_ok(d) and issuer_ok(d):
                    out.add(d)
    return out


def find_ibans(text):
    out = set()
    for m in IBAN_RE.finditer(text):
        s = m.group(0).replace(" ", "")
        n = IBAN_LEN.get(s[:2])
        if n and len(s) >= n and iban_ok(s[:n]):
            out.add(s[:n])
    return out


def validate(C):
    problems = []
    for rel, (secret, cat) in C.labels.items():
        parts = rel.split("/")
        if FORBIDDEN_DIRS & set(parts[:-1]):
            problems.append(f"{rel}: ephemeral-looking directory")
        path = os.path.join(C.root, rel)
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8", "replace")
        cards = find_cards(text)
        ibans = find_ibans(text)
        emails = {e.lower() for e in EMAIL_RE.findall(text)}
        if secret:
            if cat == "payment_card" and not cards:
                problems.append(f"{rel}: no valid card number")
            if cat == "iban" and not ibans:
                problems.append(f"{rel}: no valid IBAN")
            if cat == "personal_data" and len(emails) < 20:
                problems.append(f"{rel}: only {len(emails)} e-mail addresses")
            if cat == "private_key" and b"PRIVATE KEY" not in raw and b"LS0tLS1CRUdJTi" not in raw:
                problems.append(f"{rel}: no private key block")
            if len(raw) > 512 * 1024:
                problems.append(f"{rel}: larger than 512 KiB")
        else:
            if cards - DOC_PANS:
                problems.append(f"{rel}: look-alike holds a valid card number {sorted(cards - DOC_PANS)}")
            if ibans - KNOWN_DOC_IBANS:
                problems.append(f"{rel}: look-alike holds a valid IBAN {sorted(ibans - KNOWN_DOC_IBANS)}")
            if len(emails) >= 5:
                problems.append(f"{rel}: look-alike holds {len(emails)} e-mail addresses")
            if re.search(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----\n[A-Za-z0-9+/]{40}", raw) or \
                    b"BEGIN PGP PRIVATE KEY BLOCK" in raw:
                problems.append(f"{rel}: look-alike holds a private key")
    return problems


CATEGORY_ORDER = ["private_key", "cloud_token", "dotenv", "payment_card", "iban", "personal_data"]


def summary(C):
    print(f"{'category':<16}{'S=1':>6}{'S=0':>6}{'total':>7}")
    tp = tn = 0
    for cat in CATEGORY_ORDER:
        p = sum(1 for s, c in C.labels.values() if c == cat and s)
        n = sum(1 for s, c in C.labels.values() if c == cat and not s)
        tp, tn = tp + p, tn + n
        print(f"{cat:<16}{p:>6}{n:>6}{p + n:>7}")
    print(f"{'all':<16}{tp:>6}{tn:>6}{tp + tn:>7}")
    big = [r for r in C.labels if os.path.getsize(os.path.join(C.root, r)) >= 150 * 1024]
    bigp = sum(1 for r in big if C.labels[r][0])
    print(f"files >= 150 KiB: {len(big)} ({bigp} with a secret, {len(big) - bigp} without)")
    exts = {}
    for r in C.labels:
        b = r.rsplit("/", 1)[-1]
        e = b.rsplit(".", 1)[-1].lower() if "." in b.lstrip(".") else "(none)"
        exts[e] = exts.get(e, 0) + 1
    print("file types:", ", ".join(f"{k}={v}" for k, v in sorted(exts.items(), key=lambda kv: (-kv[1], kv[0]))))


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().split("\n\n")[0])
        print(f"usage: {argv[0]} OUT_DIR", file=sys.stderr)
        return 2
    out = argv[1]
    if os.path.exists(out):
        if not os.path.isdir(out):
            print(f"error: {out} exists and is not a directory", file=sys.stderr)
            return 1
        if os.listdir(out):
            print(f"error: {out} is not empty; refusing to write into it", file=sys.stderr)
            return 1
    for tool in ("ssh-keygen", "openssl"):
        if not shutil.which(tool):
            print(f"error: {tool} not found in PATH", file=sys.stderr)
            return 1
    os.makedirs(out, exist_ok=True)
    C = Corpus(out)
    kg = KeyGen()
    try:
        gen_keys(C, kg, 27, 32)
        gen_tokens(C, kg, 48, 48)
        gen_env(C, 27, 28)
        gen_cards(C, 27, 25)
        gen_ibans(C, 22, 22)
        gen_pii(C, 22, 22)
    finally:
        kg.close()
    C.write_labels()
    summary(C)
    problems = validate(C)
    if problems:
        print("\nSELF-CHECK FAILED (labels may be wrong):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"self-check ok; labels in {os.path.join(out, 'labels.tsv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
