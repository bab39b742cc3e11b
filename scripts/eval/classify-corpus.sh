#!/usr/bin/env bash
# Builds a labelled corpus for the path classifier (crates/ibars-insight/src/classify) from real
# parts, into the directory given as $1, and writes $1/labels.tsv:
#
#   relative_path <TAB> class (critical|normal|ephemeral) <TAB> sensitive (0|1)
#
# one line per regular file (symlinks, e.g. a venv's bin/python, are left out; files inherit the
# label of the tree they are in). The corpus is laid out as a file system root: classify the
# path "/" + relative_path (so `home/alice/.cache/pip/...` is `/home/alice/.cache/pip/...`).
#
# What is in it, and how it is labelled:
#   ephemeral  a pip cache and a venv (pip install of requests), an npm cache and node_modules
#              (npm install of express and lodash), a cargo target/ (a hello-world crate built
#              here), __pycache__ (python3 -m compileall), /tmp, /var/cache, ~/.cache,
#              the trash, .DS_Store, editor swap and backup files
#   critical   /etc files, SQLite databases, an SQL dump, ~/Documents, ~/.ssh, key files, and
#              two git work trees with their .git (a copy of this repository's crates/, and a
#              small web app); outputs inside a work tree (node_modules, target/) are ephemeral
#   normal     text from /usr/share/doc, Python standard library sources, loose notes and
#              projects outside version control, a build/ directory that is no cache
#   sensitive  planted: SSH keys (ssh-keygen ed25519 and rsa), PEM keys (openssl genpkey RSA,
#              EC, encrypted), .env files with realistic fake secrets, AWS credentials (AWS's
#              documented example key), GitHub, GitLab, Slack, Stripe and Google tokens, a JWT,
#              test card numbers and IBANs in prose, CSV files and an SQLite database of fake
#              people with e-mail addresses. Public keys, certificates and a .env.example with
#              placeholders are planted too, labelled not sensitive.
#
# Copies of real files (docs, /etc, sources) leave out any file that holds a secret in form
# (example keys shipped in documentation, test card numbers in this repository's tests): those
# are not clean, and the clean sets must be. The count left out is printed.
#
# Network: PyPI and the npm registry. Cargo builds one dependency-free crate, offline, niced, on
# one job. Versions are pinned and generated contents seeded, so that a corpus is the same from
# run to run except for the keys, the package managers' cache metadata and the build outputs.
#
# Usage: scripts/eval/classify-corpus.sh OUT      (OUT must not exist, or be an earlier corpus)
set -euo pipefail

out=${1:?usage: $0 OUT}
repo=$(cd "$(dirname "$0")/../.." && pwd)

if [ -e "$out" ]; then
  if [ -f "$out/.classify-corpus" ]; then
    rm -rf "$out"
  elif [ -n "$(ls -A "$out")" ]; then
    echo "$out exists and is not an earlier corpus: refusing to overwrite it" >&2
    exit 1
  fi
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
touch "$out/.classify-corpus"
manifest=$out/.manifest
: >"$manifest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# label PREFIX CLASS SENSITIVE: files at or under PREFIX (relative) get this label; the longest
# matching prefix wins.
label() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$manifest"; }

home=home/alice
mkdir -p "$out/$home"

# Fixed identities and dates for the git repositories.
export GIT_AUTHOR_NAME="Alice Example" GIT_AUTHOR_EMAIL="alice@example.org"
export GIT_COMMITTER_NAME="Alice Example" GIT_COMMITTER_EMAIL="alice@example.org"
export GIT_AUTHOR_DATE="2026-01-05T10:00:00Z" GIT_COMMITTER_DATE="2026-01-05T10:00:00Z"
git_commit() {
  git -C "$1" init -q -b main
  git -C "$1" add -A
  git -C "$1" -c commit.gpgsign=false commit -q -m "$2"
}

# Generated contents: fake secrets, people, databases. All seeded.
python3 - "$out" "$home" <<'PY'
import base64, hashlib, hmac, json, os, random, sqlite3, string, sys

out, home = sys.argv[1], sys.argv[2]
rng = random.Random(20260105)
alnum = string.ascii_letters + string.digits

def tok(n, alphabet=alnum):
    return "".join(rng.choice(alphabet) for _ in range(n))

def write(rel, text, mode=None):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    if mode:
        os.chmod(path, mode)

# Token prefixes are split so that this script does not read as a leak itself.
github = "gh" + "p_" + tok(36)
gitlab = "gl" + "pat-" + tok(20)
slack = "xo" + "xb-" + tok(12, string.digits) + "-" + tok(13, string.digits) + "-" + tok(24)
stripe = "sk" + "_live_" + tok(24)
stripe2 = "sk" + "_live_" + tok(24)
google = "AI" + "za" + tok(35, alnum + "_-")
aws_id = "AKIA" + "IOSFODNN7EXAMPLE"          # AWS's documented example key
aws_secret = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYEXAMPLEKEY"

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
payload = b64url(json.dumps({"sub": "alice", "iat": 1767607200, "role": "admin"}).encode())
sig = b64url(hmac.new(tok(32).encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
jwt = f"{header}.{payload}.{sig}"

web = f"{home}/src/webapp"
write(f"{web}/package.json", json.dumps({
    "name": "webapp", "version": "1.0.0", "private": True, "main": "src/server.js",
    "dependencies": {"express": "4.21.2", "lodash": "4.17.21"}}, indent=2) + "\n")
write(f"{web}/src/server.js", """const express = require('express');
const _ = require('lodash');

const app = express();
const port = process.env.PORT || 3000;

app.get('/health', (req, res) => res.json({ ok: true }));
app.get('/users', (req, res) => res.json(_.sortBy(users(), 'name')));

function users() {
  return [{ name: 'bob' }, { name: 'alice' }];
}

app.listen(port, () => console.log(`listening on ${port}`));
""")
write(f"{web}/src/util.js", """exports.slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-');
exports.chunk = (xs, n) => xs.reduce((acc, x, i) => (i % n ? acc[acc.length - 1].push(x) : acc.push([x]), acc), []);
""")
write(f"{web}/.gitignore", "node_modules/\n.env\n.env.production\n")
db_password = tok(14)
write(f"{web}/.env", f"""NODE_ENV=development
PORT=3000
DATABASE_URL=postgres://webapp:{db_password}@localhost:5432/webapp
DB_PASSWORD={db_password}
SESSION_SECRET={tok(32, string.hexdigits.lower()[:16])}
STRIPE_API_KEY={stripe}
""")
write(f"{web}/.env.production", f"""NODE_ENV=production
PORT=8080
DB_PASSWORD="{tok(20)}"
export JWT_SECRET='{tok(40)}'
""")
write(f"{web}/.env.example", """NODE_ENV=development
PORT=3000
DB_PASSWORD=changeme
SESSION_SECRET=<your-session-secret>
STRIPE_API_KEY=
""")
write(f"{web}/config/settings.json", json.dumps({
    "slack": {"channel": "#deploys", "token": slack},
    "github": {"repo": "alice/webapp", "token": github}}, indent=2) + "\n")
write(f"{web}/deploy.sh", f"""#!/bin/sh
# Deploys the app: pushes the image and tags the release.
set -e
export GITLAB_TOKEN={gitlab}
docker build -t registry.example.org/alice/webapp .
docker push registry.example.org/alice/webapp
""", 0o755)

write(f"{home}/app-config/.env", f"""SMTP_HOST=smtp.example.org
SMTP_USER=alice
SMTP_PASSWORD={tok(16)}
export API_TOKEN="{tok(40)}"
""")
write(f"{home}/.aws/credentials", f"""[default]
aws_access_key_id = {aws_id}
aws_secret_access_key = {aws_secret}
""")
write(f"{home}/.aws/config", "[default]\nregion = eu-central-1\noutput = json\n")
write(f"{home}/notes/api-keys.txt", f"""Keys for the side projects (move these to the vault!)

maps widget: {google}
billing (old account): {stripe2}
the admin session from yesterday, for debugging: {jwt}
""")

write(f"{home}/Documents/finance/invoice-2024-03.txt", """INVOICE 2024-03

Thank you for your order. We charged the Visa card 4111 1111 1111 1111 for the first
instalment; the second instalment went to the Mastercard 5555 5555 5555 4444 as agreed.
A refund for the returned item was made to the American Express card 378282246310005.

Questions? Reply to this mail.
""")
write(f"{home}/Documents/finance/payments.md", """# Payments

- rent: GB82 WEST 1234 5698 7654 32 (landlord), monthly on the 1st
- club membership: DE89 3704 0044 0532 0130 00, yearly in March
""")
write(f"{home}/notes/shop-notes.md", """Shop notes

The test checkout works with card 4111111111111111 and any future expiry date.
Returns take 14 days; the warehouse is closed on Sundays.
""")
write(f"{home}/notes/bank.txt", "Savings account, Amsterdam: NL91ABNA0417164300\nOpened 2019.\n")

first = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas",
         "Klara", "Lukas", "Mia", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Samir", "Tara"]
last = ["Schmidt", "Meyer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter",
        "Klein", "Wolf", "Neumann", "Braun", "Zimmermann", "Kruger", "Hartmann", "Lange"]
domains = ["gmail.com", "web.de", "outlook.com", "posteo.de", "gmx.net", "yahoo.com",
           "mailbox.org", "icloud.com"]
cities = ["Berlin", "Hamburg", "Munich", "Cologne", "Leipzig", "Dresden", "Bremen"]

def people(n):
    rows = []
    for i in range(n):
        f, l = rng.choice(first), rng.choice(last)
        email = f"{f.lower()}.{l.lower()}{rng.randrange(1, 99)}@{rng.choice(domains)}"
        rows.append((i + 1, f, l, email, rng.choice(cities), rng.randrange(1950, 2005)))
    return rows

def csv(rows):
    lines = ["id,first_name,last_name,email,city,born"]
    lines += [",".join(str(x) for x in r) for r in rows]
    return "\n".join(lines) + "\n"

write(f"{home}/Documents/customers.csv", csv(people(200)))
write(f"{home}/exports/newsletter.csv", csv(people(80)))

def database(rel, script, rows=()):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(script)
    for sql, values in rows:
        con.executemany(sql, values)
    con.commit()
    return con

products = [(i, f"product {i}", round(rng.uniform(1, 200), 2), rng.randrange(0, 500))
            for i in range(1, 301)]
orders = [(i, rng.randrange(1, 301), rng.randrange(1, 5), f"2025-{rng.randrange(1, 13):02d}-"
           f"{rng.randrange(1, 29):02d}") for i in range(1, 1001)]
shop = database("srv/data/app.sqlite", """
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL, stock INTEGER);
CREATE TABLE orders (id INTEGER PRIMARY KEY, product INTEGER, quantity INTEGER, day TEXT);
""", [("INSERT INTO products VALUES (?, ?, ?, ?)", products),
      ("INSERT INTO orders VALUES (?, ?, ?, ?)", orders)])
os.makedirs(os.path.join(out, "srv/dumps"), exist_ok=True)
with open(os.path.join(out, "srv/dumps/app.sql"), "w") as f:
    for line in shop.iterdump():
        f.write(line + "\n")
shop.close()
database("srv/data/crm.sqlite", """
CREATE TABLE customers (id INTEGER PRIMARY KEY, first TEXT, last TEXT, email TEXT, city TEXT,
                        born INTEGER);
""", [("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", people(120))]).close()
database(f"{home}/.local/share/notes-app/state.db", """
CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, updated TEXT);
""", [("INSERT INTO notes VALUES (?, ?, ?, ?)",
       [(i, f"note {i}", "buy milk, call the plumber, water the plants", "2025-11-02")
        for i in range(1, 41)])]).close()

# Small files that are temporary or a tool's by-product.
write("tmp/build-4711/config.log", "checking for gcc... gcc\nchecking whether the C compiler works... yes\n")
write("tmp/session-alice/clipboard.txt", "some text copied a while ago\n")
write("var/cache/app/index.json", json.dumps({"version": 3, "entries": list(range(50))}) + "\n")
write(f"{home}/.cache/thumbnails/normal/0a1b2c.txt", "thumbnail placeholder\n")
write(f"{home}/.local/share/Trash/files/old-notes.txt", "old notes nobody needs\n")
write(f"{home}/.local/share/Trash/info/old-notes.txt.trashinfo",
      "[Trash Info]\nPath=/home/alice/old-notes.txt\nDeletionDate=2025-12-01T10:00:00\n")
write(f"{home}/notes/todo.md", "- renew passport\n- back up the laptop\n")
write(f"{home}/notes/todo.md~", "- renew passport\n")
write(f"{home}/notes/.todo.md.swp", "b0VIM 9.0\x00\x00\x00\x00alice\x00laptop\x00")
write(f"{home}/Pictures/.DS_Store", "\x00\x00\x00\x01Bud1\x00\x00\x10\x00")

# A project outside version control: sources are normal; its build/ is not a cache by rule.
write(f"{home}/projects/site/index.md", "# My site\n\nHello.\n")
write(f"{home}/projects/site/build/index.html", "<html><body><h1>My site</h1></body></html>\n")
write(f"{home}/projects/pytool/pytool/__init__.py", '"""A small tool."""\n__version__ = "0.1"\n')
write(f"{home}/projects/pytool/pytool/cli.py", '''import argparse
import json

import requests


def main():
    parser = argparse.ArgumentParser(description="Fetches a JSON document.")
    parser.add_argument("url")
    args = parser.parse_args()
    print(json.dumps(requests.get(args.url, timeout=10).json(), indent=2))


if __name__ == "__main__":
    main()
''')
write(f"{home}/projects/pytool/requirements.txt", "requests==2.32.3\n")
PY

# Labels of what the generator wrote (the trees around are labelled further down).
label "$home" normal 0
label "$home/src/webapp" critical 0
label "$home/src/webapp/.env" critical 1
label "$home/src/webapp/.env.production" critical 1
label "$home/src/webapp/config/settings.json" critical 1
label "$home/src/webapp/deploy.sh" critical 1
label "$home/app-config/.env" normal 1
label "$home/.aws/credentials" critical 1
label "$home/notes/api-keys.txt" normal 1
label "$home/notes/shop-notes.md" normal 1
label "$home/notes/bank.txt" normal 1
label "$home/Documents" critical 0
label "$home/Documents/finance/invoice-2024-03.txt" critical 1
label "$home/Documents/finance/payments.md" critical 1
label "$home/Documents/customers.csv" critical 1
label "$home/exports/newsletter.csv" normal 1
label srv/data critical 0
label srv/data/crm.sqlite critical 1
label srv/dumps critical 0
label "$home/.local/share/notes-app/state.db" critical 0
label tmp ephemeral 0
label var/cache ephemeral 0
label "$home/.cache" ephemeral 0
label "$home/.local/share/Trash" ephemeral 0
label "$home/notes/todo.md~" ephemeral 0
label "$home/notes/.todo.md.swp" ephemeral 0
label "$home/Pictures/.DS_Store" ephemeral 0

# Keys: SSH (ed25519, rsa), PEM (RSA, EC, encrypted), and a deploy key inside the web app.
mkdir -p "$out/$home/.ssh" "$out/$home/keys" "$out/$home/src/webapp/deploy"
ssh-keygen -q -t ed25519 -N '' -C alice@laptop -f "$out/$home/.ssh/id_ed25519"
ssh-keygen -q -t rsa -b 2048 -N '' -C alice@laptop -f "$out/$home/.ssh/id_rsa"
ssh-keygen -q -t ed25519 -N '' -C deploy@webapp -f "$out/$home/src/webapp/deploy/id_deploy"
printf 'Host build\n  HostName build.example.org\n  User alice\n  IdentityFile ~/.ssh/id_ed25519\n' \
  >"$out/$home/.ssh/config"
printf 'build.example.org %s\n' "$(cut -d' ' -f1-2 "$out/$home/.ssh/id_ed25519.pub")" \
  >"$out/$home/.ssh/known_hosts"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/$home/keys/server.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/$home/keys/ec.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-256-cbc -pass pass:corpus \
  -out "$out/$home/keys/backup-encrypted.pem" 2>/dev/null
openssl req -x509 -key "$out/$home/keys/server.pem" -subj /CN=build.example.org -days 30 \
  -out "$out/$home/keys/server.crt" 2>/dev/null
openssl pkey -in "$out/$home/keys/server.pem" -pubout -out "$out/$home/keys/server.pub.pem"
label "$home/.ssh" critical 0
label "$home/.ssh/id_ed25519" critical 1
label "$home/.ssh/id_rsa" critical 1
label "$home/keys/server.pem" critical 1
label "$home/keys/ec.pem" critical 1
label "$home/keys/backup-encrypted.pem" critical 1
label "$home/src/webapp/deploy/id_deploy" critical 1

# Copies of real files. Files that hold a secret in form are left out of these clean sets.
python3 - "$out" "$repo" <<'PY'
import os, re, shutil, subprocess, sys, sysconfig

out, repo = sys.argv[1], sys.argv[2]
secret_form = re.compile(
    rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-"
    rb"|AKIA[0-9A-Z]{16}|\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_|glpat-|xox[baprs]-[0-9]"
    rb"|[sr]k_live_|AIza[0-9A-Za-z_-]{35})|eyJ[A-Za-z0-9_-]{10,}\.eyJ"
    rb"|4111 ?1111 ?1111 ?1111|5555 ?5555 ?5555 ?4444|378282246310005|GB82 ?WEST")
left_out = 0

def is_text(data):
    return b"\0" not in data[:8192]

def copy(files, src_root, dst_root, limit):
    """Copies the text files of `files` until `limit` are copied; returns how many were, and
    how many of `files` were looked at."""
    global left_out
    copied = 0
    for i, src in enumerate(files):
        if copied >= limit:
            return copied, i
        try:
            with open(src, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if not is_text(data):
            continue
        if secret_form.search(data):
            left_out += 1
            continue
        dst = os.path.join(out, dst_root, os.path.relpath(src, src_root))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
        copied += 1
    return copied, len(files)

def walk(root, keep):
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path) and keep(path):
                found.append(path)
    return found

# /usr/share/doc: plain text (no compressed changelogs), at most 200 KB; the first 300 go to
# usr/share/doc, the next 60 to ~/Documents/manuals.
docs = walk("/usr/share/doc", lambda p: not p.endswith(".gz") and os.path.getsize(p) <= 200_000)
n_docs, used = copy(docs, "/usr/share/doc", "usr/share/doc", 300)
n_manuals, _ = copy(docs[used:], "/usr/share/doc", "home/alice/Documents/manuals", 60)

# The Python standard library: every second .py file, 400 of them.
stdlib = sysconfig.get_paths()["stdlib"]
py = walk(stdlib, lambda p: p.endswith(".py") and "site-packages" not in p)[::2]
n_py, _ = copy(py, stdlib, "usr/lib/python3", 400)

# /etc: configuration files two levels deep, without password hashes and keys.
skip = re.compile(r"shadow|gshadow|ssh_host_|\.key$|/ssl/private/|\.pem$|-$")
etc = walk("/etc", lambda p: p.count("/") <= 3 and not skip.search(p))
n_etc, _ = copy(etc, "/etc", "etc", 200)

# This repository's crates/ (tracked files), as a work tree of its own.
tracked = subprocess.run(["git", "-C", repo, "ls-files", "crates"], check=True,
                         capture_output=True, text=True).stdout.split()
n_src, _ = copy([os.path.join(repo, t) for t in sorted(tracked)], repo, "home/alice/src/ibars",
                10**6)

print(f"copied: {n_docs} docs, {n_manuals} manuals, {n_py} stdlib sources, {n_etc} /etc files, "
      f"{n_src} source files; left out {left_out} files holding secrets in form")
PY
label usr normal 0
label etc critical 0
label "$home/src/ibars" critical 0
git_commit "$out/$home/src/ibars" "ibars sources"

# __pycache__ of real sources: compile the copied standard library (a few of its test files
# are invalid Python on purpose, so compileall's status is not checked) and the tool.
python3 -m compileall -q "$out/usr/lib/python3" >/dev/null 2>&1 || true
python3 -m compileall -q "$out/$home/projects/pytool/pytool" >/dev/null
find "$out/usr/lib/python3" -type d -name __pycache__ | sort | while read -r dir; do
  label "${dir#"$out"/}" ephemeral 0
done
label "$home/projects/pytool/pytool/__pycache__" ephemeral 0

# A venv with requests, installed from PyPI (not from a local wheel directory) through a pip
# cache in ~/.cache/pip. Some packages are built from their sources, so that the cache holds
# built wheels even where the index's responses are not cacheable (then http-v2/ stays empty).
python3 -m venv "$out/$home/projects/pytool/.venv"
env -u PIP_FIND_LINKS -u PIP_NO_CACHE_DIR "$out/$home/projects/pytool/.venv/bin/python" -m pip \
  install -q --disable-pip-version-check --cache-dir "$out/$home/.cache/pip" \
  --no-binary=requests,idna,certifi,six requests==2.32.3 six==1.16.0
label "$home/projects/pytool/.venv" ephemeral 0

# node_modules of the web app, installed through an npm cache in ~/.npm (its logs removed).
(cd "$out/$home/src/webapp" && npm install --silent --no-audit --no-fund --ignore-scripts \
  --cache "$out/$home/.npm" >/dev/null)
find "$out/$home/.npm" -mindepth 1 -maxdepth 1 ! -name _cacache -exec rm -rf {} +
label "$home/src/webapp/node_modules" ephemeral 0
label "$home/.npm" ephemeral 0
git_commit "$out/$home/src/webapp" "web app"

# A cargo target/: a dependency-free crate, built offline on one job, in its own CARGO_HOME so
# as not to wait on another build's locks.
hello=$out/$home/src/hello
mkdir -p "$hello/src"
printf '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n' \
  >"$hello/Cargo.toml"
printf 'fn main() {\n    println!("Hello, world!");\n}\n' >"$hello/src/main.rs"
printf '/target\n' >"$hello/.gitignore"
CARGO_HOME=$work/cargo-home nice -n 19 cargo build -q -j1 --offline \
  --manifest-path "$hello/Cargo.toml"
git_commit "$hello" "hello"
label "$home/src/hello" critical 0
label "$home/src/hello/target" ephemeral 0

# Every regular file, labelled by the longest matching prefix.
python3 - "$out" <<'PY'
import collections, os, sys

out = sys.argv[1]
rules = []
with open(os.path.join(out, ".manifest")) as f:
    for line in f:
        prefix, cls, sens = line.rstrip("\n").split("\t")
        rules.append((prefix, cls, sens))
rules.sort(key=lambda r: -len(r[0]))

def label(rel):
    for prefix, cls, sens in rules:
        if rel == prefix or rel.startswith(prefix + "/"):
            return cls, sens
    raise SystemExit(f"no label for {rel}")

lines, counts, sizes = [], collections.Counter(), collections.Counter()
for dirpath, dirnames, filenames in os.walk(out):
    dirnames.sort()
    for name in sorted(filenames):
        path = os.path.join(dirpath, name)
        rel = os.path.relpath(path, out)
        if rel in (".manifest", ".classify-corpus", "labels.tsv") or os.path.islink(path):
            continue
        if not os.path.isfile(path):
            continue
        cls, sens = label(rel)
        lines.append(f"{rel}\t{cls}\t{sens}\n")
        counts[(cls, sens)] += 1
        sizes[(cls, sens)] += os.path.getsize(path)
with open(os.path.join(out, "labels.tsv"), "w") as f:
    f.writelines(lines)
print(f"{len(lines)} files labelled in {out}/labels.tsv")
for (cls, sens), n in sorted(counts.items()):
    print(f"  {cls:<10} sensitive={sens}  {n:>6} files  {sizes[(cls, sens)] / 2**20:8.1f} MiB")
PY
