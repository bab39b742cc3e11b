#!/usr/bin/env python3
"""A second, held-out corpus for the classification: real files of this machine, and secrets
planted by someone other than the scanner's author.

    scripts/eval/classify-heldout.py OUT_DIR [VARIANT]
    cargo run --release -p ibars-core --example eval_classify OUT_DIR

VARIANT (1, the default, or 2) draws other random choices, takes the real files from further
into each source, and writes the planted secrets in other shapes: keys as escaped strings in
JSON, card numbers as bare columns of a CSV, tokens in TOML and Dockerfiles. Variant 2 was run
once, after the scanner had been fixed on what variant 1 found.

Parts, placed as on a machine (the corpus is its root) and labelled by where they come from:
- ephemeral: the machine's own cargo registry (sources, crate archives, its CACHEDIR.TAG), the
  dashboard tests' node_modules, cargo's target/.fingerprint under a CACHEDIR.TAG, npm's
  _cacache, and Python's __pycache__ directories;
- normal: /usr/share/doc and the Python standard library's sources;
- critical: /etc (its SSH host keys and private TLS keys are real secrets: labelled
  sensitive) and ibars' own sources in a git work tree;
- planted (fourth column 1, left out of the class figures): private keys from ssh-keygen and
  openssl, cloud and service tokens in code and configs, .env files, Luhn-valid card numbers
  and mod-97-valid IBANs in prose, address lists; and look-alikes that are not secrets (public
  keys, .env.example placeholders, numbers that fail Luhn, hashes, UUIDs).

Random choices use a fixed seed. Parts missing on this machine are left out and said so.
"""

import os
import random
import shutil
import string
import subprocess
import sys

OUT = sys.argv[1]
VARIANT = int(sys.argv[2]) if len(sys.argv) > 2 else 1
RNG = random.Random(20261203 * VARIANT)
# Variant 2 takes real files from further into each source.
SKIP = 0 if VARIANT == 1 else 1
LABELS = []
MAX_FILE = 2 << 20


def hash_of(p):
    return int.from_bytes(p.encode()[-4:].ljust(4, b"0"), "little") ^ len(p)


def add(rel, cls, sensitive=False, plant=False):
    LABELS.append((rel, cls, int(sensitive), int(plant)))


def copy_tree(src, dst_rel, cls, limit, keep=lambda p: True, sensitive=lambda p: False):
    if not os.path.isdir(src):
        print(f"missing, left out: {src}")
        return 0
    n = 0
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            if n >= limit:
                return n
            if os.path.islink(p) or not os.path.isfile(p) or not keep(p):
                continue
            if SKIP and hash_of(p) % 2 == 0:
                continue
            try:
                if os.path.getsize(p) > MAX_FILE:
                    continue
                rel = os.path.join(dst_rel, os.path.relpath(p, src))
                os.makedirs(os.path.join(OUT, os.path.dirname(rel)), exist_ok=True)
                shutil.copyfile(p, os.path.join(OUT, rel))
            except OSError:
                continue
            add(rel, cls, sensitive(p))
            n += 1
    return n


def holds_key(path):
    """A labeller's look: a PEM private key with its body, or a file of API keys."""
    if path.endswith("/chromium.d/apikeys"):
        return True
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return False
    i = data.find(b"PRIVATE KEY-----")
    return i >= 0 and b"-----BEGIN" in data[max(0, i - 40):i] and b"END" in data[i:i + 8000]


def write(rel, text, cls, sensitive, plant=True):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    add(rel, cls, sensitive, plant)


def rand(alphabet, n):
    return "".join(RNG.choice(alphabet) for _ in range(n))


def luhn_complete(prefix, length):
    digits = [int(c) for c in prefix] + [RNG.randrange(10) for _ in range(length - len(prefix) - 1)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def iban(country, length):
    bban = rand(string.digits, length - 4)
    moved = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in moved)
    check = 98 - int(num) % 97
    return f"{country}{check:02d}{bban}"


def grouped(s, n=4):
    return " ".join(s[i:i + n] for i in range(0, len(s), n))


def prose(k=40):
    words = "the invoice order customer account payment shipping please note that we will send " \
            "your request within days thanks regards support team update".split()
    return " ".join(RNG.choice(words) for _ in range(k))


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    home = "home/bob"
    reg = os.path.expanduser("~/.cargo/registry")
    print("ephemeral:")
    print(" registry src", copy_tree(os.path.join(reg, "src"), f"{home}/.cargo/registry/src", "ephemeral", 3000))
    print(" registry cache", copy_tree(os.path.join(reg, "cache"), f"{home}/.cargo/registry/cache", "ephemeral", 200))
    if os.path.isfile(os.path.join(reg, "CACHEDIR.TAG")):
        shutil.copyfile(os.path.join(reg, "CACHEDIR.TAG"), os.path.join(OUT, home, ".cargo/registry/CACHEDIR.TAG"))
        add(f"{home}/.cargo/registry/CACHEDIR.TAG", "ephemeral")
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "../.."))
    print(" node_modules", copy_tree(os.path.join(repo, "scripts/test/dashboard/node_modules"), f"{home}/src/dash/node_modules", "ephemeral", 1500))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(repo, "target"))
    n = copy_tree(os.path.join(target, "debug/.fingerprint"), f"{home}/src/ibars/target/debug/.fingerprint", "ephemeral", 1500)
    if n and os.path.isfile(os.path.join(target, "CACHEDIR.TAG")):
        shutil.copyfile(os.path.join(target, "CACHEDIR.TAG"), os.path.join(OUT, home, "src/ibars/target/CACHEDIR.TAG"))
        add(f"{home}/src/ibars/target/CACHEDIR.TAG", "ephemeral")
    print(" target/.fingerprint", n)
    print(" npm _cacache", copy_tree(os.path.expanduser("~/.npm/_cacache"), f"{home}/.npm/_cacache", "ephemeral", 800))
    py = sorted(d for d in os.listdir("/usr/lib") if d.startswith("python3."))
    pylib = os.path.join("/usr/lib", py[-1]) if py else None
    if pylib:
        print(" __pycache__", copy_tree(pylib, f"usr/lib/{py[-1]}", "ephemeral", 600,
                                       keep=lambda p: "/__pycache__/" in p))
    print("normal:")
    print(" /usr/share/doc", copy_tree("/usr/share/doc", "usr/share/doc", "normal", 2500, sensitive=holds_key))
    if pylib:
        print(" python sources", copy_tree(pylib, f"usr/lib/{py[-1]}", "normal", 1500,
                                          keep=lambda p: p.endswith(".py") and "/test" not in p
                                          and "__pycache__" not in p))
    print("critical:")
    secret_etc = lambda p: ("/ssh/ssh_host_" in p and not p.endswith(".pub")) or "/ssl/private/" in p \
        or holds_key(p)
    print(" /etc", copy_tree("/etc", "etc", "critical", 1200, sensitive=secret_etc))
    # ibars' sources in a git work tree.
    files = subprocess.run(["git", "-C", repo, "ls-files", "crates", "docs", "scripts"],
                           capture_output=True, text=True).stdout.split()
    n = 0
    for f in files:
        # The classifier's tests and corpus scripts hold test secrets on purpose.
        if "/classify/" in f or f.startswith("scripts/eval/") or not os.path.isfile(os.path.join(repo, f)) or n >= 600:
            continue
        dst = os.path.join(OUT, home, "src/ibars", f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(repo, f), dst)
        add(f"{home}/src/ibars/{f}", "critical")
        n += 1
    work = os.path.join(OUT, home, "src/ibars")
    subprocess.run(["git", "init", "-q", work], check=True)
    subprocess.run(["git", "-C", work, "-c", "user.name=b", "-c", "user.email=b@example.org",
                    "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    for root, _, fs in os.walk(os.path.join(work, ".git")):
        for f in fs:
            add(os.path.relpath(os.path.join(root, f), OUT), "critical")
    print(" ibars work tree", n)

    print("planted:")
    apps = [f"srv/app{i}" for i in range(10)] + [f"{home}/projects/p{i}" for i in range(10)]
    count = 0
    for i in range(8):
        for kind in ["ed25519", "rsa", "ecdsa"]:
            rel = f"{RNG.choice(apps)}/keys/{kind}_{i}"
            path = os.path.join(OUT, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", path], check=True)
            add(rel, "normal", True, True)
            add(rel + ".pub", "normal", False, True)
            count += 1
    for i in range(16):
        alg = ["RSA", "EC"][i % 2]
        args = ["-pkeyopt", "ec_paramgen_curve:P-256"] if alg == "EC" else ["-pkeyopt", "rsa_keygen_bits:2048"]
        pem = subprocess.run(["openssl", "genpkey", "-algorithm", alg] + args,
                             capture_output=True, text=True, check=True).stdout
        if VARIANT == 1:
            body = "\n".join("    " + l for l in pem.splitlines())
            write(f"{RNG.choice(apps)}/config/tls-{i}.yaml",
                  f"server:\n  port: 8443\n  tls:\n    key: |\n{body}\n    cert_file: /etc/app/cert.pem\n",
                  "normal", True)
        else:
            escaped = pem.replace("\n", "\\n")
            write(f"{RNG.choice(apps)}/config/service-{i}.json",
                  f'{{"type": "service_account", "project_id": "p{i}", "private_key": "{escaped}"}}\n',
                  "normal", True)
        count += 1
    b32, alnum = string.ascii_uppercase + "234567", string.ascii_letters + string.digits
    makers = [
        lambda: f"[default]\naws_access_key_id = AKIA{rand(b32, 16)}\naws_secret_access_key = {rand(alnum + '/+', 40)}\nregion = eu-west-1\n",
        lambda: f"import boto3\n\nclient = boto3.client(\n    's3',\n    aws_access_key_id='AKIA{rand(b32, 16)}',\n    aws_secret_access_key='{rand(alnum + '/+', 40)}',\n)\n",
        lambda: f'#!/bin/sh\nexport GITHUB_TOKEN=ghp_{rand(alnum, 36)}\ngh release list\n',
        lambda: f'const slack = new WebClient("xoxb-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(alnum, 24)}");\n',
        lambda: f'STRIPE = {{"key": "sk_live_{rand(alnum, 24)}", "currency": "eur"}}\n',
        lambda: f'<meta name="maps" content="AIza{rand(alnum + "-_", 35)}">\n',
        lambda: f'variables:\n  GITLAB_TOKEN: "glpat-{rand(alnum + "-_", 20)}"\n',
    ]
    exts = [".ini", ".py", ".sh", ".js", ".py", ".html", ".yml"]
    if VARIANT == 2:
        makers[2] = lambda: f'FROM alpine\nENV GITHUB_TOKEN=ghp_{rand(alnum, 36)}\nRUN apk add git\n'
        makers[4] = lambda: f'[payments]\nstripe_key = "sk_live_{rand(alnum, 24)}"\n'
        exts = [".ini", ".py", ".Dockerfile", ".js", ".toml", ".html", ".yml"]
    for i in range(35):
        k = i % len(makers)
        write(f"{RNG.choice(apps)}/src/settings_{i}{exts[k]}", prose(20) + "\n" + makers[k]() + prose(30) + "\n",
              "normal", True)
        count += 1
    for i in range(20):
        name = [".env", ".env.production", ".env.local", "prod.env"][i % 4]
        write(f"{apps[i]}/{name}",
              f"APP_ENV=production\nDATABASE_PASSWORD={rand(alnum, 22)}\nSECRET_KEY={rand(alnum, 40)}\nPORT=8080\n",
              "normal", True)
        write(f"{apps[i]}/.env.example", "APP_ENV=production\nDATABASE_PASSWORD=changeme\nSECRET_KEY=\nPORT=8080\n",
              "normal", False)
        count += 1
    if VARIANT == 2:
        for i in range(10):
            rows = ["name,card_number,expiry"]
            for j in range(RNG.randint(5, 40)):
                card = luhn_complete(RNG.choice(["4", "51", "55", "37"]), 16)
                card = card if not card.startswith("37") else luhn_complete("37", 15)
                rows.append(f"{RNG.choice(['anna', 'ben', 'carla'])},{card},{RNG.randint(1, 12):02d}/29")
            write(f"{home}/Documents/payments/cards-{i}.csv", "\n".join(rows) + "\n", "normal", True)
            count += 1
    for i in range(25):
        card = [luhn_complete("4", 16), luhn_complete(str(RNG.randint(51, 55)), 16),
                luhn_complete(RNG.choice(["34", "37"]), 15)][i % 3]
        shown = grouped(card) if i % 2 else card
        write(f"{home}/Documents/orders/order-{i}.txt",
              f"{prose(25)}\nPaid with card {shown}, expires {RNG.randint(1, 12):02d}/{RNG.randint(27, 31)}.\n{prose(15)}\n",
              "normal", True)
        count += 1
    for i, (cc, n) in enumerate([("DE", 22), ("FR", 27), ("GB", 22), ("NL", 18), ("ES", 24)] * 4):
        if cc in ("GB", "NL"):
            code = iban(cc, n)
            code = code[:4] + rand(string.ascii_uppercase, 4) + code[8:]
            # Letters in the bank code change the check: compute it again over the whole.
            bban = code[4:]
            num = "".join(str(int(c, 36)) for c in bban + cc + "00")
            code = f"{cc}{98 - int(num) % 97:02d}{bban}"
        else:
            code = iban(cc, n)
        shown = grouped(code) if i % 2 else code
        write(f"{home}/Documents/invoices/invoice-{i}.md",
              f"# Invoice {1000 + i}\n\n{prose(30)}\n\nPlease pay to IBAN {shown}.\n", "normal", True)
        count += 1
    first = "anna ben carla dirk eva finn gina hugo ines jan kira leo mia nils olga paul".split()
    last = "meyer schmidt weber fischer wagner becker hoffmann koch richter klein wolf".split()
    for i in range(10):
        rows = ["name,email,city"]
        for j in range(RNG.randint(80, 300)):
            f, l = RNG.choice(first), RNG.choice(last)
            rows.append(f"{f} {l},{f}.{l}{j}@{RNG.choice(['example.org', 'mail.test', 'corp.example'])},Berlin")
        write(f"{home}/Documents/crm/customers-{i}.csv", "\n".join(rows) + "\n", "normal", True)
        count += 1
    # Look-alikes that are not secrets.
    for i in range(20):
        ids = [rand(string.digits, 16) for _ in range(30)]
        ids = [x for x in ids if luhn_complete(x[:15], 16) != x]
        write(f"srv/app{i % 10}/data/orders-{i}.csv", "order_id,amount\n" + "\n".join(f"{x},{RNG.randint(1, 900)}" for x in ids) + "\n",
              "normal", False)
        hashes = "\n".join(f"commit {rand('0123456789abcdef', 40)}" for _ in range(20))
        write(f"srv/app{i % 10}/data/log-{i}.txt", hashes + "\n" + "\n".join(
            f"request {rand('0123456789abcdef', 8)}-{rand('0123456789abcdef', 4)}-4{rand('0123456789abcdef', 3)}-a{rand('0123456789abcdef', 3)}-{rand('0123456789abcdef', 12)} ok"
            for _ in range(20)) + "\n", "normal", False)
    print(" planted secrets", count)

    with open(os.path.join(OUT, "labels.tsv"), "w") as f:
        for rel, cls, s, p in LABELS:
            f.write(f"{rel}\t{cls}\t{s}\t{p}\n")
    print(f"{len(LABELS)} labelled files in {OUT}")


main()
